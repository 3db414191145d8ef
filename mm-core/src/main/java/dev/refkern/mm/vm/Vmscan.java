package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.VmFault.*;
import static dev.refkern.mm.vm.Pte.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.internal.trace.MmTraceEvents;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.ArrayList;
import java.util.List;

/**
 * Page reclaim ({@code mm/vmscan.c}): {@code shrink_node()} ages the active lists and shrinks the
 * inactive ones from their tails. A referenced folio is activated; a clean file folio is unmapped
 * and dropped from the page cache, a dirty one written back first; an anonymous folio is written to
 * swap and its ptes become swap entries. The pin-tracking policy decides what counts as pinned: a
 * pinned anonymous folio is never swapped out and a pinned page-cache folio is kept and activated.
 *
 * <p>Deviations: large folios are not reclaimed (the kernel splits or swaps them whole); writeback
 * of a dirty folio is synchronous; there is no swap cache.
 */
public final class Vmscan {
  static final int SWAP_CLUSTER_MAX = 32;
  private static final int DEF_PRIORITY = 12;

  private final VirtualMemory vm;
  private final Memmap memmap;
  private final PageAllocator alloc;
  private final LruVec lru;
  private final ThreadLocal<Boolean> inReclaim = ThreadLocal.withInitial(() -> false);
  private volatile SwapSpace swap;

  /** What one {@code shrink_node()} did. */
  public record Result(
      long scanned,
      long reclaimed,
      long activated,
      long pinnedKept,
      long swappedOut,
      long written) {}

  Vmscan(VirtualMemory vm, LruVec lru) {
    this.vm = vm;
    this.memmap = vm.memmap;
    this.alloc = vm.alloc;
    this.lru = lru;
  }

  void setSwap(SwapSpace swap) {
    this.swap = swap;
  }

  /**
   * {@code shrink_node()}: reclaims up to {@code nrToReclaim} pages, raising the scan from {@code
   * DEF_PRIORITY} down to 0.
   */
  public Result shrinkNode(long nrToReclaim) {
    if (inReclaim.get()) {
      return new Result(0, 0, 0, 0, 0, 0); // PF_MEMALLOC: reclaim does not recurse
    }
    inReclaim.set(true);
    try {
      long[] c = new long[6];
      lru.lruAddDrainAll();
      long[] buf = new long[SWAP_CLUSTER_MAX];
      for (int prio = DEF_PRIORITY; prio >= 0 && c[1] < nrToReclaim; prio--) {
        for (LruVec.LruList l :
            new LruVec.LruList[] {LruVec.LruList.ACTIVE_FILE, LruVec.LruList.ACTIVE_ANON}) {
          shrinkActive(l, Math.max(SWAP_CLUSTER_MAX, lru.size(l) >> prio), buf, c);
        }
        for (LruVec.LruList l :
            new LruVec.LruList[] {LruVec.LruList.INACTIVE_FILE, LruVec.LruList.INACTIVE_ANON}) {
          MmTraceEvents.ShrinkInactive ev = new MmTraceEvents.ShrinkInactive();
          ev.begin();
          long scanned0 = c[0];
          long reclaimed0 = c[1];
          long toScan = Math.max(SWAP_CLUSTER_MAX, lru.size(l) >> prio);
          while (toScan > 0 && c[1] < nrToReclaim) {
            int n = lru.isolateFromTail(l, (int) Math.min(buf.length, toScan), buf);
            if (n == 0) {
              break;
            }
            toScan -= n;
            c[0] += n;
            for (int i = 0; i < n; i++) {
              shrinkFolio(buf[i], c);
            }
          }
          if (ev.shouldCommit()) {
            ev.scanned = c[0] - scanned0;
            ev.reclaimed = c[1] - reclaimed0;
            ev.priority = prio;
            ev.file = l == LruVec.LruList.INACTIVE_FILE;
            ev.commit();
          }
        }
        vm.mem.scheduler().condResched();
      }
      return new Result(c[0], c[1], c[2], c[3], c[4], c[5]);
    } finally {
      inReclaim.set(false);
    }
  }

  /** {@code shrink_active_list()}: referenced folios stay active, the rest move to inactive. */
  private void shrinkActive(LruVec.LruList list, long nr, long[] buf, long[] c) {
    while (nr > 0) {
      int n = lru.isolateFromTail(list, (int) Math.min(buf.length, nr), buf);
      if (n == 0) {
        return;
      }
      nr -= n;
      for (int i = 0; i < n; i++) {
        long pfn = buf[i];
        if (folioReferenced(pfn) == 0) {
          memmap.clearFlag(pfn, PG_ACTIVE); // deactivate
        }
        lru.putback(pfn);
      }
    }
  }

  /** {@code folio_referenced()}: young ptes found (and cleared) through the rmap. */
  int folioReferenced(long pfn) {
    int[] young = {0};
    vm.rmapWalk(
        pfn,
        (vma, addr) -> {
          MmStruct mm = vma.mm;
          mm.ptl.lock();
          try {
            PageTable.Pmd pmd = mm.pgtable.pmd(addr);
            long[] t = pmd == null ? null : PageTable.pteTable(pmd, addr);
            if (t != null) {
              int i = PageTable.pteIndex(addr);
              long e = PageTable.get(t, i);
              if (Pte.young(e)) {
                PageTable.set(t, i, e & ~YOUNG);
                young[0]++;
              }
            }
          } finally {
            mm.ptl.unlock();
          }
          if (mm.notifiers.clearFlushYoung(addr, addr + PAGE_SIZE)) {
            young[0]++; // a secondary MMU (a device) used it too
          }
          return true;
        });
    if (memmap.testAndClearFlag(pfn, PG_REFERENCED)) {
      young[0]++;
    }
    return young[0];
  }

  /** {@code shrink_folio_list()} for one isolated folio (the caller's reference held). */
  private void shrinkFolio(long pfn, long[] c) {
    if (memmap.folioOrder(pfn) > 0 || !vm.folios.folioTrylock(pfn)) {
      lru.putback(pfn);
      return;
    }
    boolean anon = memmap.testFlag(pfn, PG_ANON);
    if (vm.gup().maybeDmaPinnedUnchecked(pfn)) {
      // never swap out or drop a page a device may be writing into
      memmap.setFlag(pfn, PG_ACTIVE);
      c[3]++;
      keep(pfn, c);
      return;
    }
    if (memmap.testFlag(pfn, PG_WRITEBACK)) {
      keep(pfn, c);
      return;
    }
    if (folioReferenced(pfn) > 0 && vm.folioMapcount(pfn) > 0) {
      memmap.setFlag(pfn, PG_ACTIVE);
      keep(pfn, c);
      return;
    }
    boolean freed = anon ? swapOut(pfn, c) : dropFile(pfn, c);
    if (!freed) {
      keep(pfn, c);
      return;
    }
    c[1]++;
    vm.mem.vmstat().inc(VmItem.PGSTEAL);
  }

  private void keep(long pfn, long[] c) {
    if (memmap.testFlag(pfn, PG_ACTIVE)) {
      c[2]++;
    }
    vm.folios.folioUnlock(pfn);
    lru.putback(pfn);
  }

  /** A recorded pte replaced by reclaim, to put back if the folio cannot go. */
  private record Unmapped(MmStruct mm, long addr, long pte) {}

  /** {@code try_to_unmap()} then {@code swap_writepage()} and the free; false keeps the folio. */
  private boolean swapOut(long pfn, long[] c) {
    SwapSpace sw = swap;
    if (sw == null) {
      return false;
    }
    long slot = sw.alloc();
    if (slot < 0) {
      return false;
    }
    long entry = swapEntry(0, slot);
    sw.startWrite(slot); // faults on the new swap entries wait until the data is there
    List<Unmapped> done = tryToUnmap(pfn, entry, sw, slot);
    if (vm.folioMapcount(pfn) > 0 || !memmap.refCompareAndSet(pfn, 1, 0)) {
      // still mapped or referenced (a speculative GUP): everything goes back
      restore(done, pfn, entry, sw, slot);
      sw.finishWrite(slot, vm.mem.ram(), -1);
      sw.put(slot);
      return false;
    }
    if (done.isEmpty()) {
      sw.finishWrite(slot, vm.mem.ram(), -1);
      sw.put(slot); // nobody maps it: nothing to write
    } else {
      sw.finishWrite(slot, vm.mem.ram(), pfn);
      c[4]++;
      vm.mem.vmstat().inc(VmItem.PSWPOUT);
    }
    memmap.clearFlag(pfn, PG_LOCKED);
    for (int bit :
        new int[] {PG_ANON, PG_ANON_EXCLUSIVE, PG_SWAPBACKED, PG_DIRTY, PG_ACTIVE, PG_REFERENCED}) {
      memmap.clearFlag(pfn, bit);
    }
    memmap.setMapping(pfn, 0);
    memmap.setRefcount(pfn, 1);
    alloc.putPage(pfn);
    return true;
  }

  /** Replaces every pte of {@code pfn} with {@code replacement} ({@code CLEAR} notifiers). */
  private List<Unmapped> tryToUnmap(long pfn, long replacement, SwapSpace sw, long slot) {
    List<long[]> where = new ArrayList<>();
    List<MmStruct> mms = new ArrayList<>();
    vm.rmapWalk(
        pfn,
        (vma, addr) -> {
          mms.add(vma.mm);
          where.add(new long[] {addr});
          return true;
        });
    List<Unmapped> done = new ArrayList<>();
    for (int k = 0; k < where.size(); k++) {
      MmStruct mm = mms.get(k);
      long addr = where.get(k)[0];
      MmuNotifierRange r =
          MmuNotifierRange.init(
              MmuNotifierEvent.CLEAR,
              MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
              mm,
              addr,
              addr + PAGE_SIZE);
      if (mm.notifiers.invalidateRangeStart(r) != 0) {
        continue;
      }
      mm.ptl.lock();
      try {
        PageTable.Pmd pmd = mm.pgtable.pmd(addr);
        long[] t = pmd == null ? null : PageTable.pteTable(pmd, addr);
        if (t != null) {
          int i = PageTable.pteIndex(addr);
          long e = PageTable.get(t, i);
          if (present(e) && Pte.pfn(e) == pfn) {
            PageTable.set(t, i, replacement);
            if (sw != null) {
              sw.dup(slot);
            } else if (dirty(e)) {
              vm.folios.folioMarkDirty(
                  pfn); // try_to_unmap_one(): the pte's dirty bit moves to the folio
            }
            memmap.mapcountAdd(pfn, -1);
            memmap.refAdd(pfn, -1);
            (memmap.testFlag(pfn, PG_ANON) ? mm.anonPages : mm.filePages).decrementAndGet();
            done.add(new Unmapped(mm, addr, e));
          }
        }
      } finally {
        mm.ptl.unlock();
      }
      mm.notifiers.invalidateRangeEnd(r);
    }
    return done;
  }

  private void restore(List<Unmapped> done, long pfn, long replacement, SwapSpace sw, long slot) {
    for (Unmapped u : done) {
      u.mm.ptl.lock();
      try {
        PageTable.Pmd pmd = u.mm.pgtable.pmd(u.addr);
        long[] t = pmd == null ? null : PageTable.pteTable(pmd, u.addr);
        int i = PageTable.pteIndex(u.addr);
        if (t != null && PageTable.get(t, i) == replacement) {
          PageTable.set(t, i, u.pte);
          memmap.mapcountAdd(pfn, 1);
          memmap.refAdd(pfn, 1);
          (memmap.testFlag(pfn, PG_ANON) ? u.mm.anonPages : u.mm.filePages).incrementAndGet();
          if (sw != null) {
            sw.put(slot);
          }
        }
      } finally {
        u.mm.ptl.unlock();
      }
    }
  }

  /** Unmaps a file folio, writes it back if dirty, and removes it from the page cache. */
  private boolean dropFile(long pfn, long[] c) {
    AddressSpace file = vm.mem.mapping(memmap.mapping(pfn));
    if (file == null) {
      return false;
    }
    tryToUnmap(pfn, 0, null, 0);
    if (vm.folioMapcount(pfn) > 0) {
      return false; // a racing fault mapped it again: try later
    }
    if (memmap.testFlag(pfn, PG_DIRTY)) {
      // pageout(): hand it to the mapping's writeback, then look again
      long index = memmap.index(pfn);
      vm.folios.folioUnlock(pfn);
      file.writeCachePages(index, index);
      c[5]++;
      if (!vm.folios.folioTrylock(pfn)) {
        vm.folios.folioLock(pfn);
      }
      if (memmap.testFlag(pfn, PG_DIRTY)
          || memmap.testFlag(pfn, PG_WRITEBACK)
          || memmap.mapping(pfn) == 0) {
        return false;
      }
    }
    // __remove_mapping(): only the page cache's and our references may remain
    if (memmap.refcount(pfn) != 2 || vm.folioMapcount(pfn) != 0) {
      return false;
    }
    file.filemapRemoveFolio(pfn);
    vm.folios.folioUnlock(pfn);
    alloc.putPage(pfn);
    return true;
  }

  /** {@code do_swap_page()}: reads a swapped-out page back in and maps it; 0 or VM_FAULT_*. */
  int doSwapPage(MmStruct mm, Vma vma, long addr, long pte, boolean write) {
    SwapSpace sw = swap;
    long slot = swapOffset(pte);
    if (sw == null) {
      return VM_FAULT_SIGBUS;
    }
    long pfn = alloc.allocPages(dev.refkern.mm.Gfp.HIGHUSER_MOVABLE | dev.refkern.mm.Gfp.NOWARN, 0);
    if (pfn == PageAllocator.NO_PFN) {
      return VM_FAULT_OOM;
    }
    while (sw.writing(slot)) {
      vm.mem.scheduler().condResched(); // swap_cache_get_folio(): reclaim is writing it out
      Thread.onSpinWait();
    }
    if (!sw.readIfNamed(slot, vm.mem.ram(), pfn)) {
      alloc.putPage(pfn);
      return 0; // the entry changed meanwhile: retry the fault
    }
    vm.mem.vmstat().inc(VmItem.PSWPIN);
    boolean exclusive = sw.count(slot) == 1;
    memmap.setFlag(pfn, PG_ANON);
    memmap.setFlag(pfn, PG_SWAPBACKED);
    memmap.setFlag(pfn, PG_UPTODATE);
    if (exclusive) {
      memmap.setFlag(pfn, PG_ANON_EXCLUSIVE);
    }
    memmap.setMapping(pfn, vm.anonVmaPrepare(vma).id);
    memmap.setIndex(pfn, vma.linearPageIndex(addr));
    memmap.mapcountAdd(pfn, 1);
    boolean writable = exclusive && write && (vma.flags & VmFlags.VM_WRITE) != 0;
    long bits = PRESENT | USER | YOUNG | (writable ? WRITE | DIRTY : 0);
    lru.folioAddLru(pfn); // before the pte makes it visible to reclaim and migration
    if (!vm.replacePteIf(mm, addr, pte, make(pfn, bits))) {
      memmap.mapcountAdd(pfn, -1);
      memmap.setMapping(pfn, 0);
      alloc.putPage(pfn);
      return 0; // another thread swapped it in first
    }
    sw.put(slot);
    mm.anonPages.incrementAndGet();
    return 0;
  }

  /** {@code try_to_free_pages()}: direct reclaim for an allocation that failed. */
  void directReclaim(int order) {
    vm.mem.vmstat().inc(VmItem.ALLOCSTALL);
    shrinkNode((long) SWAP_CLUSTER_MAX << order);
  }
}
