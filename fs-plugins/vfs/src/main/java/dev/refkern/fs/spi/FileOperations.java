package dev.refkern.fs.spi;

import static dev.refkern.mm.Page.PAGE_SHIFT;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.vm.Filemap;
import dev.refkern.mm.vm.VirtualMemory;
import org.apiguardian.api.API;

/**
 * The operations on a filesystem's open regular files that are not plain page-cache I/O, {@code
 * struct file_operations} ({@code include/linux/fs.h}): {@code ->fallocate} and {@code ->fsync}.
 * The VFS checks the arguments first ({@code vfs_fallocate()}, {@code vfs_fsync_range()}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface FileOperations {
  /** No {@code ->fallocate}, and {@code ->fsync} that writes the page cache back and waits. */
  FileOperations GENERIC = new FileOperations() {};

  /**
   * {@code ->fallocate(file, mode, offset, len)}: {@code mode} is 0, {@code FALLOC_FL_KEEP_SIZE} or
   * {@code FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE} (the VFS refuses the rest of what it knows);
   * called without the inode's monitor held. Default: not supported.
   *
   * @throws KernelException {@code EOPNOTSUPP} for a mode it does not do, {@code ENOSPC}, {@code
   *     ENOMEM}
   */
  default void fallocate(Inode inode, int mode, long offset, long len) {
    throw new KernelException(Errno.EOPNOTSUPP, inode.sb().type().name() + " has no fallocate");
  }

  /**
   * {@code ->fsync(file, start, end, datasync)}: bytes {@code [start, end]} (inclusive) reach
   * stable storage, and the inode's metadata too unless {@code datasync} and only timestamps
   * changed. Default {@code generic_file_fsync()}: {@link #fileWriteAndWaitRange}; inodes have no
   * on-disk form yet.
   *
   * @throws KernelException {@code EIO}, {@code ENOSPC}: a writeback error since the last fsync
   */
  default void fsync(Inode inode, long start, long end, boolean datasync) {
    fileWriteAndWaitRange(inode, start, end);
  }

  /**
   * {@code file_write_and_wait_range()}: writes the dirty folios of bytes {@code [start, end]},
   * waits for their writeback and reports (and clears) a recorded writeback error.
   *
   * @throws KernelException {@code EIO}, {@code ENOSPC}
   */
  static void fileWriteAndWaitRange(Inode inode, long start, long end) {
    AddressSpace mapping = inode.mapping();
    if (mapping == null || end < start) {
      return;
    }
    VirtualMemory vm = inode.sb().vm();
    Filemap filemap = vm.filemap();
    long first = start >>> PAGE_SHIFT;
    long last = Math.min(end >>> PAGE_SHIFT, AddressSpace.MAX_INDEX);
    int err;
    if (first == 0 && last == AddressSpace.MAX_INDEX) {
      err = filemap.filemapWriteAndWait(mapping);
    } else {
      err = vm.pageWriteback().doWritepages(mapping, first, last);
      for (long i = first; i <= last; i++) { // __filemap_fdatawait_range()
        if (mapping.testWritebackTag(i)) {
          long pfn = filemap.filemapGetFolio(mapping, i);
          if (pfn != PageAllocator.NO_PFN) {
            mapping.folios().folioWaitWriteback(pfn);
            mapping.physicalMemory().allocator().putPage(pfn);
          }
        }
      }
      int checked = filemap.filemapCheckErrors(mapping);
      err = err != 0 ? err : checked;
    }
    if (err < 0) {
      throw new KernelException(Errno.of(-err), "writeback of " + inode + " failed");
    }
  }
}
