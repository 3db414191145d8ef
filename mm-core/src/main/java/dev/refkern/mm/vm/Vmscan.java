package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.vm.Pte.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.internal.trace.MmTraceEvents;
import java.util.List;
import org.apiguardian.api.API;

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
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Vmscan {
  static final int SWAP_CLUSTER_MAX = 32;
  private static final int DEF_PRIORITY = 12;

  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final PageAllocator alloc;
  private final FolioOps folios;
  private final LruVec lru;
  private final Rmap rmap;
  private final Swapfile swapfile;
  private final PinTrackingPolicy pins;
  private final Filemap filemap;
  private final PageWriteback pageWriteback;
  private final ThreadLocal<Boolean> inReclaim = ThreadLocal.withInitial(() -> false);

  /** What one {@code shrink_node()} did. */
  public record Result(
      long scanned,
      long reclaimed,
      long activated,
      long pinnedKept,
      long swappedOut,
      long written) {}

  Vmscan(
      PhysicalMemory mem,
      MemmapOps memmap,
      FolioOps folios,
      LruVec lru,
      Rmap rmap,
      Swapfile swapfile,
      PinTrackingPolicy pins,
      Filemap filemap,
      PageWriteback pageWriteback) {
    this.mem = mem;
    this.memmap = memmap;
    this.alloc = mem.allocator();
    this.folios = folios;
    this.lru = lru;
    this.rmap = rmap;
    this.swapfile = swapfile;
    this.pins = pins;
    this.filemap = filemap;
    this.pageWriteback = pageWriteback;
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
        mem.scheduler().condResched();
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
        if (rmap.folioReferenced(pfn) == 0) {
          memmap.clearFlag(pfn, PG_ACTIVE); // deactivate
        }
        lru.putback(pfn);
      }
    }
  }

  /** {@code shrink_folio_list()} for one isolated folio (the caller's reference held). */
  private void shrinkFolio(long pfn, long[] c) {
    if (memmap.folioOrder(pfn) > 0 || !folios.folioTrylock(pfn)) {
      lru.putback(pfn);
      return;
    }
    boolean anon = memmap.testFlag(pfn, PG_ANON);
    if (pins.dmaPinned(pfn)) {
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
    if (rmap.folioReferenced(pfn) > 0 && rmap.folioMapcount(pfn) > 0) {
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
    mem.vmstat().inc(VmItem.PGSTEAL);
  }

  private void keep(long pfn, long[] c) {
    if (memmap.testFlag(pfn, PG_ACTIVE)) {
      c[2]++;
    }
    folios.folioUnlock(pfn);
    lru.putback(pfn);
  }

  /** {@code try_to_unmap()} then {@code swap_writepage()} and the free; false keeps the folio. */
  private boolean swapOut(long pfn, long[] c) {
    SwapSpace sw = swapfile.current();
    if (sw == null) {
      return false;
    }
    long slot = sw.alloc();
    if (slot < 0) {
      return false;
    }
    long entry = swapEntry(0, slot);
    sw.startWrite(slot); // faults on the new swap entries wait until the data is there
    List<Rmap.Unmapped> done = rmap.tryToUnmap(pfn, entry, sw, slot);
    if (rmap.folioMapcount(pfn) > 0 || !memmap.refCompareAndSet(pfn, 1, 0)) {
      // still mapped or referenced (a speculative GUP): everything goes back
      restore(done, pfn, entry, sw, slot);
      // a fork may have copied one of the swap ptes before restore() saw it; without a swap
      // cache to find the folio in, that copy must read the data from the slot
      sw.finishWrite(slot, mem.ram(), pfn);
      sw.put(slot);
      return false;
    }
    if (done.isEmpty()) {
      sw.finishWrite(slot, mem.ram(), -1);
      sw.put(slot); // nobody maps it: nothing to write
    } else {
      sw.finishWrite(slot, mem.ram(), pfn);
      c[4]++;
      mem.vmstat().inc(VmItem.PSWPOUT);
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

  /** Puts back the ptes {@link Rmap#tryToUnmap} replaced, where still in place. */
  private void restore(
      List<Rmap.Unmapped> done, long pfn, long replacement, SwapSpace sw, long slot) {
    for (Rmap.Unmapped u : done) {
      PageWalk.updatePte(
          u.mm(),
          u.addr(),
          null,
          (mm, addr, e) -> {
            if (e != replacement) {
              return e;
            }
            memmap.mapcountAdd(pfn, 1);
            memmap.refAdd(pfn, 1);
            (memmap.testFlag(pfn, PG_ANON) ? mm.anonPages : mm.filePages).incrementAndGet();
            if (sw != null) {
              sw.put(slot);
            }
            return u.pte();
          });
    }
  }

  /** Unmaps a file folio, writes it back if dirty, and removes it from the page cache. */
  private boolean dropFile(long pfn, long[] c) {
    AddressSpace file = mem.mapping(memmap.mapping(pfn));
    if (file == null) {
      return false;
    }
    rmap.tryToUnmap(pfn, 0, null, 0);
    if (rmap.folioMapcount(pfn) > 0) {
      return false; // a racing fault mapped it again: try later
    }
    if (memmap.testFlag(pfn, PG_DIRTY)) {
      // pageout(): hand it to the mapping's writeback, then look again
      long index = memmap.index(pfn);
      folios.folioUnlock(pfn);
      long at = index << Page.PAGE_SHIFT;
      pageWriteback.writeCachePages( // pageout(): this folio, through ->writeFolio
          file,
          WritebackControl.range(WbSyncMode.NONE, at, at + file.folioSize(pfn) - 1)
              .nrToWrite(SWAP_CLUSTER_MAX)
              .forReclaim(true));
      c[5]++;
      if (!folios.folioTrylock(pfn)) {
        folios.folioLock(pfn);
      }
      if (memmap.testFlag(pfn, PG_DIRTY)
          || memmap.testFlag(pfn, PG_WRITEBACK)
          || memmap.mapping(pfn) == 0) {
        return false;
      }
    }
    // __remove_mapping(): only the page cache's and our references may remain
    if (memmap.refcount(pfn) != 2 || rmap.folioMapcount(pfn) != 0) {
      return false;
    }
    filemap.filemapRemoveFolio(file, pfn);
    folios.folioUnlock(pfn);
    alloc.putPage(pfn);
    return true;
  }

  /** {@code try_to_free_pages()}: direct reclaim for an allocation that failed. */
  void directReclaim(int order) {
    mem.vmstat().inc(VmItem.ALLOCSTALL);
    shrinkNode((long) SWAP_CLUSTER_MAX << order);
  }
}
