package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code walk_page_range()}: callback order, depths, the page-table lock and the THP split. */
class PageWalkTest extends VmTestBase {
  private static final long MB2 = 2L << 20;
  private static final long A = 0x40000000L; // 1 GiB aligned: one PMD table covers it all
  private static final long B = A + 2 * MB2 + 2 * 4096; // two pages of hole after A

  private Task t;
  private long head;

  @BeforeEach
  void setUp() {
    boot();
    t = vm.createTask("t");
    int rw = PROT_READ | PROT_WRITE;
    t.mmap(A, 2 * MB2, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, null, 0);
    t.madvise(A, 2 * MB2, MADV_HUGEPAGE);
    t.storeLong(A + 8, 7); // a THP in A's first PMD; its second stays empty
    head = Pte.pfn(t.mm().pte(A));
    assertTrue(Pte.huge(t.mm().pte(A)), "setup: a THP");
    t.mmap(B, 3 * 4096, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, null, 0);
    t.storeLong(B, 1);
    t.storeLong(B + 2 * 4096, 3); // B + 4096 stays pte_none
  }

  private int walk(long start, long end, MmWalkOps ops) {
    MmStruct mm = t.mm();
    mm.mmapLock.readLock();
    try {
      return vm.pageWalk().walkPageRange(mm, start, end, ops, "priv");
    } finally {
      mm.mmapLock.readUnlock();
    }
  }

  @Test
  void visitsHugePmdsHolesAndPtesInAddressOrder() {
    List<String> seen = new ArrayList<>();
    MmStruct mm = t.mm();
    MmWalkOps ops =
        new MmWalkOps(
            (pmd, addr, next, w) -> {
              assertTrue(mm.ptl.isHeldByCurrentThread(), "pmd_entry under the ptl");
              assertEquals("priv", w.priv());
              seen.add("pmd " + (Pte.huge(pmd) ? "huge " : "table ") + hex(addr, next));
              if (Pte.huge(pmd)) {
                assertEquals(head, Pte.pfn(pmd));
                w.setAction(PageWalk.ACTION_CONTINUE);
              }
              return 0;
            },
            (pte, addr, next, w) -> {
              assertTrue(mm.ptl.isHeldByCurrentThread(), "pte_entry under the ptl");
              assertSame(mm.vmaContaining(addr), w.vma());
              seen.add("pte " + (Pte.present(pte) ? "present " : "none ") + hex(addr, next));
              return 0;
            },
            (addr, next, depth, w) -> {
              seen.add("hole " + depth + " " + hex(addr, next));
              return 0;
            });
    assertEquals(0, walk(A, B + 3 * 4096, ops));
    long p = 4096;
    assertEquals(
        List.of(
            "pmd huge " + hex(A, A + MB2),
            "hole 3 " + hex(A + MB2, A + 2 * MB2),
            "hole -1 " + hex(A + 2 * MB2, B),
            "pmd table " + hex(B, B + 3 * p),
            "pte present " + hex(B, B + p),
            "pte none " + hex(B + p, B + 2 * p),
            "pte present " + hex(B + 2 * p, B + 3 * p)),
        seen);
    assertTrue(Pte.huge(t.mm().pte(A)), "ACTION_CONTINUE left the THP whole");
  }

  @Test
  void pteEntryOnAHugePmdSplitsItAndSeesEverySubpage() {
    long[] next = {head};
    int rc =
        walk(
            A,
            A + MB2,
            new MmWalkOps(
                null,
                (pte, addr, end, w) -> {
                  assertEquals(next[0]++, Pte.pfn(pte), "subpage at " + Long.toHexString(addr));
                  return 0;
                },
                null));
    assertEquals(0, rc);
    assertEquals(head + HugeMemory.HPAGE_PMD_NR, next[0]);
    assertFalse(Pte.huge(t.mm().pte(A)), "split_huge_pmd() before the ptes");
    assertEquals(7, t.loadLong(A + 8));
  }

  @Test
  void aCallbackErrorEndsTheWalkAndSetPteChangesTheEntry() {
    List<Long> visited = new ArrayList<>();
    int rc =
        walk(
            B,
            B + 3 * 4096,
            new MmWalkOps(
                null,
                (pte, addr, end, w) -> {
                  visited.add(addr);
                  w.setPte(pte & ~Pte.WRITE);
                  return addr == B ? -5 : 0;
                },
                null));
    assertEquals(-5, rc);
    assertEquals(List.of(B), visited);
    assertFalse(Pte.write(t.mm().pte(B)), "setPte wrote the entry");
    assertTrue(Pte.write(t.mm().pte(B + 2 * 4096)), "the walk stopped before this pte");
    t.storeLong(B, 2); // the write fault makes it writable again
    assertEquals(2, t.loadLong(B));
  }

  private static String hex(long a, long b) {
    return Long.toHexString(a) + "-" + Long.toHexString(b);
  }
}
