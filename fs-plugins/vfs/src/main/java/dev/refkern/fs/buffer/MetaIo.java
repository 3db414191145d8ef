package dev.refkern.fs.buffer;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BioBatch;
import dev.refkern.block.BioOp;
import dev.refkern.block.BlockDevice;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import org.apiguardian.api.API;

/**
 * Metadata block I/O, what {@code sb_bread()}/{@code sync_dirty_buffer()} ({@code fs/buffer.c})
 * give a filesystem: one block of up to a page through a page of its own, waited for. Not per page
 * of file data: superblocks, bitmaps, inode tables and directories.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class MetaIo {
  private final PhysicalMemory mem;
  private final BlockDevice bdev;
  private final int blockSize;
  private final String fs;

  /** Block I/O of {@code fs} (named in errors) on {@code bdev}, blocks of {@code blockSize}. */
  public MetaIo(PhysicalMemory mem, BlockDevice bdev, int blockSize, String fs) {
    if (blockSize < Bio.SECTOR_SIZE || blockSize > dev.refkern.mm.Page.PAGE_SIZE) {
      throw new IllegalArgumentException("block size " + blockSize);
    }
    this.mem = mem;
    this.bdev = bdev;
    this.blockSize = blockSize;
    this.fs = fs;
  }

  /** Reads block {@code blk}. @throws KernelException {@code EIO} */
  public byte[] read(long blk) {
    byte[] out = new byte[blockSize];
    io(BioOp.READ, blk, out, 0);
    return out;
  }

  /**
   * Writes block {@code blk} with {@code REQ_*} {@code flags}. @throws KernelException {@code EIO}
   */
  public void write(long blk, byte[] data, int flags) {
    io(BioOp.WRITE, blk, data, flags);
  }

  /** {@code blkdev_issue_flush()}: every completed write durable. */
  public void flush() {
    check(BioBatch.submitBioWait(mem.scheduler(), bdev, new Bio(BioOp.FLUSH, 0, 0)), "flush");
  }

  private void io(BioOp op, long blk, byte[] data, int flags) {
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    if (pfn == PageAllocator.NO_PFN) {
      throw new KernelException(Errno.ENOMEM, "no page for " + fs + " metadata");
    }
    try {
      if (op == BioOp.WRITE) {
        mem.ram().write(pfn, 0, data, 0, blockSize);
      }
      Bio bio = new Bio(op, blk * (blockSize / Bio.SECTOR_SIZE), flags, 1);
      bio.addPage(pfn, 0, blockSize);
      check(BioBatch.submitBioWait(mem.scheduler(), bdev, bio), op + " of block " + blk);
      if (op == BioOp.READ) {
        mem.ram().read(pfn, 0, data, 0, blockSize);
      }
    } finally {
      mem.allocator().putPage(pfn);
    }
  }

  private void check(int status, String what) {
    if (status != 0) {
      throw new KernelException(Errno.EIO, fs + ": " + what + " on " + bdev.name() + " failed");
    }
  }
}
