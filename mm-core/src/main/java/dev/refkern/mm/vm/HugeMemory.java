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
   * {@code split_folio()} ({@code __folio_split()} to order 0) of an anonymous THP that no PMD maps
   * any more: each subpage becomes a small folio with its own references, on the LRU. The caller
   * holds the folio lock and one reference, and keeps both on the head. False ({@code -EAGAIN} /
   * {@code -EBUSY}) if the folio is PMD-mapped, pinned or referenced beyond its mappings, or off
   * the LRU.
   *
   * <p>Deviation: the kernel also splits the PMD mappings it finds (TTU_SPLIT_HUGE_PMD); refkern's
   * callers split the PMD first, and a folio still PMD-mapped elsewhere is refused.
   */
  boolean splitFolio(long head) {
    int nr = 1 << memmap.folioOrder(head);
    if (nr == 1
        || !memmap.testFlag(head, PG_ANON)
        || memmap.entireMapcount(head) != 0
        || memmap.pincount(head) != 0) {
      return false;
    }
    lru.lruAddDrain(); // a batched folio_add_lru() holds a reference
    if (!lru.isolate(head)) {
      return false;
    }
    int mapped = 0;
    for (int j = 0; j < nr; j++) {
      mapped += memmap.mapcount(head + j);
    }
    // can_split_folio(): the mappings, the caller's reference and the isolation's
    if (memmap.refcount(head) != mapped + 2) {
      lru.putback(head);
      return false;
    }
    long mapping = memmap.mapping(head);
    long index = memmap.index(head);
    memmap.clearFlag(head, PG_HEAD);
    memmap.setCompound(head, 0);
    for (int j = 1; j < nr; j++) {
      long t = head + j;
      memmap.clearFlag(t, PG_TAIL);
      memmap.setCompound(t, 0);
      for (int bit : SPLIT_FLAGS) {
        if (memmap.testFlag(head, bit)) {
          memmap.setFlag(t, bit);
        }
      }
      memmap.setMapping(t, mapping);
      memmap.setIndex(t, index + j);
      // its mappings plus one that lru_add_split_folio()'s putback drops
      memmap.setRefcount(t, memmap.mapcount(t) + 1);
    }
    memmap.setRefcount(head, memmap.mapcount(head) + 2);
    for (int j = 1; j < nr; j++) {
      lru.putback(head + j); // an unmapped subpage is freed here
    }
    lru.putback(head);
    return true;
  }

  /** The flags {@code __split_huge_page_tail()} copies from the head. */
  private static final int[] SPLIT_FLAGS = {
    PG_ANON, PG_SWAPBACKED, PG_DIRTY, PG_UPTODATE, PG_REFERENCED, PG_ACTIVE, PG_UNEVICTABLE
  };

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
