package dev.refkern.mm;

import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_DIRTY;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_WRITEBACK;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.internal.MmInternals;
import dev.refkern.mm.internal.pagecache.AddressSpaceState;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.spi.AddressSpaceOperations;
import org.apiguardian.api.API;

/**
 * A file's page cache, {@code struct address_space} ({@code include/linux/fs.h}): its state and
 * small accessors. The code that works on it is named after its kernel file: {@code
 * dev.refkern.mm.vm.Filemap} ({@code mm/filemap.c}), {@code Truncate} ({@code mm/truncate.c}),
 * {@code PageWriteback} ({@code mm/page-writeback.c}) and {@code Migrate} ({@code mm/migrate.c}).
 *
 * <p>The cache maps a page index to a folio (its head pfn) in an XArray-like radix tree with the
 * dirty, writeback and towrite tags, under one lock ({@code xa_lock}) that is never held across a
 * sleep. A folio of {@code nr} pages occupies {@code nr} aligned indices; its memmap {@code
 * mapping} is {@link #id()} and its {@code index} the first of them. The cache holds one reference
 * per page of each folio it contains ({@code folio_ref_add(folio, nr)}).
 */
@API(status = STABLE, since = "0.1.0")
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

  static {
    MmInternals.setAddressSpaceState(as -> as.state);
  }

  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final AddressSpaceOperations aops;
  private final FolioOps folios;
  private final long id;
  private final AddressSpaceState state;
  private final Errseq wbErr = new Errseq();
  private final Errseq hostSbErr; // i_sb->s_wb_err, or null
  private volatile long size;
  private volatile int gfpMask = Gfp.HIGHUSER_MOVABLE;

  private AddressSpace(PhysicalMemory mem, AddressSpaceOperations aops, Errseq hostSbErr) {
    this.mem = mem;
    this.memmap = mem.rawMemmap();
    this.aops = aops;
    this.folios = new FolioOps(mem);
    this.hostSbErr = hostSbErr;
    this.id = mem.pageCache().register(this);
    VmStat vs = mem.vmstat();
    this.state =
        new AddressSpaceState(
            id, memmap, mem.pageCache(), vs.adder(VmItem.NR_DIRTY), vs.adder(VmItem.NR_WRITEBACK));
  }

  /**
   * {@code inode_init_always()} for the mapping part: a new, empty page cache using {@code aops},
   * registered so {@link PhysicalMemory#mapping(long)} finds it by {@link #id()}.
   */
  public static AddressSpace create(PhysicalMemory mem, AddressSpaceOperations aops) {
    return create(mem, aops, null);
  }

  /**
   * {@link #create(PhysicalMemory, AddressSpaceOperations)} for an inode's mapping: writeback
   * errors are also recorded in {@code sbWbErr}, its superblock's {@code s_wb_err}, for {@code
   * syncfs()}.
   */
  public static AddressSpace create(
      PhysicalMemory mem, AddressSpaceOperations aops, Errseq sbWbErr) {
    if (aops == null) {
      throw new KernelException(Errno.EINVAL, "address_space without a_ops");
    }
    mem.health().checkAlive();
    return new AddressSpace(mem, aops, sbWbErr);
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
    return state.flags.get();
  }

  /** {@code mapping_set_stable_writes()} / {@code mapping_clear_stable_writes()}. */
  public void setStableWrites(boolean stable) {
    if (stable) {
      state.setFlag(AS_STABLE_WRITES);
    } else {
      state.testAndClearFlag(AS_STABLE_WRITES);
    }
  }

  /** {@code mapping_stable_writes()}. */
  public boolean stableWrites() {
    return (state.flags.get() & (1L << AS_STABLE_WRITES)) != 0;
  }

  /**
   * {@code mapping_set_error()}: records a writeback error for the next {@code fsync} of every open
   * file ({@link #wbErr()}, and the superblock's {@code s_wb_err}), and in the legacy {@code
   * AS_EIO}/{@code AS_ENOSPC} bits.
   */
  public void mappingSetError(int err) {
    if (err >= 0) {
      return;
    }
    wbErr.set(err);
    if (hostSbErr != null) {
      hostSbErr.set(err);
    }
    if (err == -Errno.ENOSPC.number()) {
      state.setFlag(AS_ENOSPC);
    } else if (err < 0) {
      state.setFlag(AS_EIO);
    }
  }

  /** {@code mapping->wb_err}: the writeback errors each open file reports once. */
  public Errseq wbErr() {
    return wbErr;
  }

  /** {@code mapping->nrpages}: pages in the cache. */
  public long nrPages() {
    return state.nrPages;
  }

  /** Dirty pages of this cache (its share of {@code NR_FILE_DIRTY}). */
  public long nrDirty() {
    return state.nrDirty.get();
  }

  /** Pages of this cache under writeback (its share of {@code NR_WRITEBACK}). */
  public long nrWriteback() {
    return state.nrWriteback.get();
  }

  /** {@code mapping_tagged(mapping, PAGECACHE_TAG_DIRTY)}. */
  public boolean taggedDirty() {
    synchronized (state.xaLock) {
      return state.tree.tagged(TAG_DIRTY);
    }
  }

  /** {@code xa_get_mark(&mapping->i_pages, index, PAGECACHE_TAG_DIRTY)}. */
  public boolean testDirtyTag(long index) {
    synchronized (state.xaLock) {
      return state.tree.getTag(index, TAG_DIRTY);
    }
  }

  /** {@code xa_get_mark(&mapping->i_pages, index, PAGECACHE_TAG_WRITEBACK)}. */
  public boolean testWritebackTag(long index) {
    synchronized (state.xaLock) {
      return state.tree.getTag(index, TAG_WRITEBACK);
    }
  }

  /** The private fields, for {@link FolioOps}' accounting. */
  AddressSpaceState state() {
    return state;
  }

  /** {@code folio_size()}: bytes of the folio containing {@code pfn}. */
  public int folioSize(long pfn) {
    memmap.checkPfn(pfn);
    return Page.PAGE_SIZE << memmap.folioOrder(memmap.compoundHead(pfn));
  }

  @Override
  public String toString() {
    return "address_space#" + id + "[nrpages=" + state.nrPages + ", size=" + size + "]";
  }
}
