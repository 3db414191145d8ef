package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.List;
import org.apiguardian.api.API;

/**
 * The metadata log as the rest of the filesystem sees it ({@code fs/xfs/xfs_log.c}, {@code
 * xfs_trans.c}, {@code xfs_trans_ail.c}): committed transactions go to the log first and reach
 * their home blocks only at checkpoint, so a power cut leaves either a transaction's every block or
 * none of them.
 */
@API(status = INTERNAL, since = "0.1.0")
public interface MetaLog {
  /**
   * {@code xfs_trans_commit}: appends one transaction's buffers as a unit and returns its log
   * sequence number. Not durable until {@link #force}. Buffers of a later commit for the same block
   * supersede earlier ones. Checkpoints first if the log has no room.
   *
   * @throws dev.refkern.mm.KernelException {@code ENOSPC} if the transaction is larger than the
   *     whole log; {@code EIO} on a write error
   */
  long commit(List<LogBuf> bufs);

  /**
   * {@code xfs_log_force_seq}: every transaction up to {@code lsn} is on stable storage on return
   * (the last log write carries {@code REQ_PREFLUSH | REQ_FUA}).
   */
  void force(long lsn);

  /** {@code xfs_log_force(mp, XFS_LOG_SYNC)}: forces every committed transaction. */
  void forceAll();

  /**
   * {@code xfs_ail_push_all_sync}: writes every logged buffer to its home block, flushes, then
   * moves the log tail past them so their log space can be reused.
   */
  void checkpoint();

  /** {@code xfs_log_unmount}: forces, checkpoints and marks the log clean (an unmount record). */
  void unmount();

  /** The newest committed content of a block not yet checkpointed, or null: reads go here first. */
  byte[] pending(long blkno);

  /**
   * {@code xlog_force_shutdown()}: the filesystem shut down; the log stops all I/O and lets its
   * buffers go. Every later call fails with {@code EIO}. Idempotent.
   */
  default void shutdown() {}

  /** The log's counters ({@code struct xfsstats}' log fields). */
  XfsLog.Counters stats();
}
