package dev.refkern.fs.ext4.internal;

import static dev.refkern.fs.ext4.internal.Disk.BLOCK;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.Falloc;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import org.apiguardian.api.API;

/**
 * {@code ext4_fallocate()} ({@code fs/ext4/extents.c}, read at torvalds/linux v6.6): mode 0 and
 * {@code FALLOC_FL_KEEP_SIZE} allocate unwritten extents ({@code ext4_alloc_file_blocks()}), {@code
 * FALLOC_FL_ZERO_RANGE} turns the range into unwritten extents ({@code ext4_zero_range()}), {@code
 * FALLOC_FL_PUNCH_HOLE} frees it ({@code ext4_punch_hole()}); collapse, insert and unshare are
 * {@code EOPNOTSUPP} here. An unwritten extent reads as zeros and becomes initialized when its data
 * has been written ({@code ext4_convert_unwritten_extents_endio()}), so a power cut never shows
 * what its blocks held before.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class Ext4Fallocate {
  private Ext4Fallocate() {}

  /**
   * {@code ext4_fallocate(file, mode, offset, len)} on {@code inode} of {@code fs}; {@code
   * vfs_fallocate()} has checked the mode's combinations and the range.
   *
   * @throws KernelException {@code EOPNOTSUPP} for an unsupported mode or a file without an extent
   *     tree, {@code ENOSPC} (what was allocated before stays, as in the kernel), {@code EFBIG},
   *     {@code EUCLEAN} for a bad tree
   */
  public static void fallocate(Ext4Sb fs, Inode inode, int mode, long offset, long len) {
    boolean keep = (mode & Falloc.FALLOC_FL_KEEP_SIZE) != 0;
    int op = mode & ~Falloc.FALLOC_FL_KEEP_SIZE;
    if (op == Falloc.FALLOC_FL_PUNCH_HOLE) {
      fs.punchHole(inode, offset, len);
    } else if (op == 0) {
      allocate(fs, inode, keep, offset, len);
    } else if (op == Falloc.FALLOC_FL_ZERO_RANGE) {
      zeroRange(fs, inode, keep, offset, len);
    } else {
      throw new KernelException(Errno.EOPNOTSUPP, "ext4: fallocate mode " + mode);
    }
  }

  private static void allocate(Ext4Sb fs, Inode inode, boolean keep, long offset, long len) {
    synchronized (inode) { // i_rwsem
      long end = offset + len;
      long sizeTo = keep || end <= inode.size() ? -1 : end;
      try {
        fs.allocUnwritten(inode, offset / BLOCK, (end + BLOCK - 1) / BLOCK, sizeTo);
      } finally {
        inode.touchModified(); // each allocation step changed the inode
      }
    }
  }

  /**
   * {@code ext4_zero_range()}: the range written back, its holes allocated unwritten (edges
   * included), its whole blocks made unwritten and dropped from the page cache, its partial blocks
   * zeroed in the page cache; {@code i_size} grows to its end unless {@code keep}.
   */
  private static void zeroRange(Ext4Sb fs, Inode inode, boolean keep, long offset, long len) {
    synchronized (inode) {
      long end = offset + len;
      FileOperations.fileWriteAndWaitRange(inode, offset, end - 1);
      long sizeTo = keep || end <= inode.size() ? -1 : end;
      fs.allocUnwritten(inode, offset / BLOCK, (end + BLOCK - 1) / BLOCK, sizeTo);
      long firstWhole = (offset + BLOCK - 1) / BLOCK;
      long lastWhole = end / BLOCK; // exclusive
      if (lastWhole > firstWhole) {
        fs.markUnwritten(inode, firstWhole, lastWhole); // before the cache drop: no stale reread
        long perPage = Page.PAGE_SIZE / BLOCK;
        long firstPage = (firstWhole + perPage - 1) / perPage;
        long endPage = lastWhole / perPage;
        if (endPage > firstPage) {
          fs.sb().vm().truncate().truncateInodePagesRange(inode.mapping(), firstPage, endPage - 1);
        }
      }
      long size = inode.size();
      if (offset % BLOCK != 0 && offset < size) {
        fs.zeroInCache(inode, offset, Math.min(Math.min(end, firstWhole * BLOCK), size));
      }
      long tail = Math.max(lastWhole * BLOCK, offset);
      if (end % BLOCK != 0 && tail < size && lastWhole >= firstWhole) {
        fs.zeroInCache(inode, tail, Math.min(end, size));
      }
      inode.touchModified();
    }
  }
}
