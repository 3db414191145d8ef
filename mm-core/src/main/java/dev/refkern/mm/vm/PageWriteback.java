package dev.refkern.mm.vm;

import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_DIRTY;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelHealth;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageMemory;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.VmStat;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.internal.MmInternals;
import dev.refkern.mm.internal.pagecache.AddressSpaceState;
import dev.refkern.mm.internal.pagecache.PageCacheTree;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.spi.AddressSpaceOperations;
import java.util.function.LongPredicate;
import org.apiguardian.api.API;

/**
 * Page writeback, {@code mm/page-writeback.c}: {@code do_writepages()}, {@code
 * write_cache_pages()}, {@code folio_clear_dirty_for_io()} (which write-protects the folio's
 * mappings through the rmap's {@code folio_mkclean()}) and {@code folio_wait_stable()}. A folio
 * that {@code folio_maybe_dma_pinned()} goes through the {@link PinnedWritebackDecision}: the
 * mapping's own ({@link MappingPinnedPolicies}), else the booted one.
 *
 * <p>The folio flag half of {@code folio_start_writeback()} / {@code folio_end_writeback()} is
 * {@link FolioOps}, below this package, since I/O completion calls it.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PageWriteback {
  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final PageMemory ram;
  private final PageAllocator allocator;
  private final VmStat vmstat;
  private final KernelHealth health;
  private final FolioOps folios;
  private final Rmap rmap;
  private final LongPredicate maybeDmaPinned;
  private final PinnedWritebackDecision pinned;
  private final DeviceFilePagePolicy filePages;

  /**
   * Writeback on {@code mem}.
   *
   * @param rmap the reverse map, for {@code folio_mkclean()} only; null on a machine without
   *     virtual memory, where no folio is mapped
   * @param maybeDmaPinned {@code folio_maybe_dma_pinned()} of the booted pin-tracking policy, for
   *     pfns the page cache holds
   * @param pinned what to do with a folio that may be pinned
   */
  public PageWriteback(
      PhysicalMemory mem,
      FolioOps folios,
      Rmap rmap,
      LongPredicate maybeDmaPinned,
      PinnedWritebackDecision pinned) {
    this(mem, folios, rmap, maybeDmaPinned, pinned, null);
  }

  /**
   * As above, with the {@code hmm.file_pages=} policy that says how a device-private folio is
   * written (null: none is ever in a page cache).
   */
  public PageWriteback(
      PhysicalMemory mem,
      FolioOps folios,
      Rmap rmap,
      LongPredicate maybeDmaPinned,
      PinnedWritebackDecision pinned,
      DeviceFilePagePolicy filePages) {
    this.filePages = filePages;
    this.mem = mem;
    this.memmap = MmInternals.rawMemmap(mem);
    this.ram = mem.ram();
    this.allocator = mem.allocator();
    this.vmstat = mem.vmstat();
    this.health = mem.health();
    this.folios = folios;
    this.rmap = rmap;
    this.maybeDmaPinned = maybeDmaPinned;
    this.pinned = pinned;
  }

  /**
   * {@code do_writepages()}: the mapping's {@code ->writepages}, or {@link #writeCachePages} if it
   * has none.
   *
   * @return 0, or the first negative errno
   */
  public int doWritepages(AddressSpace mapping, long startIndex, long endIndex) {
    int rc = mapping.aops().writepages(mapping, startIndex, endIndex);
    return rc == AddressSpaceOperations.GENERIC
        ? writeCachePages(mapping, startIndex, endIndex)
        : rc;
  }

  /**
   * {@code write_cache_pages()} ({@code WB_SYNC_ALL}) over {@code ->writeFolio}, synchronously: for
   * each folio tagged dirty in {@code [startIndex, endIndex]}: lock, wait for earlier writeback,
   * ask the {@link PinnedWritebackDecision} if it may be pinned, {@code
   * folio_clear_dirty_for_io()}, start writeback, write, end writeback, unlock. A write error is
   * recorded ({@link AddressSpace#mappingSetError}) and the walk goes on; a folio whose write
   * answers {@code AOP_WRITEPAGE_ACTIVATE} is redirtied.
   *
   * @return 0, or the first negative errno
   */
  public int writeCachePages(AddressSpace mapping, long startIndex, long endIndex) {
    return writeCachePages(mapping, startIndex, endIndex, WbSyncMode.ALL);
  }

  /**
   * {@link #writeCachePages(AddressSpace, long, long)} with the {@code writeback_control}'s {@code
   * sync_mode}, which the {@link PinnedWritebackDecision} is told.
   */
  public int writeCachePages(
      AddressSpace mapping, long startIndex, long endIndex, WbSyncMode mode) {
    return writeCachePages(
        mapping, WritebackControl.range(mode, indexToByte(startIndex), endByte(endIndex)));
  }

  private static long indexToByte(long index) {
    return index > AddressSpace.MAX_INDEX ? Long.MAX_VALUE : Math.max(index, 0) << Page.PAGE_SHIFT;
  }

  private static long endByte(long endIndex) {
    if (endIndex < 0) {
      return -1; // an empty range
    }
    return endIndex >= AddressSpace.MAX_INDEX
        ? WritebackControl.WHOLE_FILE
        : (endIndex << Page.PAGE_SHIFT) | (Page.PAGE_SIZE - 1);
  }

  /**
   * {@code do_writepages()} with a {@code writeback_control}: a filesystem's own {@code
   * ->writepages} gets the range only (the SPI has no {@code wbc}), else {@link
   * #writeCachePages(AddressSpace, WritebackControl)}.
   */
  public int doWritepages(AddressSpace mapping, WritebackControl wbc) {
    long start = Math.max(wbc.rangeStart(), 0) >> Page.PAGE_SHIFT;
    long end = wbc.rangeEnd() >> Page.PAGE_SHIFT;
    int rc = mapping.aops().writepages(mapping, start, end);
    return rc == AddressSpaceOperations.GENERIC ? writeCachePages(mapping, wbc) : rc;
  }

  /**
   * {@code write_cache_pages()} / {@code writeback_iter()} driven by {@code wbc}: the folios tagged
   * dirty in {@code [range_start, range_end]}, each written as {@link
   * #writeCachePages(AddressSpace, long, long)} says. {@code nr_to_write} drops by each folio's
   * pages; a {@link WbSyncMode#NONE} pass stops once it reaches 0 and skips folios already under
   * writeback. A folio whose write failed is not redirtied (the data is lost, as ext4, xfs and
   * btrfs do): the error goes to the mapping ({@code mapping_set_error()}, its {@code errseq_t})
   * and the bytes count in {@link VmItem#WB_LOST_BYTES}.
   *
   * @return 0, or the first negative errno
   */
  public int writeCachePages(AddressSpace mapping, WritebackControl wbc) {
    health.checkAlive();
    AddressSpaceState st = MmInternals.state(mapping);
    WbSyncMode mode = wbc.syncMode();
    long id = mapping.id();
    int first = 0;
    long idx = Math.max(wbc.rangeStart(), 0) >> Page.PAGE_SHIFT;
    long end = Math.min(wbc.rangeEnd() >> Page.PAGE_SHIFT, AddressSpace.MAX_INDEX);
    long home = -1; // a device folio to migrate back, once unlocked, then written again
    while (idx <= end) {
      if (home >= 0) {
        filePages.migrateBack(home);
        home = -1;
      }
      if (mode == WbSyncMode.NONE && wbc.nrToWrite() <= 0) {
        break; // writeback_iter(): the budget is spent
      }
      long pfn;
      long at;
      synchronized (st.xaLock) {
        at = st.tree.nextTagged(idx, end, TAG_DIRTY);
        if (at == PageCacheTree.NONE) {
          break;
        }
        pfn = st.tree.get(at);
        memmap.refAdd(pfn, 1);
      }
      int nr = 1 << memmap.folioOrder(pfn);
      idx = at + nr;
      folios.folioLock(pfn);
      try {
        if (memmap.mapping(pfn) != id) {
          continue; // truncated meanwhile
        }
        if (!memmap.testFlag(pfn, PG_DIRTY)) {
          synchronized (st.xaLock) {
            st.tree.clearTag(at, TAG_DIRTY); // cleaned by someone else without writeback
          }
          continue;
        }
        if (memmap.testFlag(pfn, PG_WRITEBACK)) {
          if (mode == WbSyncMode.NONE) {
            wbc.skipped(nr);
            continue; // folio_prepare_writeback(): background writeback does not wait
          }
          folios.folioWaitWriteback(pfn);
        }
        boolean device = filePages != null && memmap.zone(pfn) == ZoneType.DEVICE;
        if (device && !filePages.bouncesWriteback()) {
          home = pfn;
          idx = at; // hmm.file_pages=migrate_back: write the system folio that replaces it
          continue;
        }
        PinnedWritebackDecision d = null;
        PinnedWritebackDecision.Action action = PinnedWritebackDecision.Action.WRITE;
        if (device) {
          action = PinnedWritebackDecision.Action.BOUNCE;
        } else if (maybeDmaPinned.test(pfn)) {
          Object own = st.pinnedWriteback; // the mount's choice, else the boot's
          d = own != null ? (PinnedWritebackDecision) own : pinned;
          action = d.pinnedFolio(mapping, pfn, mode);
          if (action == PinnedWritebackDecision.Action.SKIP) {
            wbc.skipped(nr);
            continue; // stays dirty and tagged for a later pass
          }
        }
        if (!folioClearDirtyForIo(pfn)) {
          continue;
        }
        folios.folioStartWriteback(pfn);
        boolean bounce = action == PinnedWritebackDecision.Action.BOUNCE;
        int err =
            device
                ? writeDeviceBounced(mapping, pfn)
                : bounce ? writeBounced(mapping, pfn, d) : mapping.aops().writeFolio(mapping, pfn);
        if (err < 0) {
          mapping.mappingSetError(err);
          vmstat.add(VmItem.WB_LOST_BYTES, (long) nr << Page.PAGE_SHIFT);
          if (first == 0) {
            first = err;
          }
        }
        folios.folioEndWriteback(pfn);
        if (err == AddressSpaceOperations.AOP_WRITEPAGE_ACTIVATE) {
          folios.folioMarkDirty(pfn); // nothing was written: redirty
          wbc.skipped(nr);
        } else {
          if (bounce && !device && maybeDmaPinned.test(pfn)) {
            folios.folioMarkDirty(pfn); // the copy is on disk; DMA may have changed the folio since
          }
          wbc.wrote(nr);
        }
      } finally {
        folios.folioUnlock(pfn);
        allocator.putPage(pfn);
      }
    }
    return first;
  }

  /**
   * Writes a copy of the locked folio {@code pfn}, under writeback, taken now: DMA after this
   * instant does not reach the written data. The bounce folio is allocated without reclaim (we hold
   * a folio lock) and freed after the write; if none can be had, nothing is written and the folio
   * is redirtied ({@link AddressSpaceOperations#AOP_WRITEPAGE_ACTIVATE}). A filesystem without
   * {@code ->writeFolioFrom} gets the folio itself, as mainline writes it.
   */
  private int writeBounced(AddressSpace mapping, long pfn, PinnedWritebackDecision d) {
    int order = memmap.folioOrder(pfn);
    long copy = allocator.allocPages(Gfp.NOWARN, order);
    if (copy == PageAllocator.NO_PFN) {
      return AddressSpaceOperations.AOP_WRITEPAGE_ACTIVATE;
    }
    try {
      for (int i = 0; i < 1 << order; i++) {
        ram.copyPage(copy + i, pfn + i);
      }
      int err = mapping.aops().writeFolioFrom(mapping, pfn, copy);
      if (err == AddressSpaceOperations.GENERIC) {
        return mapping.aops().writeFolio(mapping, pfn); // cannot bounce: in place
      }
      if (err == 0) {
        d.bounced(mapping, pfn, mapping.folioSize(pfn));
      }
      return err;
    } finally {
      allocator.freePages(copy, order);
    }
  }

  /**
   * {@code hmm.file_pages=bounce}: the driver copies the locked device-private folio {@code pfn}
   * into a bounce folio ({@code DevPagemapOps.copyToRam}, a device DMA), which the filesystem
   * writes as {@code pfn}'s data while the folio stays on the device. The device mappings were
   * write-protected by {@link #folioClearDirtyForIo}, so a later device write asks {@code
   * ->page_mkwrite} again and redirties it. With no bounce folio or no {@code ->writeFolioFrom},
   * nothing is written and the folio is redirtied: the CPU cannot write device memory in place.
   */
  private int writeDeviceBounced(AddressSpace mapping, long pfn) {
    long copy = allocator.allocPages(Gfp.NOWARN, 0);
    if (copy == PageAllocator.NO_PFN) {
      return AddressSpaceOperations.AOP_WRITEPAGE_ACTIVATE;
    }
    try {
      if (!mem.pagemapOf(pfn).ops().copyToRam(pfn, copy)) {
        ram.copyPage(copy, pfn);
      }
      int err = mapping.aops().writeFolioFrom(mapping, pfn, copy);
      if (err == AddressSpaceOperations.GENERIC) {
        return AddressSpaceOperations.AOP_WRITEPAGE_ACTIVATE;
      }
      if (err == 0) {
        filePages.bounced(mapping.folioSize(pfn));
      }
      return err;
    } finally {
      allocator.freePages(copy, 0);
    }
  }

  /**
   * {@code folio_clear_dirty_for_io()}: before writeback, write-protects the folio's mappings
   * ({@code folio_mkclean()}), moves a dirty pte bit into the folio, then clears {@code PG_dirty}.
   * The folio must be locked ({@code BUG} otherwise). The dirty tag stays until {@code
   * folio_start_writeback()}.
   *
   * @return true if the folio was dirty, so the caller must write it
   */
  public boolean folioClearDirtyForIo(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (!memmap.testFlag(head, PG_LOCKED)) {
      throw health.bug(
          "VM_BUG_ON_FOLIO(!folio_test_locked(folio)): folio_clear_dirty_for_io() pfn " + head);
    }
    AddressSpace mapping = folios.folioMapping(head);
    if (mapping == null) {
      return memmap.testAndClearFlag(head, PG_DIRTY);
    }
    if (rmap != null && rmap.folioMkclean(head)) {
      folios.folioMarkDirty(head);
    }
    if (memmap.testAndClearFlag(head, PG_DIRTY)) {
      MmInternals.state(mapping).accountCleaned(head);
      return true;
    }
    return false;
  }

  /**
   * {@code folio_wait_stable()}: waits for writeback only if the mapping needs stable pages during
   * writeback ({@code AS_STABLE_WRITES}: checksums, RAID parity), so writers elsewhere go on.
   */
  public void folioWaitStable(long pfn) {
    AddressSpace mapping = folios.folioMapping(pfn); // checks the pfn
    if (mapping != null && mapping.stableWrites()) {
      folios.folioWaitWriteback(pfn);
    }
  }
}
