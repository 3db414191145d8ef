package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.buffer.MetaIo;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The metadata buffer cache ({@code xfs_buf.c}'s {@code xfs_buf_read()}): a block's newest
 * committed content, from the log if it holds one not yet checkpointed ({@link MetaLog#pending}),
 * else from the disk; and what each block was last committed as, so a transaction logs only the
 * blocks it changed.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class XfsBufCache {
  private final MetaIo io;
  private final MetaLog log;
  private final Map<Long, byte[]> committed = new HashMap<>();

  public XfsBufCache(MetaIo io, MetaLog log) {
    this.io = io;
    this.log = log;
  }

  /** The block's committed content (a copy the caller may change). */
  public synchronized byte[] read(long blk) {
    byte[] c = committed.get(blk);
    if (c == null) {
      byte[] p = log.pending(blk);
      c = p != null ? p.clone() : io.read(blk);
      committed.put(blk, c);
    }
    return c.clone();
  }

  /** Whether {@code data} differs from what block {@code blk} was last committed as. */
  synchronized boolean changed(long blk, byte[] data) {
    byte[] c = committed.get(blk);
    return c == null || !Arrays.equals(c, data);
  }

  synchronized void committed(long blk, byte[] data) {
    committed.put(blk, data.clone());
  }

  /** {@code blkdev_issue_flush()} of the data device. */
  public void flushDevice() {
    io.flush();
  }

  /** Forgets a block that is no longer metadata (freed), so a reuse reads it again. */
  public synchronized void forget(long blk) {
    committed.remove(blk);
  }
}
