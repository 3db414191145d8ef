package dev.refkern.fs.internal;

import static dev.refkern.mm.Page.PAGE_SHIFT;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.vm.Filemap;
import dev.refkern.mm.vm.VirtualMemory;
import org.apiguardian.api.API;

/**
 * The byte-range page-cache helpers direct I/O needs ({@code mm/filemap.c}: {@code
 * filemap_write_and_wait_range()}, {@code kiocb_write_and_wait()}, {@code
 * kiocb_invalidate_pages()}; {@code mm/truncate.c}: {@code invalidate_inode_pages2_range()}; read
 * at v6.6), built on mm-core's public page-cache calls.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class FilemapRange {
  private FilemapRange() {}

  /**
   * {@code filemap_write_and_wait_range()}: writes the dirty folios of bytes {@code [start, end]},
   * waits for their writeback and returns the mapping's recorded error.
   *
   * @return 0 or a negative errno
   */
  public static int writeAndWaitRange(
      VirtualMemory vm, AddressSpace mapping, long start, long end) {
    if (end < start || mapping.nrPages() == 0) {
      return 0;
    }
    long first = start >>> PAGE_SHIFT;
    long last = end >>> PAGE_SHIFT;
    int err = vm.pageWriteback().doWritepages(mapping, first, last);
    Filemap filemap = vm.filemap();
    FolioOps folios = mapping.folios();
    PageAllocator alloc = mapping.physicalMemory().allocator();
    for (long idx = first; idx <= last; idx++) {
      if (!mapping.testWritebackTag(idx)) {
        continue; // __filemap_fdatawait_range() walks the writeback tag only
      }
      long pfn = filemap.filemapGetFolio(mapping, idx);
      if (pfn != PageAllocator.NO_PFN) {
        folios.folioWaitWriteback(pfn);
        alloc.putPage(pfn);
      }
    }
    int checked = filemap.filemapCheckErrors(mapping);
    return err != 0 ? err : checked;
  }

  /**
   * {@code invalidate_inode_pages2_range()}: removes every folio of page indices {@code [first,
   * last]} from the cache. Each is locked, waited on for writeback and unmapped ({@code
   * unmap_mapping_folio()}, which moves a dirty pte's bit to the folio); one that is then dirty
   * (there is no {@code ->launder_folio}) or whose private data stays attached cannot go: {@code
   * -EBUSY}, and the walk goes on. A pinned clean folio leaves the cache like any other (the pin
   * keeps it alive), as in the kernel.
   *
   * @return 0, or {@code -EBUSY} if some folio stayed
   */
  public static int invalidateInodePages2Range(
      VirtualMemory vm, AddressSpace mapping, long first, long last) {
    if (mapping.nrPages() == 0) {
      return 0;
    }
    Filemap filemap = vm.filemap();
    FolioOps folios = mapping.folios();
    Memmap memmap = mapping.physicalMemory().memmap();
    PageAllocator alloc = mapping.physicalMemory().allocator();
    int ret = 0;
    for (long idx = first; idx <= last; ) {
      long pfn = filemap.filemapGetFolio(mapping, idx);
      if (pfn == PageAllocator.NO_PFN) {
        idx++;
        continue;
      }
      long next = memmap.index(pfn) + (1L << memmap.folioOrder(pfn));
      folios.folioLock(pfn);
      try {
        if (memmap.mapping(pfn) != mapping.id()) {
          continue; // truncated meanwhile
        }
        folios.folioWaitWriteback(pfn);
        if (folios.folioMapped(pfn)) {
          vm.unmapMappingFolio(pfn);
        }
        if (!invalidateCompleteFolio2(mapping, pfn, memmap)) {
          ret = -Errno.EBUSY.number();
        } else {
          filemap.filemapRemoveFolio(mapping, pfn);
        }
      } finally {
        folios.folioUnlock(pfn);
        alloc.putPage(pfn);
        idx = Math.max(idx + 1, next);
      }
    }
    return ret;
  }

  /** {@code invalidate_complete_folio2()} up to the removal: may the locked folio go? */
  private static boolean invalidateCompleteFolio2(AddressSpace mapping, long pfn, Memmap memmap) {
    if (memmap.testFlag(pfn, PageFlags.PG_DIRTY)) {
      return false; // folio_launder() has no ->launder_folio to call
    }
    if (memmap.testFlag(pfn, PageFlags.PG_PRIVATE)) {
      // filemap_release_folio() of a clean folio: its buffers go (try_to_free_buffers())
      mapping.aops().invalidateFolio(mapping, pfn, 0, mapping.folioSize(pfn));
      if (memmap.testFlag(pfn, PageFlags.PG_PRIVATE)) {
        return false;
      }
    }
    return !memmap.testFlag(pfn, PageFlags.PG_DIRTY);
  }
}
