package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * A transaction, {@code struct xfs_trans} ({@code xfs_trans.c}): metadata blocks joined with their
 * new contents ({@code xfs_trans_log_buf()}), committed to the log as one unit ({@code
 * xfs_trans_commit()}). Blocks whose content did not change are left out.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class XfsTrans {
  private final XfsBufCache cache;
  private final MetaLog log;
  private final Map<Long, byte[]> bufs = new LinkedHashMap<>();
  private final List<Long> cancels = new ArrayList<>();

  public XfsTrans(XfsBufCache cache, MetaLog log) {
    this.cache = cache;
    this.log = log;
  }

  /** {@code xfs_trans_log_buf()} of a whole block; a later join of the block replaces it. */
  public void join(long blk, byte[] data) {
    bufs.put(blk, data);
  }

  /**
   * {@code xfs_trans_binval()}: the transaction frees metadata block {@code blk}, so it logs a
   * cancel item for it: recovery must not replay an older copy over the block's next owner.
   */
  public void binval(long blk) {
    bufs.remove(blk);
    cancels.add(blk);
  }

  /** Whether nothing changed. */
  public boolean isEmpty() {
    if (!cancels.isEmpty()) {
      return false;
    }
    for (Map.Entry<Long, byte[]> e : bufs.entrySet()) {
      if (cache.changed(e.getKey(), e.getValue())) {
        return false;
      }
    }
    return true;
  }

  /**
   * {@code xfs_trans_commit()}: the changed blocks to {@link MetaLog#commit}, then into the cache.
   *
   * @return the commit's log sequence number, or -1 if nothing changed
   */
  public long commit() {
    List<LogBuf> out = new ArrayList<>();
    for (Map.Entry<Long, byte[]> e : bufs.entrySet()) {
      if (cache.changed(e.getKey(), e.getValue())) {
        out.add(new LogBuf(e.getKey(), e.getValue().clone()));
      }
    }
    for (long blk : cancels) {
      out.add(LogBuf.cancel(blk));
    }
    bufs.clear();
    cancels.clear();
    if (out.isEmpty()) {
      return -1;
    }
    long lsn = log.commit(out);
    for (LogBuf b : out) {
      if (b.isCancel()) {
        cache.forget(b.blkno());
      } else {
        cache.committed(b.blkno(), b.data());
      }
    }
    return lsn;
  }
}
