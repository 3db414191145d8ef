package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.buffer.MetaIo;
import java.util.List;
import org.apiguardian.api.API;

/**
 * A stand-in for the metadata log ({@code xfs_log.c}) with no log at all, as a filesystem without a
 * journal writes: {@link #commit} writes each buffer to its home block at once, {@link #force}
 * flushes the device. Nothing is ever pending. Crash-unsafe: the real log replaces it.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class DirectMetaLog implements MetaLog {
  private final MetaIo io;
  private long lsn;
  private long forced;

  public DirectMetaLog(MetaIo io) {
    this.io = io;
  }

  @Override
  public synchronized long commit(List<LogBuf> bufs) {
    for (LogBuf b : bufs) {
      io.write(b.blkno(), b.data(), 0);
    }
    return ++lsn;
  }

  @Override
  public synchronized void force(long lsn) {
    if (lsn > forced) {
      io.flush(); // the writes were in place: a cache flush makes them durable
      forced = this.lsn;
    }
  }

  @Override
  public synchronized void forceAll() {
    force(lsn);
  }

  @Override
  public synchronized void checkpoint() {
    io.flush();
  }

  @Override
  public synchronized void unmount() {
    io.flush();
  }

  @Override
  public byte[] pending(long blkno) {
    return null;
  }
}
