package dev.refkern.fs.buffer;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.fs.spi.Inode;
import org.apiguardian.api.API;

/**
 * A filesystem's block mapper, {@code get_block_t} ({@code include/linux/fs.h}): maps file block
 * {@code iblock} of {@code inode} into {@code bh} ({@link BufferHead#mapBh}), allocating it if
 * {@code create} (then also setting {@link BufferHead#BH_NEW}). Leaving {@code bh} unmapped means a
 * hole.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
@FunctionalInterface
public interface GetBlock {
  /**
   * @return 0, or a negative errno ({@code -ENOSPC}, {@code -EIO})
   */
  int getBlock(Inode inode, long iblock, BufferHead bh, boolean create);
}
