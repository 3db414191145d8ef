package dev.refkern.mm.vm;

import static dev.refkern.mm.AddressSpace.MAX_INDEX;
import static dev.refkern.mm.PageFlags.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.KernelHealth;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.internal.MmInternals;
import dev.refkern.mm.internal.pagecache.AddressSpaceState;
import dev.refkern.mm.internal.pagecache.PageCacheTree;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.notifier.MmuNotifierEvent;
import java.util.function.LongPredicate;
import org.apiguardian.api.API;

/**
 * Truncation of the page cache, {@code mm/truncate.c}: {@code truncate_inode_pages_range()}, {@code
 * truncate_inode_pages_final()}, the partial folio and {@code folio_cancel_dirty()}. A folio that
 * {@code folio_maybe_dma_pinned()} goes through the {@link PinnedTruncateDecision}: the mapping's
 * own ({@link MappingPinnedPolicies}), else the booted one.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Truncate {
  private final DeviceFilePagePolicy filePages;
  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final PageAllocator allocator;
  private final KernelHealth health;
  private final FolioOps folios;
  private final Filemap filemap;
  private final Memory memory;
  private final LongPredicate maybeDmaPinned;
  private final PinnedTruncateDecision pinned;

  /**
   * Truncation on {@code mem}.
   *
   * @param memory {@code mm/memory.c}, for {@code unmap_mapping_folio()} only; null on a machine
   *     without virtual memory, where no folio is mapped
   * @param maybeDmaPinned {@code folio_maybe_dma_pinned()} of the booted pin-tracking policy
   * @param pinned what to do with a folio that may be pinned
   */
  public Truncate(
      PhysicalMemory mem,
      FolioOps folios,
      Filemap filemap,
      Memory memory,
      LongPredicate maybeDmaPinned,
      PinnedTruncateDecision pinned) {
    this(mem, folios, filemap, memory, maybeDmaPinned, pinned, null);
  }

  /**
   * As above, with the {@code hmm.file_pages=} policy whose migration back truncate waits for when
   * it meets a device-private folio (null: none is ever in a page cache).
   */
  public Truncate(
      PhysicalMemory mem,
      FolioOps folios,
      Filemap filemap,
      Memory memory,
      LongPredicate maybeDmaPinned,
      PinnedTruncateDecision pinned,
      DeviceFilePagePolicy filePages) {
    this.filePages = filePages;
    this.mem = mem;
    this.memmap = MmInternals.rawMemmap(mem);
    this.allocator = mem.allocator();
    this.health = mem.health();
    this.folios = folios;
    this.filemap = filemap;
    this.memory = memory;
    this.maybeDmaPinned = maybeDmaPinned;
    this.pinned = pinned;
  }

  /**
   * {@code truncate_inode_pages_range(mapping, from << PAGE_SHIFT, -1)}: removes every folio at or
   * after {@code fromIndex}. Each is locked, waited on for writeback, unmapped ({@code
   * unmap_mapping_folio()}: every pte of it is zapped) and, if it has {@code PG_private}, handed to
   * {@code ->invalidate_folio}; then its dirty bit is cancelled and it leaves the cache. A large
   * folio straddling {@code fromIndex} stays, with its pages past it zeroed (what the kernel does
   * when it cannot split it).
   */
  public void truncateInodePages(AddressSpace mapping, long fromIndex) {
    truncateInodePagesRange(mapping, fromIndex, MAX_INDEX);
  }

  /**
   * {@code truncate_inode_pages_range()} over whole pages {@code [startIndex, endIndex]}
   * (inclusive), as hole punching uses it: each folio inside goes as in {@link
   * #truncateInodePages}; the caller zeroes partial pages at the ends of a byte range.
   */
  public void truncateInodePagesRange(AddressSpace mapping, long startIndex, long endIndex) {
    health.checkAlive();
    AddressSpaceState st = MmInternals.state(mapping);
    long idx = Math.max(startIndex, 0);
    long last = Math.min(endIndex, MAX_INDEX);
    while (idx <= last) {
      long pfn;
      synchronized (st.xaLock) {
        long at = st.tree.nextPresent(idx, last);
        if (at == PageCacheTree.NONE) {
          return;
        }
        pfn = st.tree.get(at);
        memmap.refAdd(pfn, 1); // find_lock_entries() takes a reference
      }
      if (filePages != null && memmap.zone(pfn) == dev.refkern.mm.ZoneType.DEVICE) {
        allocator.putPage(pfn); // hmm.file_pages=: home first, then truncated as any folio
        filePages.migrateBack(pfn);
        continue;
      }
      folios.folioLock(pfn);
      long start = memmap.index(pfn);
      int nr = 1 << memmap.folioOrder(pfn);
      try {
        if (memmap.mapping(pfn) != st.id) {
          continue; // removed while we slept on the lock: look again
        }
        if (start < idx) {
          truncatePartialFolio(mapping, pfn, (int) (idx - start), nr);
        } else if (start + nr - 1 > last) {
          // a large folio past the range's end: zero its pages inside, keep the rest
          for (long i = start; i <= last; i++) {
            mem.ram().zeroPage(pfn + (i - start));
          }
        } else {
          truncateFolio(mapping, pfn);
        }
        idx = start + nr;
      } finally {
        folios.folioUnlock(pfn);
        allocator.putPage(pfn);
      }
    }
  }

  /** The mount's choice for {@code mapping}, else the boot's. */
  private PinnedTruncateDecision decision(AddressSpace mapping) {
    Object own = MmInternals.state(mapping).pinnedTruncate;
    return own != null ? (PinnedTruncateDecision) own : this.pinned;
  }

  /**
   * {@code ext4_break_layouts()} / {@code dax_layout_busy_page_range()}: before a filesystem
   * shrinks a file or punches a hole, and only under a decision that {@linkplain
   * PinnedTruncateDecision#waitsForPins() waits for pins}, unmaps each pinned folio in whole pages
   * {@code [startIndex, endIndex]} and sleeps, killable, until its pins drop. Nothing is changed
   * before the sleep ends, so a fatal signal leaves the file as it was.
   *
   * @param task the task truncating, whose {@link Task#kill()} ends the sleep; null for none
   * @throws dev.refkern.mm.KernelException {@code EINTR} on a fatal signal while a folio is pinned
   */
  public void breakLayouts(Task task, AddressSpace mapping, long startIndex, long endIndex) {
    PinnedTruncateDecision pinned = decision(mapping);
    if (!pinned.waitsForPins()) {
      return;
    }
    health.checkAlive();
    AddressSpaceState st = MmInternals.state(mapping);
    long idx = Math.max(startIndex, 0);
    long last = Math.min(endIndex, MAX_INDEX);
    while (idx <= last) {
      long pfn;
      synchronized (st.xaLock) {
        long at = st.tree.nextPresent(idx, last);
        if (at == PageCacheTree.NONE) {
          return;
        }
        pfn = st.tree.get(at);
        memmap.refAdd(pfn, 1);
      }
      long next = memmap.index(pfn) + (1L << memmap.folioOrder(pfn));
      try {
        if (maybeDmaPinned.test(pfn)
            && pinned.pinnedFolio(mapping, pfn) == PinnedTruncateDecision.Action.WAIT) {
          if (memory != null) {
            folios.folioLock(pfn);
            try {
              if (memmap.mapping(pfn) == st.id) { // no new pte can be made to pin it again
                memory.unmapMappingFolio(pfn, pinned.unmapEvent(mapping, pfn));
              }
            } finally {
              folios.folioUnlock(pfn);
            }
          }
          if (!pinned.awaitUnpinned(
              mapping, pfn, task != null ? task::fatalSignalPending : health::fatalSignalPending)) {
            throw new dev.refkern.mm.KernelException(
                dev.refkern.mm.Errno.EINTR,
                "fatal signal while truncate waited for a pinned folio at index "
                    + memmap.index(pfn));
          }
        }
      } finally {
        allocator.putPage(pfn);
      }
      idx = Math.max(next, idx + 1);
    }
  }

  /** {@code truncate_inode_folio()}: the folio is locked and referenced by the caller. */
  private void truncateFolio(AddressSpace mapping, long pfn) {
    PinnedTruncateDecision pinned = decision(mapping);
    folios.folioWaitWriteback(pfn);
    if (memory != null) {
      memory.unmapMappingFolio(
          pfn, maybeDmaPinned.test(pfn) ? pinned.unmapEvent(mapping, pfn) : MmuNotifierEvent.CLEAR);
    }
    if (memmap.testFlag(pfn, PG_PRIVATE)) {
      mapping.aops().invalidateFolio(mapping, pfn, 0, mapping.folioSize(pfn));
    }
    folioCancelDirty(mapping, pfn);
    if (maybeDmaPinned.test(pfn)) {
      switch (pinned.pinnedFolio(mapping, pfn)) {
        case REMOVE:
          break; // mainline: the pin holder keeps the orphaned folio alive
        case WAIT:
          // unlocked, so unpin_user_pages_dirty_lock() can lock it to redirty
          folios.folioUnlock(pfn);
          boolean unpinned;
          try {
            unpinned = pinned.awaitUnpinned(mapping, pfn, health::fatalSignalPending);
          } finally {
            folios.folioLock(pfn);
          }
          if (!unpinned) { // the machine is going down: every kernel entry fails from now on
            throw new dev.refkern.mm.KernelException(
                dev.refkern.mm.Errno.EINTR, "fatal signal while truncate waited for a pin");
          }
          if (memmap.mapping(pfn) != mapping.id()) {
            return; // removed while we slept
          }
          folioCancelDirty(mapping, pfn); // the unpin may have redirtied it
          break;
      }
    }
    filemap.filemapRemoveFolio(mapping, pfn);
  }

  /** {@code truncate_inode_partial_folio()} when the split fails: zero the truncated pages. */
  private void truncatePartialFolio(AddressSpace mapping, long pfn, int keepPages, int nr) {
    folios.folioWaitWriteback(pfn);
    for (int i = keepPages; i < nr; i++) {
      mem.ram().zeroPage(pfn + i);
    }
    if (memmap.testFlag(pfn, PG_PRIVATE)) {
      mapping
          .aops()
          .invalidateFolio(
              mapping, pfn, keepPages * Page.PAGE_SIZE, (nr - keepPages) * Page.PAGE_SIZE);
    }
  }

  /** {@code folio_cancel_dirty()}: truncation drops the dirty data; accounting follows. */
  private void folioCancelDirty(AddressSpace mapping, long pfn) {
    if (memmap.testAndClearFlag(pfn, PG_DIRTY)) {
      MmInternals.state(mapping).accountCleaned(pfn);
    }
  }

  /**
   * {@code truncate_inode_pages_final()} then {@code clear_inode()}: marks the mapping {@code
   * AS_EXITING}, empties it and unregisters it, so {@link PhysicalMemory#mapping(long)} no longer
   * finds it.
   */
  public void truncateInodePagesFinal(AddressSpace mapping) {
    AddressSpaceState st = MmInternals.state(mapping);
    st.setFlag(AddressSpace.AS_EXITING);
    truncateInodePages(mapping, 0);
    st.unregister();
  }
}
