package dev.refkern.fs.internal;

import static dev.refkern.mm.Page.PAGE_SHIFT;
import static dev.refkern.mm.Page.PAGE_SIZE;

import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Filemap;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.BitSet;

/**
 * {@code shmem_file_operations} for tmpfs files: {@code shmem_fallocate()} and {@code noop_fsync()}
 * (nothing is ever written back).
 */
final class ShmemFileOps implements FileOperations {
  private static final int KEEP_SIZE = 0x01; // FALLOC_FL_KEEP_SIZE
  private static final int PUNCH_HOLE = 0x02; // FALLOC_FL_PUNCH_HOLE
  private static final byte[] ZEROES = new byte[PAGE_SIZE];

  @Override
  public void fsync(Inode inode, long start, long end, boolean datasync) {
    // noop_fsync(): the page cache is the only copy
  }

  @Override
  public void fallocate(Inode inode, int mode, long offset, long len) {
    if ((mode & ~(KEEP_SIZE | PUNCH_HOLE)) != 0) {
      throw new KernelException(Errno.EOPNOTSUPP, "shmem_fallocate: mode " + mode);
    }
    synchronized (inode) { // inode_lock()
      if ((mode & PUNCH_HOLE) != 0) {
        punchHole(inode, offset, offset + len - 1);
      } else {
        allocate(inode, offset, len, (mode & KEEP_SIZE) != 0);
      }
      inode.touchModified();
    }
  }

  /**
   * {@code unmap_mapping_range()} and {@code shmem_truncate_range()}: whole pages in {@code [start,
   * end]} leave the cache (and every mapping); the partial pages at either end keep their place but
   * read zeros in the range.
   */
  private static void punchHole(Inode inode, long start, long end) {
    AddressSpace mapping = inode.mapping();
    VirtualMemory vm = inode.sb().vm();
    long first = start >>> PAGE_SHIFT;
    long last = end >>> PAGE_SHIFT;
    int from = (int) (start & (PAGE_SIZE - 1));
    int to = (int) (end & (PAGE_SIZE - 1)) + 1; // exclusive
    vm.truncate().breakLayouts(null, mapping, first, last); // EINTR before anything changes
    if (first == last) {
      if (from != 0 || to != PAGE_SIZE) {
        zeroPartial(vm, mapping, first, from, to);
        return;
      }
    } else {
      if (from != 0) {
        zeroPartial(vm, mapping, first, from, PAGE_SIZE);
      }
      if (to != PAGE_SIZE) {
        zeroPartial(vm, mapping, last, 0, to);
      }
    }
    long firstWhole = from == 0 ? first : first + 1;
    long lastWhole = to == PAGE_SIZE ? last : last - 1;
    if (firstWhole <= lastWhole) {
      vm.truncate().truncateInodePagesRange(mapping, firstWhole, lastWhole);
    }
  }

  /** {@code truncate_inode_partial_folio()}: bytes {@code [from, to)} of a cached page read 0. */
  private static void zeroPartial(
      VirtualMemory vm, AddressSpace mapping, long index, int from, int to) {
    Filemap filemap = vm.filemap();
    long pfn = filemap.filemapGetFolio(mapping, index);
    if (pfn == PageAllocator.NO_PFN) {
      return; // a hole already
    }
    mapping.folios().folioLock(pfn);
    try {
      if (vm.physicalMemory().memmap().mapping(pfn) == mapping.id()) {
        mapping.folios().folioWaitWriteback(pfn);
        vm.physicalMemory().ram().write(pfn, from, ZEROES, 0, to - from);
      }
    } finally {
      mapping.folios().folioUnlock(pfn);
      vm.physicalMemory().allocator().putPage(pfn);
    }
  }

  /**
   * The allocating half of {@code shmem_fallocate()}: every page of the range is instantiated,
   * zeroed, uptodate and dirty (so reclaim would have to swap it, not drop it). On failure the
   * pages this call added are removed again ({@code shmem_undo_range()}) and the size is unchanged.
   */
  private static void allocate(Inode inode, long offset, long len, boolean keepSize) {
    AddressSpace mapping = inode.mapping();
    VirtualMemory vm = inode.sb().vm();
    PhysicalMemory mem = vm.physicalMemory();
    Filemap filemap = vm.filemap();
    long first = offset >>> PAGE_SHIFT;
    long last = (offset + len - 1) >>> PAGE_SHIFT;
    BitSet added = new BitSet(); // one per call: which pages to undo
    for (long i = first; i <= last; i++) {
      long pfn = filemap.filemapGetFolio(mapping, i);
      boolean existed = pfn != PageAllocator.NO_PFN;
      if (existed) {
        mem.allocator().putPage(pfn);
      }
      try {
        pfn = filemap.filemapGrabFolio(mapping, i);
      } catch (KernelException e) {
        undo(vm, mapping, first, added);
        throw e;
      }
      try {
        if (!mem.memmap().testFlag(pfn, PageFlags.PG_UPTODATE)) {
          mem.ram().zeroPage(pfn);
          mapping.folios().folioMarkUptodate(pfn);
        }
        mapping.aops().dirtyFolio(mapping, pfn);
      } finally {
        mapping.folios().folioUnlock(pfn);
        mem.allocator().putPage(pfn);
      }
      if (!existed) {
        added.set((int) (i - first));
      }
    }
    if (!keepSize && offset + len > inode.size()) {
      inode.setSize(offset + len);
    }
  }

  /** {@code shmem_undo_range()}: removes the pages this call added, run by run. */
  private static void undo(VirtualMemory vm, AddressSpace mapping, long first, BitSet added) {
    for (int from = added.nextSetBit(0); from >= 0; from = added.nextSetBit(from)) {
      int to = added.nextClearBit(from);
      vm.truncate().truncateInodePagesRange(mapping, first + from, first + to - 1);
      from = to;
    }
  }
}
