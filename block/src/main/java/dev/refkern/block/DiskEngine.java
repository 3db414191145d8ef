package dev.refkern.block;

import dev.refkern.block.internal.trace.BlockTraceEvents;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageMemory;
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
final class DiskEngine {
  private static final int EIO = -Errno.EIO.number();

  /** What the device stores; every call runs under the device's lock. */
  public interface Media {
    /** False while the device is offline (after a power cut, after close). */
    boolean online();

    /** Copies {@code dst.bytes()} bytes (whole sectors) from {@code sector} into the pages. */
    void read(long sector, Segments dst) throws IOException;

    /** Writes the pages' whole sectors at {@code sector}; {@code fua}: durable before returning. */
    void write(long sector, Segments src, boolean fua) throws IOException;

    /** Makes every completed write durable ({@code REQ_OP_FLUSH}). */
    void flush() throws IOException;
  }

  private record Pending(Bio bio, Segments segs, long[] bounce, Integrity pi) {}

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
  private final BouncePool bouncePool;

  public DiskEngine(
      Object lock, PhysicalMemory mem, DiskOptions opts, long capacitySectors, Media media) {
    this.lock = lock;
    this.mem = mem;
    this.opts = opts;
    this.capacitySectors = capacitySectors;
    this.media = media;
    this.bouncePool = new BouncePool(mem);
  }

  /**
   * {@code submit_bio()}. A bad bio, or any bio while the device is offline ({@code
   * blk_queue_enter()} on a dead disk), fails at once with {@code -EIO}.
   */
  public void submit(Bio bio) {
    BlockTraceEvents.bioQueue(
        lock instanceof BlockDevice d ? d.name() : "?",
        bio.sector(),
        bio.size(),
        bio.op(),
        bio.flags());
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
    if (p == null) {
      complete(bio, -Errno.ENOMEM.number()); // no bounce pages
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
        releaseBounce(p);
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
    for (int i = 0; i < bio.vecCount(); i++) {
      if (bio.vecOffset(i) % Bio.SECTOR_SIZE != 0 || bio.vecLen(i) % Bio.SECTOR_SIZE != 0) {
        return EIO;
      }
    }
    long n = bio.sectors();
    if (bio.sector() > capacitySectors || n > capacitySectors - bio.sector()) {
      return EIO;
    }
    return 0;
  }

  /**
   * What happens at submission: protection information, generated from the bio's pages, and the
   * bounce copy; null if there were no bounce pages.
   */
  private Pending prepare(Bio bio) {
    Segments own = new Segments(bio, null);
    if (bio.op() != BioOp.WRITE || bio.size() == 0 || !(opts.hasIntegrity() || opts.bounces())) {
      return new Pending(bio, own, null, null);
    }
    PageMemory ram = mem.ram();
    Integrity pi = opts.hasIntegrity() ? Integrity.fromGuards(bio.sector(), own.guards(ram)) : null;
    if (!opts.bounces()) {
      return new Pending(bio, own, null, pi);
    }
    int n = bio.vecCount();
    long[] bounce = new long[n];
    if (!bouncePool.take(bounce, n)) {
      return null;
    }
    try {
      for (int i = 0; i < n; i++) {
        ram.copy(bounce[i], bio.vecOffset(i), bio.vecPfn(i), bio.vecOffset(i), bio.vecLen(i));
      }
    } catch (KernelException e) {
      bouncePool.give(bounce, n); // a segment outside RAM: the bio fails, no page is lost
      throw e;
    }
    bytesBounced.addAndGet(bio.size());
    return new Pending(bio, new Segments(bio, bounce), bounce, pi);
  }

  /** What happens at consumption; returns the bio's status. Runs under the lock. */
  private int process(Pending p) {
    try {
      return transfer(p);
    } finally {
      releaseBounce(p);
    }
  }

  private int transfer(Pending p) {
    Bio bio = p.bio();
    if (!media.online()) {
      return EIO;
    }
    try {
      switch (bio.op()) {
        case READ -> {
          if (bio.size() > 0) {
            media.read(bio.sector(), p.segs());
            bytesRead.addAndGet(bio.size());
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
          int status = 0;
          if (p.pi() != null
              && p.pi().firstMismatch(bio.sector(), p.segs().guards(mem.ram())) >= 0) {
            integrityErrors.incrementAndGet();
            status = EIO;
          }
          media.write(bio.sector(), p.segs(), (bio.flags() & Bio.REQ_FUA) != 0);
          bytesWritten.addAndGet(bio.size());
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

  private void releaseBounce(Pending p) {
    if (p.bounce() != null) {
      bouncePool.give(p.bounce(), p.bounce().length);
    }
  }

  /** Frees the bounce pages kept for reuse (the device goes away). */
  public void releaseBouncePool() {
    bouncePool.drain();
  }

  /** Bounce pages held (kept for reuse or in flight). */
  public long bouncePages() {
    return bouncePool.pages();
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
