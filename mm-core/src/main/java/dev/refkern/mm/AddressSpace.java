package dev.refkern.mm;

import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_DIRTY;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_TOWRITE;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_WRITEBACK;

import dev.refkern.mm.internal.pagecache.PageCacheTree;
import dev.refkern.mm.spi.AddressSpaceOperations;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * A file's page cache, {@code struct address_space} ({@code include/linux/fs.h}), with the lookup,
 * insertion, removal, truncation and writeback of {@code mm/filemap.c}, {@code mm/truncate.c} and
 * {@code mm/page-writeback.c}.
 *
 * <p>The cache maps a page index to a folio (its head pfn) in an XArray-like radix tree with the
 * dirty, writeback and towrite tags, under one lock ({@code xa_lock}) that is never held across a
 * sleep. A folio of {@code nr} pages occupies {@code nr} aligned indices; its memmap {@code
 * mapping} is {@link #id()} and its {@code index} the first of them. The cache holds one reference
 * per page of each folio it contains ({@code folio_ref_add(folio, nr)}).
 */
public final class AddressSpace {
  /** {@code AS_EIO}: a writeback failed with {@code -EIO} since the last check. */
  public static final int AS_EIO = 0;

  /** {@code AS_ENOSPC}: a writeback failed with {@code -ENOSPC} since the last check. */
  public static final int AS_ENOSPC = 1;

  /** {@code AS_EXITING}: the inode is being evicted. */
  public static final int AS_EXITING = 4;

  /** {@code AS_STABLE_WRITES}: folios must not change while under writeback. */
  public static final int AS_STABLE_WRITES = 7;

  /** The largest page index ({@code MAX_LFS_FILESIZE >> PAGE_SHIFT}). */
  public static final long MAX_INDEX = Long.MAX_VALUE >>> Page.PAGE_SHIFT;

  private final PhysicalMemory mem;
  private final Memmap memmap;
  private final PageAllocator allocator;
  private final KernelHealth health;
  private final AddressSpaceOperations aops;
  private final FolioOps folios;
  private final long id;
  private final Object xaLock = new Object();
  private final PageCacheTree tree = new PageCacheTree();
  private final AtomicLong flags = new AtomicLong();
  private final AtomicLong nrDirty = new AtomicLong();
  private final AtomicLong nrWriteback = new AtomicLong();
  private volatile long nrPages;
  private volatile long size;
  private volatile int gfpMask = Gfp.HIGHUSER_MOVABLE;

  private AddressSpace(PhysicalMemory mem, AddressSpaceOperations aops) {
    this.mem = mem;
    this.memmap = mem.rawMemmap();
    this.allocator = mem.allocator();
    this.health = mem.health();
    this.aops = aops;
    this.folios = new FolioOps(mem);
    this.id = mem.pageCache().register(this);
  }

  /**
   * {@code inode_init_always()} for the mapping part: a new, empty page cache using {@code aops},
   * registered so {@link PhysicalMemory#mapping(long)} finds it by {@link #id()}.
   */
  public static AddressSpace create(PhysicalMemory mem, AddressSpaceOperations aops) {
    if (aops == null) {
      throw new KernelException(Errno.EINVAL, "address_space without a_ops");
    }
    mem.health().checkAlive();
    return new AddressSpace(mem, aops);
  }

  /** The id the memmap's {@code mapping} field holds for folios of this cache; {@code >= 1}. */
  public long id() {
    return id;
  }

  /** {@code mapping->a_ops}. */
  public AddressSpaceOperations aops() {
    return aops;
  }

  /** The machine this cache lives on. */
  public PhysicalMemory physicalMemory() {
    return mem;
  }

  /** Folio operations on this machine, for {@code a_ops} implementations. */
  public FolioOps folios() {
    return folios;
  }

  /** {@code i_size_read()}: the file size in bytes. */
  public long size() {
    return size;
  }

  /** {@code i_size_write()}; the caller truncates the cache itself when shrinking. */
  public void setSize(long bytes) {
    if (bytes < 0) {
      throw new KernelException(Errno.EINVAL, "negative i_size " + bytes);
    }
    this.size = bytes;
  }

  /** {@code mapping_gfp_mask()}: how new folios are allocated; {@code GFP_HIGHUSER_MOVABLE}. */
  public int gfpMask() {
    return gfpMask;
  }

  /** {@code mapping_set_gfp_mask()}. */
  public void setGfpMask(int gfp) {
    if (!Gfp.valid(gfp)) {
      throw new KernelException(Errno.EINVAL, "unknown gfp flags " + Integer.toHexString(gfp));
    }
    this.gfpMask = gfp;
  }

  /** {@code mapping->flags}: {@code AS_*} bits. */
  public long flags() {
    return flags.get();
  }

  /** {@code mapping_set_stable_writes()} / {@code mapping_clear_stable_writes()}. */
  public void setStableWrites(boolean stable) {
    if (stable) {
      setFlag(AS_STABLE_WRITES);
    } else {
      flags.getAndUpdate(f -> f & ~(1L << AS_STABLE_WRITES));
    }
  }

  /** {@code mapping_stable_writes()}. */
  public boolean stableWrites() {
    return (flags.get() & (1L << AS_STABLE_WRITES)) != 0;
  }

  private void setFlag(int bit) {
    flags.getAndUpdate(f -> f | (1L << bit));
  }

  private boolean testAndClearFlag(int bit) {
    return (flags.getAndUpdate(f -> f & ~(1L << bit)) & (1L << bit)) != 0;
  }

  /** {@code mapping_set_error()}: records a writeback error for the next {@code fsync}. */
  public void mappingSetError(int err) {
    if (err == -Errno.ENOSPC.number()) {
      setFlag(AS_ENOSPC);
    } else if (err < 0) {
      setFlag(AS_EIO);
    }
  }

  /**
   * {@code filemap_check_errors()}: returns and clears a recorded writeback error.
   *
   * @return 0, {@code -ENOSPC} or {@code -EIO}
   */
  public int filemapCheckErrors() {
    int ret = 0;
    if (testAndClearFlag(AS_ENOSPC)) {
      ret = -Errno.ENOSPC.number();
    }
    if (testAndClearFlag(AS_EIO)) {
      ret = -Errno.EIO.number();
    }
    return ret;
  }

  /** {@code mapping->nrpages}: pages in the cache. */
  public long nrPages() {
    return nrPages;
  }

  /** Dirty pages of this cache (its share of {@code NR_FILE_DIRTY}). */
  public long nrDirty() {
    return nrDirty.get();
  }

  /** Pages of this cache under writeback (its share of {@code NR_WRITEBACK}). */
  public long nrWriteback() {
    return nrWriteback.get();
  }

  /** {@code mapping_tagged(mapping, PAGECACHE_TAG_DIRTY)}. */
  public boolean taggedDirty() {
    synchronized (xaLock) {
      return tree.tagged(TAG_DIRTY);
    }
  }

  /** {@code xa_get_mark(&mapping->i_pages, index, PAGECACHE_TAG_DIRTY)}. */
  public boolean testDirtyTag(long index) {
    synchronized (xaLock) {
      return tree.getTag(index, TAG_DIRTY);
    }
  }

  /** {@code xa_get_mark(&mapping->i_pages, index, PAGECACHE_TAG_WRITEBACK)}. */
  public boolean testWritebackTag(long index) {
    synchronized (xaLock) {
      return tree.getTag(index, TAG_WRITEBACK);
    }
  }

  /** {@code folio_size()}: bytes of the folio containing {@code pfn}. */
  public int folioSize(long pfn) {
    memmap.checkPfn(pfn);
    return Page.PAGE_SIZE << memmap.folioOrder(memmap.compoundHead(pfn));
  }

  // ---------------------------------------------------------------- lookup and insertion

  /**
   * {@code filemap_get_folio()}: the folio (head pfn) covering {@code index} with a reference taken
   * for the caller, or {@link PageAllocator#NO_PFN}. The page-fault hot path: no allocation.
   */
  public long filemapGetFolio(long index) {
    synchronized (xaLock) {
      long pfn = tree.get(index);
      if (pfn == PageCacheTree.NONE) {
        return PageAllocator.NO_PFN;
      }
      // The cache's own reference keeps it alive while we hold xa_lock: no folio_try_get() race.
      memmap.refAdd(pfn, 1);
      return pfn;
    }
  }

  /** {@code filemap_grab_folio()}: {@link #filemapGrabFolio(long, int)} with {@link #gfpMask()}. */
  public long filemapGrabFolio(long index) {
    return filemapGrabFolio(index, gfpMask);
  }

  /**
   * {@code __filemap_get_folio(mapping, index, FGP_LOCK | FGP_CREAT, gfp)}: the folio at {@code
   * index}, allocated and added if absent, returned locked with a reference.
   *
   * @throws KernelException {@code ENOMEM} if the allocation fails, {@code EINVAL} for a bad index
   */
  public long filemapGrabFolio(long index, int gfp) {
    health.checkAlive();
    checkIndex(index);
    while (true) {
      long pfn = filemapGetFolio(index);
      if (pfn != PageAllocator.NO_PFN) {
        folios.folioLock(pfn);
        if (memmap.mapping(pfn) == id) {
          return pfn;
        }
        folios.folioUnlock(pfn); // truncated while we slept on the lock
        allocator.putPage(pfn);
        continue;
      }
      long n = allocFolio(gfp, index);
      int err = filemapAddFolio(n, index);
      if (err == 0) {
        return n;
      }
      allocator.putPage(n);
      if (err != -Errno.EEXIST.number()) {
        throw new KernelException(Errno.of(err), "filemap_add_folio at index " + index);
      }
    }
  }

  private long allocFolio(int gfp, long index) {
    long n = allocator.allocPages(gfp, 0);
    if (n == PageAllocator.NO_PFN) {
      throw new KernelException(
          Errno.ENOMEM, "no memory for a page-cache folio of mapping " + id + " index " + index);
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
  public int filemapAddFolio(long pfn, long index) {
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
    memmap.setMapping(pfn, id);
    memmap.setIndex(pfn, index);
    boolean inserted = false;
    synchronized (xaLock) {
      if (tree.nextPresent(index, index + nr - 1) == PageCacheTree.NONE) {
        for (int i = 0; i < nr; i++) {
          tree.insert(index + i, pfn);
        }
        nrPages += nr;
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
  public void filemapRemoveFolio(long pfn) {
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
    synchronized (xaLock) {
      for (int i = 0; i < nr; i++) {
        tree.remove(index + i);
      }
      memmap.setMapping(head, 0);
      nrPages -= nr;
    }
    if (memmap.testFlag(head, PG_DIRTY)) {
      folios.warnOnce(
          FolioOps.WARN_REMOVE_DIRTY,
          "filemap_unaccount_folio(): dirty folio pfn " + head + " removed from page cache");
      nrDirty.addAndGet(-nr);
    }
    if (memmap.testFlag(head, PG_WRITEBACK)) {
      nrWriteback.addAndGet(-nr);
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
  public long readMappingFolio(long index) {
    health.checkAlive();
    checkIndex(index);
    while (true) {
      long pfn = filemapGetFolio(index);
      if (pfn == PageAllocator.NO_PFN) {
        long n = allocFolio(gfpMask, index);
        int err = filemapAddFolio(n, index);
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
      int err = aops.readFolio(this, pfn);
      if (err == 0) {
        folios.folioWaitLocked(pfn);
        if (!memmap.testFlag(pfn, PG_UPTODATE)) {
          err = -Errno.EIO.number();
        }
      }
      if (err == 0) {
        return pfn;
      }
      discardFailedRead(pfn);
      allocator.putPage(pfn);
      throw new KernelException(errno(err), "read_folio of mapping " + id + " index " + index);
    }
  }

  private void discardFailedRead(long pfn) {
    folios.folioLock(pfn);
    try {
      if (memmap.mapping(pfn) == id
          && !memmap.testFlag(pfn, PG_UPTODATE)
          && !folios.folioMapped(pfn)) {
        filemapRemoveFolio(pfn);
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

  // ---------------------------------------------------------------- truncation

  /**
   * {@code truncate_inode_pages_range(mapping, from << PAGE_SHIFT, -1)}: removes every folio at or
   * after {@code fromIndex}. Each is locked, waited on for writeback, handed to {@code unmapper}
   * (the VM's {@code unmap_mapping_folio()}: zap every pte of that head pfn) and, if it has {@code
   * PG_private}, to {@code ->invalidate_folio}; then its dirty bit is cancelled and it leaves the
   * cache. A large folio straddling {@code fromIndex} stays, with its pages past it zeroed (what
   * the kernel does when it cannot split it).
   *
   * @param unmapper called with each head pfn before removal; may be null when nothing is mapped
   */
  public void truncateInodePages(long fromIndex, LongConsumer unmapper) {
    health.checkAlive();
    long idx = Math.max(fromIndex, 0);
    while (idx <= MAX_INDEX) {
      long pfn;
      synchronized (xaLock) {
        long at = tree.nextPresent(idx, MAX_INDEX);
        if (at == PageCacheTree.NONE) {
          return;
        }
        pfn = tree.get(at);
        memmap.refAdd(pfn, 1); // find_lock_entries() takes a reference
      }
      folios.folioLock(pfn);
      long start = memmap.index(pfn);
      int nr = 1 << memmap.folioOrder(pfn);
      try {
        if (memmap.mapping(pfn) != id) {
          continue; // removed while we slept on the lock: look again
        }
        if (start < idx) {
          truncatePartialFolio(pfn, (int) (idx - start), nr);
        } else {
          truncateFolio(pfn, unmapper);
        }
        idx = start + nr;
      } finally {
        folios.folioUnlock(pfn);
        allocator.putPage(pfn);
      }
    }
  }

  /** {@code truncate_inode_folio()}: the folio is locked and referenced by the caller. */
  private void truncateFolio(long pfn, LongConsumer unmapper) {
    folios.folioWaitWriteback(pfn);
    if (unmapper != null) {
      unmapper.accept(pfn);
    }
    if (memmap.testFlag(pfn, PG_PRIVATE)) {
      aops.invalidateFolio(this, pfn, 0, folioSize(pfn));
    }
    folioCancelDirty(pfn);
    filemapRemoveFolio(pfn);
  }

  /** {@code truncate_inode_partial_folio()} when the split fails: zero the truncated pages. */
  private void truncatePartialFolio(long pfn, int keepPages, int nr) {
    folios.folioWaitWriteback(pfn);
    for (int i = keepPages; i < nr; i++) {
      mem.ram().zeroPage(pfn + i);
    }
    if (memmap.testFlag(pfn, PG_PRIVATE)) {
      aops.invalidateFolio(
          this, pfn, keepPages * Page.PAGE_SIZE, (nr - keepPages) * Page.PAGE_SIZE);
    }
  }

  /** {@code folio_cancel_dirty()}: truncation drops the dirty data; accounting follows. */
  private void folioCancelDirty(long pfn) {
    if (memmap.testAndClearFlag(pfn, PG_DIRTY)) {
      accountCleaned(pfn);
    }
  }

  /**
   * {@code truncate_inode_pages_final()} then {@code clear_inode()}: marks the mapping {@code
   * AS_EXITING}, empties it and unregisters it, so {@link PhysicalMemory#mapping(long)} no longer
   * finds it.
   */
  public void truncateInodePagesFinal(LongConsumer unmapper) {
    setFlag(AS_EXITING);
    truncateInodePages(0, unmapper);
    mem.pageCache().unregister(id);
  }

  // ---------------------------------------------------------------- dirty and writeback

  /**
   * {@code filemap_dirty_folio()}: sets {@code PG_dirty}; if it was clean and is still in this
   * cache, accounts it and sets its dirty tag.
   *
   * @return true if the folio was newly dirtied
   */
  public boolean filemapDirtyFolio(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (memmap.testAndSetFlag(head, PG_DIRTY)) {
      return false;
    }
    boolean accounted = false;
    synchronized (xaLock) {
      if (memmap.mapping(head) == id) {
        nrDirty.addAndGet(1 << memmap.folioOrder(head));
        tree.setTag(memmap.index(head), TAG_DIRTY);
        accounted = true;
      }
    }
    if (accounted && !memmap.testFlag(head, PG_UPTODATE) && !memmap.testFlag(head, PG_PRIVATE)) {
      folios.warnOnce(
          FolioOps.WARN_DIRTY_NOT_UPTODATE,
          "__folio_mark_dirty(): dirtying pfn " + head + " that is not uptodate");
    }
    return true;
  }

  /**
   * {@code filemap_page_mkwrite()}: see {@link AddressSpaceOperations#pageMkwrite}.
   *
   * @return 0, or {@link VmFault#VM_FAULT_NOPAGE} if the folio was truncated
   */
  public int filemapPageMkwrite(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    folios.folioLock(head);
    try {
      if (memmap.mapping(head) != id) {
        return VmFault.VM_FAULT_NOPAGE;
      }
      folios.folioMarkDirty(head);
      folios.folioWaitStable(head);
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
  public void forEachDirty(long start, long end, LongConsumer action) {
    long idx = Math.max(start, 0);
    while (idx <= end) {
      long at;
      synchronized (xaLock) {
        at = tree.nextTagged(idx, end, TAG_DIRTY);
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

  /** {@code filemap_fdatawrite()}: {@code ->writepages} over the whole file. */
  public int writepages() {
    return aops.writepages(this, 0, MAX_INDEX);
  }

  /**
   * {@code filemap_write_and_wait()}: writes every dirty folio, waits for the writeback and returns
   * (and clears) the first error, as {@code fsync} reports it.
   */
  public int filemapWriteAndWait() {
    int err = writepages();
    long idx = 0;
    while (idx <= MAX_INDEX) {
      long pfn;
      synchronized (xaLock) {
        long at = tree.nextTagged(idx, MAX_INDEX, TAG_WRITEBACK);
        if (at == PageCacheTree.NONE) {
          break;
        }
        pfn = tree.get(at);
        memmap.refAdd(pfn, 1);
        idx = at + (1L << memmap.folioOrder(pfn));
      }
      folios.folioWaitWriteback(pfn);
      allocator.putPage(pfn);
    }
    int checked = filemapCheckErrors();
    return err != 0 ? err : checked;
  }

  /**
   * {@code write_cache_pages()} ({@code WB_SYNC_ALL}) over {@code ->writeFolio}, synchronously: for
   * each folio tagged dirty in {@code [startIndex, endIndex]}: lock, wait for earlier writeback,
   * {@code folio_clear_dirty_for_io()}, start writeback, write, end writeback, unlock. A write
   * error is recorded ({@link #mappingSetError}) and the walk goes on; a folio whose write answers
   * {@code AOP_WRITEPAGE_ACTIVATE} is redirtied.
   *
   * @return 0, or the first negative errno
   */
  public int writeCachePages(long startIndex, long endIndex) {
    health.checkAlive();
    int first = 0;
    long idx = Math.max(startIndex, 0);
    long end = Math.min(endIndex, MAX_INDEX);
    while (idx <= end) {
      long pfn;
      long at;
      synchronized (xaLock) {
        at = tree.nextTagged(idx, end, TAG_DIRTY);
        if (at == PageCacheTree.NONE) {
          break;
        }
        pfn = tree.get(at);
        memmap.refAdd(pfn, 1);
      }
      idx = at + (1L << memmap.folioOrder(pfn));
      folios.folioLock(pfn);
      try {
        if (memmap.mapping(pfn) != id) {
          continue; // truncated meanwhile
        }
        if (!memmap.testFlag(pfn, PG_DIRTY)) {
          synchronized (xaLock) {
            tree.clearTag(at, TAG_DIRTY); // cleaned by someone else without writeback
          }
          continue;
        }
        folios.folioWaitWriteback(pfn);
        if (!folios.folioClearDirtyForIo(pfn)) {
          continue;
        }
        folios.folioStartWriteback(pfn);
        int err = aops.writeFolio(this, pfn);
        if (err < 0) {
          mappingSetError(err);
          if (first == 0) {
            first = err;
          }
        }
        folios.folioEndWriteback(pfn);
        if (err == AddressSpaceOperations.AOP_WRITEPAGE_ACTIVATE) {
          folios.folioMarkDirty(pfn); // nothing was written: redirty
        }
      } finally {
        folios.folioUnlock(pfn);
        allocator.putPage(pfn);
      }
    }
    return first;
  }

  /** {@code folio_account_cleaned()} for a folio of this cache that lost {@code PG_dirty}. */
  void accountCleaned(long head) {
    nrDirty.addAndGet(-(1 << memmap.folioOrder(head)));
  }

  /** The tree half of {@code __folio_start_writeback()}. */
  void startWritebackLocked(long head) {
    synchronized (xaLock) {
      memmap.setFlag(head, PG_WRITEBACK);
      if (memmap.mapping(head) != id) {
        return;
      }
      long index = memmap.index(head);
      tree.setTag(index, TAG_WRITEBACK);
      if (!memmap.testFlag(head, PG_DIRTY)) {
        tree.clearTag(index, TAG_DIRTY);
      }
      tree.clearTag(index, TAG_TOWRITE);
      nrWriteback.addAndGet(1 << memmap.folioOrder(head));
    }
  }

  /** The tree half of {@code __folio_end_writeback()}. */
  void endWritebackLocked(long head) {
    synchronized (xaLock) {
      memmap.clearFlag(head, PG_WRITEBACK);
      if (memmap.mapping(head) == id) {
        tree.clearTag(memmap.index(head), TAG_WRITEBACK);
        nrWriteback.addAndGet(-(1 << memmap.folioOrder(head)));
      }
    }
  }

  // ---------------------------------------------------------------- migration

  /**
   * {@code filemap_migrate_folio()}: {@code folio_migrate_mapping()} then {@code
   * folio_migrate_flags()}. Both folios must be locked ({@code BUG} otherwise); {@code src} must be
   * unmapped (the caller installed migration entries) and {@code dst} new. Under {@code xa_lock}
   * the refcount of {@code src} is frozen at {@link FolioOps#expectedRefcount} (-{@code EAGAIN} if
   * it is anything else: a GUP pin, a transient lookup); then contents, flags, private data and the
   * cache slots move to {@code dst}, which gains the cache's references that {@code src} loses.
   *
   * @return 0; {@code -EAGAIN} for unexpected references, a mapped or truncated {@code src}; {@code
   *     -EBUSY} under writeback; {@code -EINVAL} for folios of different sizes
   */
  public int filemapMigrateFolio(long dst, long src) {
    memmap.checkPfn(dst);
    memmap.checkPfn(src);
    health.checkAlive();
    if (!memmap.testFlag(src, PG_LOCKED) || !memmap.testFlag(dst, PG_LOCKED)) {
      throw health.bug(
          "VM_BUG_ON_FOLIO(!folio_test_locked()): move_to_new_folio() src " + src + " dst " + dst);
    }
    if (memmap.testFlag(src, PG_TAIL)
        || memmap.testFlag(dst, PG_TAIL)
        || memmap.folioOrder(src) != memmap.folioOrder(dst)) {
      return -Errno.EINVAL.number();
    }
    if (memmap.mapping(dst) != 0 || memmap.testFlag(dst, PG_ANON) || memmap.refcount(dst) <= 0) {
      throw health.bug("migrate_folio: destination pfn " + dst + " is not a new folio");
    }
    if (memmap.mapping(src) != id || memmap.testFlag(src, PG_ANON)) {
      return -Errno.EAGAIN.number();
    }
    if (memmap.testFlag(src, PG_WRITEBACK)) {
      return -Errno.EBUSY.number();
    }
    if (folios.folioMapped(src)) {
      return -Errno.EAGAIN.number();
    }
    int nr = 1 << memmap.folioOrder(src);
    int expected = folios.expectedRefcount(src);
    boolean priv = memmap.testFlag(src, PG_PRIVATE);
    long index = memmap.index(src);
    synchronized (xaLock) {
      if (!memmap.refCompareAndSet(src, expected, 0)) {
        return -Errno.EAGAIN.number(); // folio_ref_freeze() failed: someone else holds it
      }
      // Frozen: no one can look src up or take a reference; no turning back.
      for (int i = 0; i < nr; i++) {
        mem.ram().copyPage(dst + i, src + i);
      }
      migrateFlags(dst, src);
      memmap.setIndex(dst, index);
      memmap.setMapping(dst, id);
      memmap.refAdd(dst, nr + (priv ? 1 : 0));
      if (priv) {
        memmap.setPrivateData(dst, memmap.privateData(src));
        memmap.setFlag(dst, PG_PRIVATE);
        memmap.setPrivateData(src, 0);
        memmap.clearFlag(src, PG_PRIVATE);
      }
      if (memmap.testAndClearFlag(src, PG_DIRTY)) {
        memmap.setFlag(dst, PG_DIRTY);
      }
      for (int i = 0; i < nr; i++) {
        tree.replace(index + i, dst);
      }
      memmap.setMapping(src, 0); // page-cache folios lose their mapping before they are freed
      memmap.setRefcount(src, expected - nr - (priv ? 1 : 0));
    }
    return 0;
  }

  /** {@code folio_migrate_flags()}: the state bits that describe contents, not the frame. */
  private void migrateFlags(long dst, long src) {
    for (int bit : MIGRATED_FLAGS) {
      if (memmap.testAndClearFlag(src, bit)) {
        memmap.setFlag(dst, bit);
      }
    }
  }

  private static final int[] MIGRATED_FLAGS = {
    PG_UPTODATE, PG_REFERENCED, PG_ACTIVE, PG_WORKINGSET, PG_UNEVICTABLE, PG_OWNER_PRIV_1
  };

  @Override
  public String toString() {
    return "address_space#" + id + "[nrpages=" + nrPages + ", size=" + size + "]";
  }
}
