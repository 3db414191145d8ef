package dev.refkern.mm.spi;

import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.VmFault;
import org.apiguardian.api.API;

/**
 * What a filesystem provides to its page cache, {@code struct address_space_operations} ({@code
 * include/linux/fs.h}), plus the {@code vm_operations_struct.page_mkwrite} hook.
 *
 * <p>Folios are passed by head pfn. A filesystem with a backing store writes {@link #readFolio} and
 * {@link #writeFolio}. {@link #dirtyFolio} and {@link #invalidateFolio} default to the kernel's
 * generic helper. {@link #pageMkwrite}, {@link #writepages} and {@link #migrateFolio} default to
 * {@link #GENERIC}, the kernel's NULL op: their generic helpers ({@code filemap_page_mkwrite},
 * {@code write_cache_pages}, {@code filemap_migrate_folio}) live in {@code dev.refkern.mm.vm},
 * which this SPI sits below, so the caller there runs them. Errors are negative errnos, as in the
 * kernel.
 */
@API(status = STABLE, since = "0.1.0")
public interface AddressSpaceOperations {
  /**
   * {@code AOP_WRITEPAGE_ACTIVATE}: {@link #writeFolio} wrote nothing and the folio stays dirty
   * (what {@code shmem_writepage()} answers when there is nowhere to write).
   */
  int AOP_WRITEPAGE_ACTIVATE = 0x80000;

  /**
   * The op is not provided (a NULL pointer in the kernel's table): the caller runs the generic
   * helper. Never a valid errno, {@code VM_FAULT_*} or {@link #AOP_WRITEPAGE_ACTIVATE}.
   */
  int GENERIC = Integer.MIN_VALUE;

  /**
   * {@code ->read_folio}: fills the locked folio from the backing store, sets {@code PG_uptodate}
   * on success and unlocks it in every case (possibly later, from I/O completion).
   *
   * @return 0, or a negative errno ({@code -EIO})
   */
  int readFolio(AddressSpace mapping, long pfn);

  /**
   * The per-folio write that {@link #writepages}'s default drives (the kernel's old {@code
   * ->writepage}, now a filesystem's {@code writeback_iter()} loop body): copies the folio to the
   * backing store. Called with the folio locked and under writeback; must not unlock it or end the
   * writeback. Default: no backing store, {@link #AOP_WRITEPAGE_ACTIVATE}.
   *
   * @return 0, {@link #AOP_WRITEPAGE_ACTIVATE} to keep the folio dirty, or a negative errno ({@code
   *     -EIO}, {@code -ENOSPC})
   */
  default int writeFolio(AddressSpace mapping, long pfn) {
    return AOP_WRITEPAGE_ACTIVATE;
  }

  /**
   * {@code ->dirty_folio}: default {@code filemap_dirty_folio()}: sets {@code PG_dirty}, accounts
   * it and sets the dirty tag.
   *
   * @return true if the folio was newly dirtied
   */
  default boolean dirtyFolio(AddressSpace mapping, long pfn) {
    return mapping.folios().filemapDirtyFolio(mapping, pfn);
  }

  /**
   * {@code ->page_mkwrite}: a shared mapping is about to write the folio (the filesystem allocates
   * blocks, starts a journal handle, waits for stable pages). Default {@link #GENERIC}: the fault
   * runs {@code filemap_page_mkwrite()}: lock, mark dirty, {@code folio_wait_stable()}, unlock.
   *
   * @return 0 when the write may proceed (the folio is dirty and unlocked), {@link
   *     VmFault#VM_FAULT_NOPAGE} if the folio was truncated meanwhile, {@link
   *     VmFault#VM_FAULT_SIGBUS} or a negative errno to refuse, {@link #GENERIC}
   */
  default int pageMkwrite(AddressSpace mapping, long pfn) {
    return GENERIC;
  }

  /**
   * {@code ->writepages}: writes the dirty folios with index in {@code [startIndex, endIndex]}
   * (inclusive, like {@code wbc->range_end}). Default {@link #GENERIC}: {@code do_writepages()}
   * runs {@code write_cache_pages()} over {@link #writeFolio}, synchronous: each folio is locked,
   * cleaned for I/O, under writeback while written, then unlocked. An error is recorded in the
   * mapping ({@code mapping_set_error()}) and the walk goes on.
   *
   * @return 0, the first negative errno, or {@link #GENERIC}
   */
  default int writepages(AddressSpace mapping, long startIndex, long endIndex) {
    return GENERIC;
  }

  /**
   * {@code ->migrate_folio}: moves the locked, unmapped folio {@code src} to the locked new folio
   * {@code dst}. Default {@link #GENERIC}: migration runs {@code filemap_migrate_folio()}, which
   * refuses with {@code -EAGAIN} unless the refcount is exactly the expected one, else copies
   * contents and flags and moves the cache slot.
   *
   * @return 0, a negative errno, or {@link #GENERIC}
   */
  default int migrateFolio(AddressSpace mapping, long dst, long src) {
    return GENERIC;
  }

  /**
   * The private-data half of {@code ->migrate_folio} ({@code buffer_migrate_folio()} moving the
   * buffer heads): the locked folio {@code src}'s private data, now {@code dst}'s ({@code
   * PG_private} moved, {@code dst} in the cache slot), must name {@code dst}. Called by migrations
   * that keep the data in place for the driver to copy (a device-private page-cache folio coming
   * home, {@code hmm.file_pages=}, seed 004). Default: nothing, for private data that names no
   * folio.
   *
   * @param mapping the folio's {@code AddressSpace}; typed {@code Object} so that this SPI adds no
   *     dependency on {@code dev.refkern.mm} to the frozen package cycles
   */
  default void migratePrivate(Object mapping, long dst, long src) {}

  /**
   * {@code ->invalidate_folio}: truncate is dropping bytes {@code [offset, offset + length)} of a
   * folio with {@code PG_private}. Default: when the whole folio goes, detach the private data
   * ({@code folio_detach_private()}) so its reference does not keep the folio alive.
   */
  default void invalidateFolio(AddressSpace mapping, long pfn, int offset, int length) {
    if (offset == 0 && length >= mapping.folioSize(pfn)) {
      mapping.folios().folioDetachPrivate(pfn);
    }
  }

  /**
   * {@link #writeFolio} from another page: writes the contents of {@code dataPfn} (a bounce folio
   * of the same order, in no mapping, that writeback copied the locked folio {@code pfn} into) as
   * {@code pfn}'s data, at {@code pfn}'s index. Same locking and results as {@link #writeFolio}. It
   * is how {@code writeback.pinned=bounce} (and {@code skip}'s integrity writeback) keeps DMA out
   * of the written data, the way {@code fscrypt} and {@code blk_queue_bounce()} write a copy.
   *
   * <p>Default: when {@code dataPfn == pfn}, {@link #writeFolio}; otherwise {@link #GENERIC}: the
   * filesystem cannot write from another page and writeback then writes the folio itself, as
   * mainline does. A filesystem with a backing store overrides it.
   */
  default int writeFolioFrom(AddressSpace mapping, long pfn, long dataPfn) {
    return dataPfn == pfn ? writeFolio(mapping, pfn) : GENERIC;
  }
}
