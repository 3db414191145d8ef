package dev.refkern.block.internal.disk;

import dev.refkern.block.Bio;
import dev.refkern.block.BioOp;
import dev.refkern.block.BioVec;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.Integrity;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The request path shared by the simulated disks: checks a bio at {@code submit_bio()}, generates
 * its protection information and bounces its data at submission, queues it until the device
 * consumes it (at once, in a work item or on demand), runs it against the device's {@link Media}
 * and completes it exactly once in completion context.
 *
 * <p>Every media call runs under the device's lock, which the device also takes for its own state
 * changes (power cut, reopen). Completion runs outside that lock.
 */
public final class DiskEngine {
  private static final int EIO = -Errno.EIO.number();

  /** What the device stores; every call runs under the device's lock. */
  public interface Media {
    /** False while the device is offline (after a power cut, after close). */
    boolean online();

    /** Reads {@code dst.length} bytes (whole sectors) from {@code sector}. */
    void read(long sector, byte[] dst) throws IOException;

    /** Writes whole sectors at {@code sector}; {@code fua}: durable before returning. */
    void write(long sector, byte[] src, boolean fua) throws IOException;

    /** Makes every completed write durable ({@code REQ_OP_FLUSH}). */
    void flush() throws IOException;
  }

  private record Pending(Bio bio, byte[] bounce, Integrity pi) {}

  private final Object lock;
  private final PhysicalMemory mem;
  private final DiskOptions opts;
  private final long capacitySectors;
  private final Media media;
  private final ArrayDeque<Pending> queue = new ArrayDeque<>();
  private final AtomicLong integrityErrors = new AtomicLong();
  private final AtomicLong bytesBounced = new AtomicLong();
  private final AtomicLong bytesRead = new AtomicLong();
  private final AtomicLong bytesWritten = new AtomicLong();

  public DiskEngine(
      Object lock, PhysicalMemory mem, DiskOptions opts, long capacitySectors, Media media) {
    this.lock = lock;
    this.mem = mem;
    this.opts = opts;
    this.capacitySectors = capacitySectors;
    this.media = media;
  }

  /**
   * {@code submit_bio()}. A bad bio, or any bio while the device is offline ({@code
   * blk_queue_enter()} on a dead disk), fails at once with {@code -EIO}.
   */
  public void submit(Bio bio) {
    int err = check(bio);
    if (err == 0) {
      synchronized (lock) {
        err = media.online() ? 0 : EIO;
      }
    }
    if (err != 0) {
      complete(bio, err);
      return;
    }
    Pending p;
    try {
      p = prepare(bio);
    } catch (KernelException e) {
      complete(bio, EIO);
      return;
    }
    switch (opts.consumption()) {
      case SYNCHRONOUS -> {
        int status;
        synchronized (lock) {
          status = process(p);
        }
        complete(bio, status);
      }
      case WORKQUEUE -> {
        synchronized (lock) {
          queue.add(p);
        }
        opts.workqueue().queueWork(() -> consume());
      }
      case MANUAL -> {
        synchronized (lock) {
          queue.add(p);
        }
      }
    }
  }

  /** Consumes the oldest queued bio and completes it; false if none was queued. */
  public boolean consume() {
    Pending p;
    int status;
    synchronized (lock) {
      p = queue.poll();
      if (p == null) {
        return false;
      }
      status = process(p);
    }
    complete(p.bio(), status);
    return true;
  }

  /** Consumes every queued bio, including ones queued meanwhile; returns how many. */
  public int consumeAll() {
    int n = 0;
    while (consume()) {
      n++;
    }
    return n;
  }

  /** Bios submitted and not yet consumed. */
  public int pending() {
    synchronized (lock) {
      return queue.size();
    }
  }

  /**
   * Takes every queued bio off the queue without running it (the device lost them); the caller
   * completes them with {@link #fail} once it released the lock.
   */
  public List<Bio> drain() {
    synchronized (lock) {
      List<Bio> out = new ArrayList<>(queue.size());
      for (Pending p : queue) {
        out.add(p.bio());
      }
      queue.clear();
      return out;
    }
  }

  /** Completes each bio with {@code -EIO}. */
  public void fail(List<Bio> bios) {
    for (Bio b : bios) {
      complete(b, EIO);
    }
  }

  public long integrityErrors() {
    return integrityErrors.get();
  }

  public long bytesBounced() {
    return bytesBounced.get();
  }

  /** Bytes the device copied into pages for completed reads. */
  public long bytesRead() {
    return bytesRead.get();
  }

  /** Bytes the device accepted from writes (into its cache or media). */
  public long bytesWritten() {
    return bytesWritten.get();
  }

  private int check(Bio bio) {
    if (bio.op() == BioOp.FLUSH) {
      return 0;
    }
    for (BioVec v : bio.vecs()) {
      if (v.offset() % Bio.SECTOR_SIZE != 0 || v.len() % Bio.SECTOR_SIZE != 0) {
        return EIO;
      }
    }
    long n = bio.sectors();
    if (bio.sector() > capacitySectors || n > capacitySectors - bio.sector()) {
      return EIO;
    }
    return 0;
  }

  /** What happens at submission: protection information and the bounce copy. */
  private Pending prepare(Bio bio) {
    if (bio.op() != BioOp.WRITE || bio.size() == 0 || !(opts.hasIntegrity() || opts.bounces())) {
      return new Pending(bio, null, null);
    }
    byte[] data = BioData.gather(mem.ram(), bio);
    Integrity pi = opts.hasIntegrity() ? Integrity.generate(bio.sector(), data) : null;
    byte[] bounce = null;
    if (opts.bounces()) {
      bounce = data;
      bytesBounced.addAndGet(data.length);
    }
    return new Pending(bio, bounce, pi);
  }

  /** What happens at consumption; returns the bio's status. Runs under the lock. */
  private int process(Pending p) {
    Bio bio = p.bio();
    if (!media.online()) {
      return EIO;
    }
    try {
      switch (bio.op()) {
        case READ -> {
          if (bio.size() > 0) {
            byte[] buf = new byte[Math.toIntExact(bio.size())];
            media.read(bio.sector(), buf);
            BioData.scatter(mem.ram(), bio, buf);
            bytesRead.addAndGet(buf.length);
          }
          return 0;
        }
        case WRITE -> {
          if ((bio.flags() & Bio.REQ_PREFLUSH) != 0) {
            media.flush();
          }
          if (bio.size() == 0) {
            return 0;
          }
          byte[] data = p.bounce() != null ? p.bounce() : BioData.gather(mem.ram(), bio);
          int status = 0;
          if (p.pi() != null && p.pi().firstMismatch(bio.sector(), data) >= 0) {
            integrityErrors.incrementAndGet();
            status = EIO;
          }
          media.write(bio.sector(), data, (bio.flags() & Bio.REQ_FUA) != 0);
          bytesWritten.addAndGet(data.length);
          return status;
        }
        case FLUSH -> {
          media.flush();
          return 0;
        }
        default -> {
          return EIO;
        }
      }
    } catch (IOException | UncheckedIOException | KernelException e) {
      return EIO;
    }
  }

  private void complete(Bio bio, int status) {
    mem.scheduler()
        .runInCompletionContext(
            () -> {
              bio.setStatus(status);
              bio.endio();
            });
  }
}
