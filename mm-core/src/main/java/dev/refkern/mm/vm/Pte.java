package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * A page-table entry ({@code pte_t} / {@code pmd_t}, x86-64 layout): the pfn in bits 12–51 and the
 * bits below. An entry of 0 is {@code pte_none()}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Pte {
  public static final long PRESENT = 1L;
  public static final long WRITE = 1L << 1;
  public static final long USER = 1L << 2;
  public static final long YOUNG = 1L << 5;
  public static final long DIRTY = 1L << 6;

  /** {@code _PAGE_PSE}: a PMD entry mapping a whole 2 MiB folio. */
  public static final long HUGE = 1L << 7;

  /** {@code _PAGE_PROTNONE}: present for the kernel, inaccessible to the CPU and to gup_fast. */
  public static final long PROTNONE = 1L << 8;

  /** {@code _PAGE_SPECIAL}: no {@code struct page} refcounting (the shared zero page). */
  public static final long SPECIAL = 1L << 9;

  /**
   * A non-present swap entry ({@code swp_entry_t} in a pte): bit 0 clear, bit 10 marks it, type in
   * bits 11–15, offset from bit 16. Device-private and migration entries are swap types too.
   */
  public static final long SWAP = 1L << 10;

  private static final long PFN_MASK = ((1L << 52) - 1) & ~0xfffL;

  private Pte() {}

  /** {@code pfn_pte()}. */
  public static long make(long pfn, long bits) {
    return (pfn << PAGE_SHIFT) | bits;
  }

  /** {@code pte_pfn()}. */
  public static long pfn(long pte) {
    return (pte & PFN_MASK) >>> PAGE_SHIFT;
  }

  /** {@code pte_present()}: present, or PROT_NONE (the kernel still owns the page). */
  public static boolean present(long pte) {
    return (pte & (PRESENT | PROTNONE)) != 0;
  }

  public static boolean none(long pte) {
    return pte == 0;
  }

  public static boolean write(long pte) {
    return (pte & WRITE) != 0;
  }

  public static boolean dirty(long pte) {
    return (pte & DIRTY) != 0;
  }

  public static boolean young(long pte) {
    return (pte & YOUNG) != 0;
  }

  public static boolean special(long pte) {
    return (pte & SPECIAL) != 0;
  }

  public static boolean protnone(long pte) {
    return (pte & PROTNONE) != 0;
  }

  /** {@code swp_entry_to_pte(swp_entry(type, offset))}. */
  public static long swapEntry(int type, long offset) {
    if (type < 0 || type > 31 || offset < 0 || offset >= (1L << 47)) {
      throw new IllegalArgumentException("swap entry type " + type + " offset " + offset);
    }
    return SWAP | ((long) type << 11) | (offset << 16);
  }

  /** {@code is_swap_pte()}: not none, not present, a swap entry. */
  public static boolean isSwap(long pte) {
    return (pte & (PRESENT | PROTNONE)) == 0 && (pte & SWAP) != 0;
  }

  /** {@code swp_type()}. */
  public static int swapType(long pte) {
    return (int) ((pte >>> 11) & 31);
  }

  /** {@code swp_offset()}. */
  public static long swapOffset(long pte) {
    return pte >>> 16;
  }

  /**
   * {@code SWP_DEVICE_READ} / {@code SWP_DEVICE_WRITE}: a device-private entry, mapping a {@code
   * MEMORY_DEVICE_PRIVATE} page (its pfn is the offset) that the CPU cannot address.
   */
  public static final int SWP_DEVICE_READ = 27;

  public static final int SWP_DEVICE_WRITE = 28;

  /**
   * {@code SWP_DEVICE_EXCLUSIVE}: a device-exclusive entry ({@code make_device_exclusive()}); the
   * page stays in system memory, but a CPU access must first restore the normal mapping.
   */
  public static final int SWP_DEVICE_EXCLUSIVE = 29;

  /** {@code make_writable/readable_device_private_entry()} as a pte. */
  public static long devicePrivateEntry(long pfn, boolean write) {
    return swapEntry(write ? SWP_DEVICE_WRITE : SWP_DEVICE_READ, pfn);
  }

  /** {@code is_device_private_entry()}. */
  public static boolean isDevicePrivate(long pte) {
    return isSwap(pte) && (swapType(pte) == SWP_DEVICE_READ || swapType(pte) == SWP_DEVICE_WRITE);
  }

  /** {@code is_writable_device_private_entry()}. */
  public static boolean isDevicePrivateWrite(long pte) {
    return isSwap(pte) && swapType(pte) == SWP_DEVICE_WRITE;
  }

  /** {@code make_device_exclusive_entry()} as a pte. */
  public static long deviceExclusiveEntry(long pfn) {
    return swapEntry(SWP_DEVICE_EXCLUSIVE, pfn);
  }

  /** {@code is_device_exclusive_entry()}. */
  public static boolean isDeviceExclusive(long pte) {
    return isSwap(pte) && swapType(pte) == SWP_DEVICE_EXCLUSIVE;
  }

  /** {@code pfn_swap_entry_to_page()}: the pfn of a device or migration entry. */
  public static long entryPfn(long pte) {
    return swapOffset(pte);
  }

  public static boolean huge(long pte) {
    return (pte & HUGE) != 0;
  }
}
