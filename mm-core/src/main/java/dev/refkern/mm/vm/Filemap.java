package dev.refkern.mm.vm;

import static dev.refkern.mm.AddressSpace.MAX_INDEX;
import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_DIRTY;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_WRITEBACK;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.KernelHealth;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmFault;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.internal.MmInternals;
import dev.refkern.mm.internal.pagecache.AddressSpaceState;
import dev.refkern.mm.internal.pagecache.PageCacheState;
import dev.refkern.mm.internal.pagecache.PageCacheTree;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.spi.AddressSpaceOperations;
import java.util.function.LongConsumer;
import org.apiguardian.api.API;

/**
 * The page cache, {@code mm/filemap.c}: lookup, insertion, removal and reads of an {@link
 * AddressSpace}'s folios, {@code filemap_page_mkwrite()}, {@code filemap_fdatawrite()}, {@code
 * filemap_write_and_wait()} and {@code filemap_check_errors()}.
 *
 * <p>The cache maps a page index to a folio (its head pfn) under {@code xa_lock}, never held across
 * a sleep. A folio of {@code nr} pages occupies {@code nr} aligned indices; its memmap {@code
 * mapping} is the mapping's id and its {@code index} the first of them. The cache holds one
 * reference per page of each folio it contains ({@code folio_ref_add(folio, nr)}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Filemap {
  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final PageAllocator allocator;
  private final KernelHealth health;
  private final FolioOps folios;
  private final PageWriteback writeback;
  private final DeviceFilePagePolicy filePages;

  /** The page cache of {@code mem}, writing back through {@code writeback}. */
  public Filemap(PhysicalMemory mem, FolioOps folios, PageWriteback writeback) {
    this(mem, folios, writeback, null);
  }

  /**
   * As above, with the {@code hmm.file_pages=} policy whose migration back a lookup that meets a
   * device-private folio waits for (null: none is ever in a page cache).
   */
  public Filemap(
      PhysicalMemory mem,
      FolioOps folios,
      PageWriteback writeback,
      DeviceFilePagePolicy filePages) {
    this.filePages = filePages;
    this.mem = mem;
    this.memmap = MmInternals.rawMemmap(mem);
    this.allocator = mem.allocator();
    this.health = mem.health();
    this.folios = folios;
    this.writeback = writeback;
  }

  /**
   * {@code filemap_get_folio()}: the folio (head pfn) covering {@code index} with a reference taken
   * for the caller, or {@link PageAllocator#NO_PFN}. The page-fault hot path: no allocation.
   *
   * <p>A device-private folio ({@code hmm.file_pages=}, beyond mainline) is first migrated back to
   * system memory on the policy's workqueue, which the caller waits for: {@code read()}, {@code
   * write()} and a CPU fault through the page cache only ever see system memory.
   */
  public long filemapGetFolio(AddressSpace mapping, long index) {
    AddressSpaceState st = MmInternals.state(mapping);
    while (true) {
      long pfn;
      synchronized (st.xaLock) {
        pfn = st.tree.get(index);
        if (pfn == PageCacheTree.NONE) {
          return PageAllocator.NO_PFN;
        }
        // The cache's own reference keeps it alive while we hold xa_lock: no folio_try_get() race.
        memmap.refAdd(pfn, 1);
      }
      if (filePages == null || memmap.zone(pfn) != ZoneType.DEVICE) {
        return pfn;
      }
      allocator.putPage(pfn);
      filePages.migrateBack(pfn);
    }
  }

  /**
   * Tells the filesystem that a device is about to write the device-private folio {@code devicePfn}
   * of {@code mapping} (seed 004, Dave Chinner's question: "how does the device trigger
   * ->page_mkwrite on a clean page"): the mapping's {@code ->page_mkwrite} (the filesystem reserves
   * or allocates blocks for a hole), then the folio is marked dirty and tagged so writeback finds
   * it. A driver calls it before each device write to a file page; the kernel has no such entry.
   *
   * @return 0, or the {@code VM_FAULT_*} code {@code ->page_mkwrite} answered ({@link
   *     VmFault#VM_FAULT_NOPAGE} if the folio left the mapping)
   * @throws KernelException {@code EINVAL} if {@code devicePfn} is not device memory
   */
  public int devicePageMkwrite(AddressSpace mapping, long devicePfn) {
    health.checkAlive();
    memmap.checkPfn(devicePfn);
    if (memmap.zone(devicePfn) != ZoneType.DEVICE) {
      throw new KernelException(Errno.EINVAL, "device_page_mkwrite: pfn " + devicePfn);
    }
    if (!memmap.refTryAdd(devicePfn, 1)) {
      return VmFault.VM_FAULT_NOPAGE;
    }
    try {
      if (memmap.mapping(devicePfn) != mapping.id()) {
        return VmFault.VM_FAULT_NOPAGE;
      }
      int rc = doPageMkwrite(mapping, devicePfn);
      if (rc != 0) {
        return rc;
      }
      folios.folioLock(devicePfn);
      try {
        if (memmap.mapping(devicePfn) != mapping.id()) {
          return VmFault.VM_FAULT_NOPAGE;
        }
        folios.folioMarkDirty(devicePfn);
        return 0;
      } finally {
        folios.folioUnlock(devicePfn);
      }
    } finally {
      allocator.putPage(devicePfn);
    }
  }

  /**
   * {@code filemap_grab_folio()}: {@link #filemapGrabFolio(AddressSpace, long, int)} with {@link
   * AddressSpace#gfpMask()}.
   */
  public long filemapGrabFolio(AddressSpace mapping, long index) {
    return filemapGrabFolio(mapping, index, mapping.gfpMask());
  }

  /**
   * {@code __filemap_get_folio(mapping, index, FGP_LOCK | FGP_CREAT, gfp)}: the folio at {@code
   * index}, allocated and added if absent, returned locked with a reference.
   *
   * @throws KernelException {@code ENOMEM} if the allocation fails, {@code EINVAL} for a bad index
   */
  public long filemapGrabFolio(AddressSpace mapping, long index, int gfp) {
    long id = mapping.id();
    health.checkAlive();
    checkIndex(index);
    while (true) {
      long pfn = filemapGetFolio(mapping, index);
      if (pfn != PageAllocator.NO_PFN) {
        folios.folioLock(pfn);
        if (memmap.mapping(pfn) == id) {
          return pfn;
        }
        folios.folioUnlock(pfn); // truncated while we slept on the lock
        allocator.putPage(pfn);
        continue;
      }
      long n = allocFolio(mapping, gfp, index);
      int err = filemapAddFolio(mapping, n, index);
      if (err == 0) {
        return n;
      }
      allocator.putPage(n);
      if (err != -Errno.EEXIST.number()) {
        throw new KernelException(Errno.of(err), "filemap_add_folio at index " + index);
      }
    }
  }

  private long allocFolio(AddressSpace mapping, int gfp, long index) {
    long n = allocator.allocPages(gfp, 0);
    if (n == PageAllocator.NO_PFN) {
      throw new KernelException(
          Errno.ENOMEM,
          "no memory for a page-cache folio of mapping " + mapping.id() + " index " + index);
    }
    return n;
  }

  /**
   * {@code filemap_add_folio()}: inserts the new folio {@code pfn} at {@code index}: sets its
   * {@code mapping} and {@code index}, locks it ({@code __folio_set_locked()}) and takes the
   * cache's references, one per page. The caller keeps its own reference and must unlock the folio.
   *
   * @return 0, {@code -EEXIST} if a folio already covers part of the range ({@code pfn} is then
   *     untouched), {@code -EINVAL} for a bad pfn or index
   */
  public int filemapAddFolio(AddressSpace mapping, long pfn, long index) {
    AddressSpaceState st = MmInternals.state(mapping);
    health.checkAlive();
    if (!memmap.pfnValid(pfn)) {
      return -Errno.EINVAL.number();
    }
    if (memmap.testFlag(pfn, PG_TAIL)) {
      throw health.bug("VM_BUG_ON_FOLIO(folio_test_tail): filemap_add_folio() of tail pfn " + pfn);
    }
    int nr = 1 << memmap.folioOrder(pfn);
    if (index < 0 || index > MAX_INDEX - nr + 1) {
      return -Errno.EINVAL.number();
    }
    if ((index & (nr - 1)) != 0) {
      throw health.bug(
          "VM_BUG_ON_FOLIO(index & (folio_nr_pages(folio) - 1)): pfn " + pfn + " index " + index);
    }
    if (memmap.refcount(pfn) <= 0
        || memmap.testFlag(pfn, PG_ANON)
        || memmap.mapping(pfn) != 0
        || memmap.testAndSetFlag(pfn, PG_LOCKED)) {
      throw health.bug(
          "VM_BUG_ON_FOLIO: filemap_add_folio() of pfn "
              + pfn
              + " that is not a new folio (refcount "
              + memmap.refcount(pfn)
              + ", flags "
              + PageFlags.longSymbolic(memmap.flags(pfn))
              + ")");
    }
    memmap.refAdd(pfn, nr);
    memmap.setMapping(pfn, st.id);
    memmap.setIndex(pfn, index);
    boolean inserted = false;
    synchronized (st.xaLock) {
      if (st.tree.nextPresent(index, index + nr - 1) == PageCacheTree.NONE) {
        for (int i = 0; i < nr; i++) {
          st.tree.insert(index + i, pfn);
        }
        st.nrPages += nr;
        inserted = true;
      }
    }
    if (inserted) {
      mem.folioAddLru(pfn); // filemap_add_folio() -> folio_add_lru()
      return 0;
    }
    memmap.setMapping(pfn, 0);
    memmap.setIndex(pfn, 0);
    memmap.refAdd(pfn, -nr); // folio_put_refs(): the caller's reference remains
    memmap.clearFlag(pfn, PG_LOCKED);
    return -Errno.EEXIST.number();
  }

  /**
   * {@code filemap_remove_folio()}: takes the locked folio out of the cache, clears its {@code
   * mapping} (its {@code index} stays, as truncation relies on) and drops the cache's references.
   * The caller holds a reference, so the folio is not freed here. A folio still mapped is a {@code
   * BUG} ({@code CONFIG_DEBUG_VM}); a dirty one is a {@code WARN_ON_ONCE} and stays {@code
   * PG_dirty} (the GUP case: a driver dirtied a pinned page of a file being evicted).
   */
  public void filemapRemoveFolio(AddressSpace mapping, long pfn) {
    AddressSpaceState st = MmInternals.state(mapping);
    long id = st.id;
    memmap.checkPfn(pfn);
    health.checkAlive();
    long head = memmap.compoundHead(pfn);
    if (!memmap.testFlag(head, PG_LOCKED)) {
      throw health.bug(
          "VM_BUG_ON_FOLIO(!folio_test_locked(folio)): filemap_remove_folio() pfn " + head);
    }
    if (memmap.mapping(head) != id || memmap.testFlag(head, PG_ANON)) {
      throw health.bug(
          "filemap_remove_folio(): pfn " + head + " is not in mapping " + id + "'s page cache");
    }
    if (folios.folioMapped(head)) {
      throw health.bug(
          "VM_BUG_ON_FOLIO(folio_mapped(folio)): pfn " + head + " still mapped when deleted");
    }
    int nr = 1 << memmap.folioOrder(head);
    long index = memmap.index(head);
    synchronized (st.xaLock) {
      for (int i = 0; i < nr; i++) {
        st.tree.remove(index + i);
      }
      memmap.setMapping(head, 0);
      st.nrPages -= nr;
    }
    if (memmap.testFlag(head, PG_DIRTY)) {
      if (st.firstTime(PageCacheState.WARN_REMOVE_DIRTY)) {
        health.warn(
            true,
            "filemap_unaccount_folio(): dirty folio pfn " + head + " removed from page cache");
      }
      st.addDirty(-nr);
    }
    if (memmap.testFlag(head, PG_WRITEBACK)) {
      st.addWriteback(-nr);
    }
    for (int i = 0; i < nr; i++) {
      allocator.putPage(head);
    }
  }

  /**
   * {@code read_mapping_folio()}: the folio at {@code index}, read through {@code ->read_folio} if
   * it is not {@code PG_uptodate}, returned unlocked with a reference.
   *
   * <p>On a read error the kernel leaves the {@code !uptodate} folio in the cache for the next
   * reader to retry; refkern removes it at once (the next reader retries all the same), so a failed
   * read holds no memory.
   *
   * @throws KernelException the errno {@code ->read_folio} failed with ({@code EIO}), {@code EIO}
   *     if it returned 0 without the folio becoming uptodate, {@code ENOMEM}
   */
  public long readMappingFolio(AddressSpace mapping, long index) {
    long id = mapping.id();
    health.checkAlive();
    checkIndex(index);
    while (true) {
      long pfn = filemapGetFolio(mapping, index);
      if (pfn == PageAllocator.NO_PFN) {
        long n = allocFolio(mapping, mapping.gfpMask(), index);
        int err = filemapAddFolio(mapping, n, index);
        if (err != 0) {
          allocator.putPage(n);
          if (err == -Errno.EEXIST.number()) {
            continue;
          }
          throw new KernelException(Errno.of(err), "filemap_add_folio at index " + index);
        }
        pfn = n;
      } else {
        if (memmap.testFlag(pfn, PG_UPTODATE)) {
          return pfn;
        }
        if (!folios.folioTrylock(pfn)) {
          folios.folioWaitLocked(pfn); // folio_put_wait_locked(): someone may be reading it
          allocator.putPage(pfn);
          continue;
        }
        if (memmap.mapping(pfn) != id) {
          folios.folioUnlock(pfn);
          allocator.putPage(pfn);
          continue;
        }
        if (memmap.testFlag(pfn, PG_UPTODATE)) {
          folios.folioUnlock(pfn);
          return pfn;
        }
      }
      // filemap_read_folio(): ->read_folio unlocks, maybe from I/O completion.
      int err = mapping.aops().readFolio(mapping, pfn);
      if (err == 0) {
        folios.folioWaitLocked(pfn);
        if (!memmap.testFlag(pfn, PG_UPTODATE)) {
          err = -Errno.EIO.number();
        }
      }
      if (err == 0) {
        return pfn;
      }
      discardFailedRead(mapping, pfn);
      allocator.putPage(pfn);
      throw new KernelException(errno(err), "read_folio of mapping " + id + " index " + index);
    }
  }

  private void discardFailedRead(AddressSpace mapping, long pfn) {
    folios.folioLock(pfn);
    try {
      if (memmap.mapping(pfn) == mapping.id()
          && !memmap.testFlag(pfn, PG_UPTODATE)
          && !folios.folioMapped(pfn)) {
        if (memmap.testFlag(pfn, PG_PRIVATE)) {
          // as truncate_cleanup_folio(): the fs's buffers go first, or their reference leaks
          mapping.aops().invalidateFolio(mapping, pfn, 0, mapping.folioSize(pfn));
        }
        filemapRemoveFolio(mapping, pfn);
      }
    } finally {
      folios.folioUnlock(pfn);
    }
  }

  private static Errno errno(int err) {
    try {
      return Errno.of(err);
    } catch (IllegalArgumentException e) {
      return Errno.EIO;
    }
  }

  private static void checkIndex(long index) {
    if (index < 0 || index > MAX_INDEX) {
      throw new KernelException(Errno.EINVAL, "page index " + index + " out of range");
    }
  }

  /**
   * {@code filemap_page_mkwrite()}: see {@link AddressSpaceOperations#pageMkwrite}.
   *
   * @return 0, or {@link VmFault#VM_FAULT_NOPAGE} if the folio was truncated
   */
  public int filemapPageMkwrite(AddressSpace mapping, long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    folios.folioLock(head);
    try {
      if (memmap.mapping(head) != mapping.id()) {
        return VmFault.VM_FAULT_NOPAGE;
      }
      folios.folioMarkDirty(head);
      writeback.folioWaitStable(head);
      return 0;
    } finally {
      folios.folioUnlock(head);
    }
  }

  /**
   * Calls {@code action} with the first index of each folio tagged dirty in {@code [start, end]},
   * in index order ({@code filemap_get_folios_tag(..., PAGECACHE_TAG_DIRTY)}). The lock is dropped
   * around each call, so {@code action} may lock folios or write them.
   */
  public void forEachDirty(AddressSpace mapping, long start, long end, LongConsumer action) {
    AddressSpaceState st = MmInternals.state(mapping);
    long idx = Math.max(start, 0);
    while (idx <= end) {
      long at;
      synchronized (st.xaLock) {
        at = st.tree.nextTagged(idx, end, TAG_DIRTY);
      }
      if (at == PageCacheTree.NONE) {
        return;
      }
      action.accept(at);
      if (at >= end) {
        return;
      }
      idx = at + 1;
    }
  }

  /** {@code filemap_fdatawrite()}: {@code do_writepages()} over the whole file. */
  public int filemapFdatawrite(AddressSpace mapping) {
    return writeback.doWritepages(mapping, 0, MAX_INDEX);
  }

  /**
   * {@code filemap_write_and_wait()}: writes every dirty folio, waits for the writeback and returns
   * (and clears) the first error, as {@code fsync} reports it.
   */
  public int filemapWriteAndWait(AddressSpace mapping) {
    AddressSpaceState st = MmInternals.state(mapping);
    int err = filemapFdatawrite(mapping);
    long idx = 0;
    while (idx <= MAX_INDEX) {
      long pfn;
      synchronized (st.xaLock) {
        long at = st.tree.nextTagged(idx, MAX_INDEX, TAG_WRITEBACK);
        if (at == PageCacheTree.NONE) {
          break;
        }
        pfn = st.tree.get(at);
        memmap.refAdd(pfn, 1);
        idx = at + (1L << memmap.folioOrder(pfn));
      }
      folios.folioWaitWriteback(pfn);
      allocator.putPage(pfn);
    }
    int checked = filemapCheckErrors(mapping);
    return err != 0 ? err : checked;
  }

  /**
   * {@code do_page_mkwrite()}'s call: the mapping's {@code ->page_mkwrite}, or {@link
   * #filemapPageMkwrite} if it has none.
   */
  public int doPageMkwrite(AddressSpace mapping, long pfn) {
    int rc = mapping.aops().pageMkwrite(mapping, pfn);
    return rc == AddressSpaceOperations.GENERIC ? filemapPageMkwrite(mapping, pfn) : rc;
  }

  /**
   * {@code filemap_check_errors()}: returns and clears a recorded writeback error.
   *
   * @return 0, {@code -ENOSPC} or {@code -EIO}
   */
  public int filemapCheckErrors(AddressSpace mapping) {
    AddressSpaceState st = MmInternals.state(mapping);
    int ret = 0;
    if (st.testAndClearFlag(AddressSpace.AS_ENOSPC)) {
      ret = -Errno.ENOSPC.number();
    }
    if (st.testAndClearFlag(AddressSpace.AS_EIO)) {
      ret = -Errno.EIO.number();
    }
    return ret;
  }
}
