package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A 4-level page table ({@code pgd}/{@code pud}/{@code pmd}/{@code pte}, 512 entries each, 48-bit
 * addresses). Entries are read with acquire semantics so {@code gup_fast} can walk it without
 * locks, as the kernel's lockless walk does; writers hold the mm's page-table lock.
 */
final class PageTable {
  static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
  static final VarHandle OBJECTS = MethodHandles.arrayElementVarHandle(Object[].class);
  static final VarHandle TABLES = MethodHandles.arrayElementVarHandle(long[][].class);

  static final int ENTRIES = 512;
  static final long PMD_SIZE = 1L << 21;
  static final long PMD_MASK = ~(PMD_SIZE - 1);

  /** One PMD table: huge entries and the pte tables below the others. */
  static final class Pmd {
    final long[] huge = new long[ENTRIES];
    final long[][] ptes = new long[ENTRIES][];
  }

  private final Object[] pgd = new Object[ENTRIES];

  static int pteIndex(long addr) {
    return (int) ((addr >>> PAGE_SHIFT) & 511);
  }

  static int pmdIndex(long addr) {
    return (int) ((addr >>> 21) & 511);
  }

  private static int pudIndex(long addr) {
    return (int) ((addr >>> 30) & 511);
  }

  private static int pgdIndex(long addr) {
    return (int) ((addr >>> 39) & 511);
  }

  /** The PMD table covering {@code addr}, or null (lock-free). */
  Pmd pmd(long addr) {
    Object[] pud = (Object[]) OBJECTS.getAcquire(pgd, pgdIndex(addr));
    if (pud == null) {
      return null;
    }
    return (Pmd) OBJECTS.getAcquire(pud, pudIndex(addr));
  }

  /** The PMD table covering {@code addr}, allocated if missing; caller holds the ptl. */
  Pmd pmdAlloc(long addr) {
    Object[] pud = (Object[]) OBJECTS.getAcquire(pgd, pgdIndex(addr));
    if (pud == null) {
      pud = new Object[ENTRIES];
      OBJECTS.setRelease(pgd, pgdIndex(addr), pud);
    }
    Pmd pmd = (Pmd) OBJECTS.getAcquire(pud, pudIndex(addr));
    if (pmd == null) {
      pmd = new Pmd();
      OBJECTS.setRelease(pud, pudIndex(addr), pmd);
    }
    return pmd;
  }

  /** The pte table covering {@code addr}, or null (lock-free). */
  static long[] pteTable(Pmd pmd, long addr) {
    return (long[]) TABLES.getAcquire(pmd.ptes, pmdIndex(addr));
  }

  /** The pte table, allocated if missing; caller holds the ptl and the PMD is not huge. */
  static long[] pteTableAlloc(Pmd pmd, long addr) {
    long[] t = pteTable(pmd, addr);
    if (t == null) {
      t = new long[ENTRIES];
      TABLES.setRelease(pmd.ptes, pmdIndex(addr), t);
    }
    return t;
  }

  static void setPteTable(Pmd pmd, long addr, long[] table) {
    TABLES.setRelease(pmd.ptes, pmdIndex(addr), table);
  }

  static long get(long[] table, int i) {
    return (long) LONGS.getAcquire(table, i);
  }

  static void set(long[] table, int i, long value) {
    LONGS.setRelease(table, i, value);
  }

  /** The pte for {@code addr}, or 0 (lock-free). */
  long pte(long addr) {
    Pmd pmd = pmd(addr);
    if (pmd == null) {
      return 0;
    }
    long huge = get(pmd.huge, pmdIndex(addr));
    if (huge != 0) {
      return huge;
    }
    long[] t = pteTable(pmd, addr);
    return t == null ? 0 : get(t, pteIndex(addr));
  }
}
