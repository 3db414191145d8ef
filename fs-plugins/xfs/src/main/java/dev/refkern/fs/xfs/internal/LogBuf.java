package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;

/**
 * A buffer log item ({@code struct xfs_buf_log_item}): the new contents of one whole metadata
 * block, as a transaction logs it, or a cancel of the block ({@code XFS_BLF_CANCEL}, from {@code
 * xfs_trans_binval()}) when the transaction frees it.
 *
 * @param blkno the block's number on the device, in filesystem blocks
 * @param data the block's bytes, exactly one filesystem block; the log keeps its own copy; null for
 *     a cancel
 */
@API(status = INTERNAL, since = "0.1.0")
public record LogBuf(long blkno, byte[] data) {
  /**
   * A cancel item: recovery replays no logged copy of {@code blkno} older than it, since the block
   * was freed and may since hold file data.
   */
  public static LogBuf cancel(long blkno) {
    return new LogBuf(blkno, null);
  }

  /** Whether this item cancels the block ({@code XFS_BLF_CANCEL}). */
  public boolean isCancel() {
    return data == null;
  }
}
