package dev.refkern.mm.vm;

import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.vm.Pte.*;

import dev.refkern.mm.Gfp;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.internal.pageops.MemmapOps;

/**
 * Transparent huge pages ({@code mm/huge_memory.c}): the huge anonymous fault, {@code
 * __split_huge_pmd()} and {@code copy_huge_pmd()}.
 */
final class HugeMemory {
  static final int HPAGE_PMD_ORDER = 9;
  static final int HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;

  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final PageAllocator alloc;
  private final LruVec lru;
  private final Rmap rmap;

  HugeMemory(PhysicalMemory mem, MemmapOps memmap, PageAllocator alloc, LruVec lru, Rmap rmap) {
    this.mem = mem;
    this.memmap = memmap;
    this.alloc = alloc;
    this.lru = lru;
    this.rmap = rmap;
  }

  /** {@code thp_vma_allowable_order()}: {@code MADV_HUGEPAGE} and the whole PMD inside the VMA. */
  static boolean thpEligible(Vma vma, long addr) {
    long base = addr & PageTable.PMD_MASK;
    return (vma.flags & VmFlags.VM_HUGEPAGE) != 0
        && (vma.flags & VmFlags.VM_NOHUGEPAGE) == 0
        && base >= vma.start
        && base + PageTable.PMD_SIZE <= vma.end;
  }

  /**
   * {@code do_huge_pmd_anonymous_page()}: a whole 2 MiB folio mapped by one PMD; -1 to fall back to
   * small pages.
   */
  int hugeAnonymousFault(MmStruct mm, Vma vma, long addr) {
    long base = addr & PageTable.PMD_MASK;
    PageTable.Pmd pmd = mm.pgtable.pmd(base);
    if (pmd != null
        && (PageTable.get(pmd.huge, PageTable.pmdIndex(base)) != 0
            || PageTable.pteTable(pmd, base) != null)) {
      return -1; // already populated: the pte path handles it
    }
    long head = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE | Gfp.ZERO | Gfp.NOWARN, HPAGE_PMD_ORDER);
    if (head == PageAllocator.NO_PFN) {
      return -1; // fall back to small pages, as the kernel does
    }
    AnonVma av = rmap.anonVmaPrepare(vma);
    rmap.newAnonRmap(head, av, vma.linearPageIndex(base));
    // on the LRU before it is visible: once mapped, reclaim or migration may take it at once
    lru.folioAddLru(head);
    mm.ptl.lock();
    try {
      pmd = mm.pgtable.pmdAlloc(base);
      int i = PageTable.pmdIndex(base);
      if (PageTable.get(pmd.huge, i) != 0 || PageTable.pteTable(pmd, base) != null) {
        memmap.setMapping(head, 0);
        alloc.putPage(head);
        return -1;
      }
      memmap.entireMapcountAdd(head, 1);
      mm.anonPages.addAndGet(HPAGE_PMD_NR);
      PageTable.set(
          pmd.huge, i, make(head, Memory.pteBits(vma, (vma.flags & VmFlags.VM_WRITE) != 0) | HUGE));
    } finally {
      mm.ptl.unlock();
    }
    mem.vmstat().inc(VmItem.THP_FAULT_ALLOC);
    return 0;
  }

  /** {@code __split_huge_pmd()}: the PMD becomes a pte table mapping each subpage. */
  void splitHugePmd(MmStruct mm, long addr) {
    long base = addr & PageTable.PMD_MASK;
    mm.ptl.lock();
    try {
      PageTable.Pmd pmd = mm.pgtable.pmd(base);
      if (pmd == null) {
        return;
      }
      int i = PageTable.pmdIndex(base);
      long entry = PageTable.get(pmd.huge, i);
      if (entry == 0) {
        return;
      }
      long head = Pte.pfn(entry);
      long[] table = new long[PageTable.ENTRIES];
      long bits = entry & ~HUGE & 0xfffL;
      boolean exclusive = memmap.testFlag(head, PG_ANON_EXCLUSIVE);
      for (int j = 0; j < HPAGE_PMD_NR; j++) {
        table[j] = make(head + j, bits);
        memmap.mapcountAdd(head + j, 1);
        if (exclusive) {
          memmap.setFlag(head + j, PG_ANON_EXCLUSIVE);
        }
      }
      memmap.refAdd(head, HPAGE_PMD_NR - 1);
      memmap.entireMapcountAdd(head, -1);
      PageTable.setPteTable(pmd, base, table);
      PageTable.set(pmd.huge, i, 0);
    } finally {
      mm.ptl.unlock();
    }
  }

  /**
   * {@code copy_huge_pmd()}: the child shares the THP write-protected, or, if {@code maybePinned},
   * gets its own copy now.
   */
  void copyHugePmd(
      MmStruct parent,
      MmStruct child,
      Vma c,
      long addr,
      long h,
      PageTable.Pmd pmd,
      boolean cow,
      boolean maybePinned) {
    long head = Pte.pfn(h);
    if (maybePinned) {
      // the kernel splits and copies; refkern copies the whole folio for the child
      long copy = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE | Gfp.NOWARN, HPAGE_PMD_ORDER);
      if (copy != PageAllocator.NO_PFN) {
        for (int j = 0; j < HPAGE_PMD_NR; j++) {
          mem.ram().copyPage(copy + j, head + j);
        }
        rmap.newAnonRmap(copy, c.anonVma, memmap.index(head));
        memmap.entireMapcountAdd(copy, 1);
        setPmd(child, null, addr, make(copy, h & 0xfffL));
        child.anonPages.addAndGet(HPAGE_PMD_NR);
        return;
      }
    }
    alloc.getPage(head);
    memmap.entireMapcountAdd(head, 1);
    memmap.clearFlag(head, PG_ANON_EXCLUSIVE);
    long ce = cow ? h & ~WRITE : h;
    setPmd(parent, pmd, addr, ce);
    setPmd(child, null, addr, ce);
    child.anonPages.addAndGet(HPAGE_PMD_NR);
  }

  /** {@code set_pmd_at()} under the ptl; a null {@code pmd} table is allocated under it. */
  private static void setPmd(MmStruct mm, PageTable.Pmd pmd, long addr, long entry) {
    mm.ptl.lock();
    try {
      PageTable.Pmd p = pmd != null ? pmd : mm.pgtable.pmdAlloc(addr);
      PageTable.set(p.huge, PageTable.pmdIndex(addr), entry);
    } finally {
      mm.ptl.unlock();
    }
  }
}
