package dev.refkern.fs.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * A filesystem's block mapping, {@code struct iomap_ops} ({@code include/linux/iomap.h}) plus the
 * writeback's {@code iomap_writeback_ops->map_blocks}: what the VFS's generic buffered I/O ({@code
 * dev.refkern.fs.iomap}) and, later, direct I/O ask to turn file bytes into device bytes.
 *
 * <p>Errors are {@code KernelException}s: {@code ENOSPC} from a write's allocation reaches {@code
 * write()}, {@code EFBIG} past the file's limit.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface IomapOps {
  /** No flag: a read. */
  int IOMAP_READ = 0;

  /** {@code IOMAP_WRITE}: writing, must allocate blocks. */
  int IOMAP_WRITE = 1;

  /** {@code IOMAP_ZERO}: zeroing; holes and unwritten ranges may be skipped. */
  int IOMAP_ZERO = 1 << 1;

  /** {@code IOMAP_REPORT}: report extent status ({@code FIEMAP}, {@code SEEK_HOLE}). */
  int IOMAP_REPORT = 1 << 2;

  /** {@code IOMAP_DIRECT}: direct I/O, which needs device addresses and never a delalloc. */
  int IOMAP_DIRECT = 1 << 4;

  /**
   * {@code ->iomap_begin}: fills {@code iomap} with the mapping that starts at or before {@code
   * pos} and covers at most {@code length} bytes from it (it may be shorter); with {@link
   * #IOMAP_WRITE} allocates or reserves the blocks first.
   *
   * @throws dev.refkern.mm.KernelException {@code ENOSPC}, {@code EFBIG}, {@code EIO}
   */
  void iomapBegin(Inode inode, long pos, long length, int flags, Iomap iomap);

  /**
   * {@code ->iomap_end}: {@code written} of the {@code length} bytes from {@code pos} that {@link
   * #iomapBegin} mapped were used; the filesystem may release the rest of a reservation. Default:
   * nothing to release.
   */
  default void iomapEnd(Inode inode, long pos, long length, long written, int flags, Iomap iomap) {}

  /**
   * {@code iomap_writeback_ops->map_blocks}: the mapping of dirty bytes at {@code pos} for
   * writeback; a hole there is skipped. Default: {@link #iomapBegin} as a read.
   */
  default void mapBlocks(Inode inode, long pos, long length, Iomap iomap) {
    iomapBegin(inode, pos, length, IOMAP_READ, iomap);
  }

  /**
   * {@code i_blocksize()}: the filesystem's block size in bytes; writeback writes the EOF block
   * whole. Default: 4096.
   */
  default int blockSize() {
    return 4096;
  }
}
