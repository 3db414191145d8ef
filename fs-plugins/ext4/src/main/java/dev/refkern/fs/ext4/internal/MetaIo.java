package dev.refkern.fs.ext4.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

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
 * Metadata block I/O, what {@code sb_bread()}/{@code sync_dirty_buffer()} give a filesystem: one
 * block through a page of its own, waited for.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class MetaIo {
  private final PhysicalMemory mem;
  private final BlockDevice bdev;

  public MetaIo(PhysicalMemory mem, BlockDevice bdev) {
    this.mem = mem;
    this.bdev = bdev;
  }

  /** Reads block {@code blk}. @throws KernelException {@code EIO} */
  public byte[] read(long blk) {
    byte[] out = new byte[Disk.BLOCK];
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
      throw new KernelException(Errno.ENOMEM, "no page for ext4 metadata");
    }
    try {
      if (op == BioOp.WRITE) {
        mem.ram().write(pfn, 0, data, 0, Disk.BLOCK);
      }
      Bio bio = new Bio(op, blk * (Disk.BLOCK / Bio.SECTOR_SIZE), flags, 1);
      bio.addPage(pfn, 0, Disk.BLOCK);
      check(BioBatch.submitBioWait(mem.scheduler(), bdev, bio), op + " of block " + blk);
      if (op == BioOp.READ) {
        mem.ram().read(pfn, 0, data, 0, Disk.BLOCK);
      }
    } finally {
      mem.allocator().putPage(pfn);
    }
  }

  private void check(int status, String what) {
    if (status != 0) {
      throw new KernelException(Errno.EIO, "ext4: " + what + " on " + bdev.name() + " failed");
    }
  }
}
