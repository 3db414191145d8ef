package dev.refkern.hmm.dma;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageMemory;
import dev.refkern.mm.sched.Workqueue;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * A device's DMA engine ({@code dmaengine}, a NIC's or GPU's copy engine): moves bytes between a
 * device and the pfns its {@link DmaTarget} maps, at most {@link #bytesPerStep()} per step.
 *
 * <p>Transfers run in queueing order. Either the caller drives {@link #step()} (deterministic), or
 * {@link #start(Workqueue)} runs one step per jiffy from a work item, so the rate is bytes per tick
 * of the injected scheduler's clock. One thread steps at a time.
 *
 * <p>A write stamps each page it fills: word 0 is {@link #header(long)} of the transfer's sequence
 * number, word 1 the device page index, the rest a pattern of both ({@link #word}), so {@link
 * #stampOf(PageMemory, long)} later tells an intact page's sequence number from a torn one. A page
 * the target cannot map ({@link DmaTarget#NOT_MAPPED}) raises a device fault; if that fails the
 * transfer is aborted with {@code EFAULT}.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class DmaEngine {
  static final int PAGE_SIZE = Page.PAGE_SIZE;
  private static final long MAGIC = 0xD3A5L; // top 16 bits of a stamped header
  private static final long SEQ_MASK = (1L << 48) - 1;
  private static final int MAX_FAULT_RETRIES = 16; // a page invalidated again after each fault

  private final PageMemory ram;
  private final int bytesPerStep;
  private final ArrayDeque<DmaTransfer> queue = new ArrayDeque<>();
  private final AtomicBoolean stepping = new AtomicBoolean();
  private final Runnable tick = this::tick; // the work_struct, one per engine
  private volatile Workqueue wq;

  private final AtomicLong bytesWritten = new AtomicLong();
  private final AtomicLong bytesRead = new AtomicLong();
  private final AtomicLong bytesRedirected = new AtomicLong();
  private final AtomicLong completed = new AtomicLong();
  private final AtomicLong aborted = new AtomicLong();
  private final AtomicLong redirected = new AtomicLong();
  private final AtomicLong faults = new AtomicLong();

  /**
   * An engine over {@code ram} moving at most {@code bytesPerStep} bytes a step.
   *
   * @throws KernelException {@code EINVAL} unless {@code bytesPerStep} is a positive multiple of 8
   */
  public DmaEngine(PageMemory ram, int bytesPerStep) {
    if (bytesPerStep <= 0 || bytesPerStep % 8 != 0) {
      throw new KernelException(
          Errno.EINVAL, "bytesPerStep " + bytesPerStep + ": must be a positive multiple of 8");
    }
    this.ram = ram;
    this.bytesPerStep = bytesPerStep;
  }

  /** The rate: bytes moved per {@link #step()}. */
  public int bytesPerStep() {
    return bytesPerStep;
  }

  /** The memory it DMAs into. */
  public PageMemory ram() {
    return ram;
  }

  /**
   * Queues a write from the device into its pages {@code [first, first + pages)}, stamped with
   * {@code seq}.
   *
   * @throws KernelException {@code EINVAL} if the pages are not the target's
   */
  public DmaTransfer submitWrite(DmaTarget target, int first, int pages, long seq) {
    return submitWrite(target, first, pages, seq, DmaPattern.STAMP);
  }

  /**
   * Queues a write of {@code pattern}'s words for {@code seq} into the device's pages {@code
   * [first, first + pages)}.
   *
   * @throws KernelException {@code EINVAL} if the pages are not the target's
   */
  public DmaTransfer submitWrite(
      DmaTarget target, int first, int pages, long seq, DmaPattern pattern) {
    return submit(new DmaTransfer(target, check(target, first, pages), pages, seq, pattern, null));
  }

  /**
   * Queues a read of the device's pages {@code [first, first + pages)} into {@code dst} from its
   * position on, {@code pages * PAGE_SIZE} bytes.
   *
   * @throws KernelException {@code EINVAL} if the pages are not the target's or {@code dst} is too
   *     small
   */
  public DmaTransfer submitRead(DmaTarget target, int first, int pages, ByteBuffer dst) {
    check(target, first, pages);
    if (dst.remaining() < (long) pages * PAGE_SIZE) {
      throw new KernelException(Errno.EINVAL, "buffer of " + dst.remaining() + " bytes too small");
    }
    return submit(new DmaTransfer(target, first, pages, 0, null, dst.duplicate()));
  }

  private static int check(DmaTarget target, int first, int pages) {
    if (first < 0 || pages < 1 || first > target.dmaPages() - pages) {
      throw new KernelException(
          Errno.EINVAL,
          "pages [" + first + ", +" + pages + ") outside the device's " + target.dmaPages());
    }
    return first;
  }

  private DmaTransfer submit(DmaTransfer t) {
    synchronized (queue) {
      queue.addLast(t);
    }
    Workqueue w = wq;
    if (w != null) {
      w.queueWork(tick);
    }
    return t;
  }

  /** Runs one step per jiffy on {@code wq} while transfers are queued. */
  public void start(Workqueue wq) {
    this.wq = wq;
    if (pending() > 0) {
      wq.queueWork(tick);
    }
  }

  /** Stops stepping from the workqueue (a step under way finishes); transfers stay queued. */
  public void stop() {
    Workqueue w = wq;
    wq = null;
    if (w != null) {
      w.cancelWork(tick);
    }
  }

  private void tick() {
    step();
    Workqueue w = wq;
    if (w != null && pending() > 0) {
      w.queueDelayedWork(tick, 1);
    }
  }

  /** Transfers queued and not finished. */
  public int pending() {
    synchronized (queue) {
      return queue.size();
    }
  }

  /** Steps until nothing is queued; returns the steps taken. */
  public long drain() {
    long steps = 0;
    while (pending() > 0) {
      step();
      steps++;
    }
    return steps;
  }

  /**
   * Moves up to {@link #bytesPerStep()} bytes of the queued transfers, in order.
   *
   * @return bytes moved
   * @throws IllegalStateException if another thread is stepping
   */
  public long step() {
    if (!stepping.compareAndSet(false, true)) {
      throw new IllegalStateException("DMA engine stepped by two threads at once");
    }
    try {
      long budget = bytesPerStep;
      int retries = 0;
      while (budget > 0) {
        DmaTransfer t;
        synchronized (queue) {
          t = queue.peekFirst();
        }
        if (t == null) {
          break;
        }
        int page = t.first + (int) (t.done / PAGE_SIZE);
        int off = (int) (t.done % PAGE_SIZE);
        int n = (int) Math.min(budget, PAGE_SIZE - off);
        boolean mapped;
        synchronized (t.target) {
          long e = t.target.dmaPfn(page, t.write);
          mapped = e != DmaTarget.NOT_MAPPED;
          if (mapped) {
            move(t, page, e & ~DmaTarget.REDIRECTED, off, n);
            if ((e & DmaTarget.REDIRECTED) != 0) {
              bytesRedirected.addAndGet(n);
              t.redirected = true;
              t.target.dmaRedirected(page, n);
            }
          }
        }
        if (mapped) {
          retries = 0;
          budget -= n;
          t.done += n;
          (t.write ? bytesWritten : bytesRead).addAndGet(n);
          if (t.done == t.length()) {
            finish(t, DmaTransfer.State.DONE, null);
          }
        } else {
          faults.incrementAndGet();
          if (retries++ == MAX_FAULT_RETRIES || !t.target.dmaFault(page, t.write)) {
            finish(t, DmaTransfer.State.ABORTED, Errno.EFAULT);
          }
        }
      }
      return bytesPerStep - budget;
    } finally {
      stepping.set(false);
    }
  }

  /** Aborts every queued transfer of {@code target} (the device is torn down). */
  public void abortAll(DmaTarget target) {
    synchronized (queue) {
      for (var it = queue.iterator(); it.hasNext(); ) {
        DmaTransfer t = it.next();
        if (t.target == target) {
          it.remove();
          t.finish(DmaTransfer.State.ABORTED, Errno.ENODEV);
          aborted.incrementAndGet();
        }
      }
    }
  }

  private void finish(DmaTransfer t, DmaTransfer.State s, Errno e) {
    synchronized (queue) {
      if (!queue.remove(t)) {
        return; // aborted meanwhile
      }
    }
    if (t.redirected) {
      redirected.incrementAndGet();
    }
    (s == DmaTransfer.State.DONE ? completed : aborted).incrementAndGet();
    t.finish(s, e);
  }

  /** Moves {@code n} bytes at {@code off} of device page {@code page}, mapped to {@code pfn}. */
  private void move(DmaTransfer t, int page, long pfn, int off, int n) {
    if (!t.write) {
      int at = t.buf.position() + (page - t.first) * PAGE_SIZE + off;
      ram.read(pfn, off, t.buf, at, n);
      return;
    }
    DmaPattern p = t.pattern;
    for (int o = Math.max(off, p.firstWord() << 3); o < off + n; o += 8) {
      ram.writeLong(pfn, o, p.word(t.seq, page, o >>> 3));
    }
  }

  /** Word 0 of a page a write stamped with {@code seq}: a tag and the sequence number. */
  public static long header(long seq) {
    return MAGIC << 48 | (seq & SEQ_MASK);
  }

  /** Word {@code i} (2 and on) of device page {@code page} stamped with {@code seq}. */
  public static long word(long seq, long page, int i) {
    long z = (seq & SEQ_MASK) * 0x9E3779B97F4A7C15L ^ page * 0xC2B2AE3D27D4EB4FL ^ i;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /**
   * The sequence number of the write that last filled page {@code pfn} whole, or -1 if the page
   * holds no stamp or a torn one (words of two writes).
   */
  public static long stampOf(PageMemory ram, long pfn) {
    long h = ram.readLong(pfn, 0);
    if (h >>> 48 != MAGIC) {
      return -1;
    }
    long seq = h & SEQ_MASK;
    long page = ram.readLong(pfn, 8);
    for (int i = 2; i < PAGE_SIZE / 8; i++) {
      if (ram.readLong(pfn, i * 8) != word(seq, page, i)) {
        return -1;
      }
    }
    return seq;
  }

  /** What it has done so far. */
  public Stats stats() {
    return new Stats(
        bytesWritten.get(),
        bytesRead.get(),
        bytesRedirected.get(),
        completed.get(),
        aborted.get(),
        redirected.get(),
        faults.get());
  }

  /**
   * An engine's counters.
   *
   * @param bytesWritten bytes written into memory (dummy pages included)
   * @param bytesRead bytes read from memory
   * @param bytesRedirected of those, bytes that went to a dummy page
   * @param transfersCompleted transfers that moved every byte
   * @param transfersAborted transfers stopped by a failed device fault or a teardown
   * @param transfersRedirected finished transfers that touched a dummy page
   * @param pageFaults device page faults raised (pages the target had not mapped)
   */
  public record Stats(
      long bytesWritten,
      long bytesRead,
      long bytesRedirected,
      long transfersCompleted,
      long transfersAborted,
      long transfersRedirected,
      long pageFaults) {}
}
