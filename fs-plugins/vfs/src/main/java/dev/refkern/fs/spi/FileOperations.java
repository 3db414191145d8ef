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
 * struct file_operations} ({@code include/linux/fs.h}): {@code ->fallocate}, {@code
 * ->remap_file_range} and {@code ->fsync}. The VFS checks the arguments first ({@code
 * vfs_fallocate()}, {@code vfs_fsync_range()}).
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
   * {@code ->remap_file_range(file_in, pos_in, file_out, pos_out, len, remap_flags)} for a clone
   * ({@code FICLONE}, {@code FICLONERANGE}): {@code dst}'s bytes from {@code posOut} come to share
   * {@code src}'s blocks from {@code posIn}. The VFS has checked the descriptors, the superblock
   * and the file types ({@code do_clone_file_range()}); the filesystem calls {@link
   * #remapFileRangePrep} under both inodes' locks, then shares the extents. Default: not supported.
   *
   * @return the bytes remapped
   * @throws KernelException {@code EOPNOTSUPP} without reflink, {@code EINVAL} (unaligned,
   *     overlapping, past the source's EOF), {@code ENOSPC}, {@code EIO}
   */
  default long remapFileRange(Inode src, long posIn, Inode dst, long posOut, long len) {
    throw new KernelException(Errno.EOPNOTSUPP, src.sb().type().name() + " has no reflink");
  }

  /**
   * {@code generic_remap_file_range_prep()} for a clone ({@code fs/remap_range.c}): the range
   * checks of {@code generic_remap_checks()} with blocks of {@code blockSize}, then both ranges
   * written back and waited for. A length of 0 means to the source's EOF; a length reaching the
   * source's EOF may end in a partial block, linked only at or past the destination's EOF ({@code
   * generic_remap_check_len()}).
   *
   * @return the length to remap, 0 for nothing to do
   * @throws KernelException {@code EINVAL} (offsets not block aligned, {@code posIn} at or past the
   *     source's EOF, a length not block aligned short of it, ranges overlapping in one file),
   *     {@code EFBIG} ({@code posOut} at or past {@code s_maxbytes}), {@code EIO} from writeback
   */
  static long remapFileRangePrep(
      Inode in, long posIn, Inode out, long posOut, long len, int blockSize) {
    if (in.isDir() || out.isDir()) {
      throw new KernelException(Errno.EISDIR, "remap: a directory");
    }
    if (!in.isReg() || !out.isReg()) {
      throw new KernelException(Errno.EINVAL, "remap: not a regular file");
    }
    long sizeIn = in.size();
    if (len == 0) { // reflink goes to EOF
      if (posIn == sizeIn) {
        return 0;
      }
      if (posIn > sizeIn) {
        throw new KernelException(Errno.EINVAL, "remap: offset " + posIn + " past EOF " + sizeIn);
      }
      len = sizeIn - posIn;
    }
    // generic_remap_checks()
    if (posIn % blockSize != 0 || posOut % blockSize != 0) {
      throw new KernelException(
          Errno.EINVAL, "remap: offsets " + posIn + ", " + posOut + " not block aligned");
    }
    if (posIn + len < posIn || posOut + len < posOut) {
      throw new KernelException(Errno.EINVAL, "remap: range wraps");
    }
    if (posIn >= sizeIn) {
      throw new KernelException(Errno.EINVAL, "remap: offset " + posIn + " at or past EOF");
    }
    long count = Math.min(len, sizeIn - posIn);
    long max = out.sb().maxBytes();
    if (posOut >= max) { // generic_write_check_limits()
      throw new KernelException(Errno.EFBIG, "remap: destination " + posOut + " past s_maxbytes");
    }
    count = Math.min(count, max - posOut);
    long bcount;
    if (posIn + count == sizeIn) {
      bcount = (sizeIn + blockSize - 1) / blockSize * blockSize - posIn;
    } else {
      count -= count % blockSize;
      bcount = count;
    }
    if (in == out && posOut + bcount > posIn && posOut < posIn + bcount) {
      throw new KernelException(Errno.EINVAL, "remap: overlapping ranges in one file");
    }
    if (count != len) { // shortened, and a clone cannot say so
      throw new KernelException(Errno.EINVAL, "remap: length " + len + " would be shortened");
    }
    if (count == 0) {
      return 0;
    }
    fileWriteAndWaitRange(in, posIn, posIn + count - 1);
    fileWriteAndWaitRange(out, posOut, posOut + count - 1);
    // generic_remap_check_len(): a partial EOF block only at or past the destination's EOF
    if (count % blockSize != 0 && posOut + count < out.size()) {
      throw new KernelException(Errno.EINVAL, "remap: partial EOF block inside the destination");
    }
    return count;
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
