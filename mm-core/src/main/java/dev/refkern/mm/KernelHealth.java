package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.apiguardian.api.API;

/**
 * {@code BUG()}, {@code WARN()} and the taint state ({@code include/asm-generic/bug.h}).
 *
 * <p>A {@code WARN} is counted, logged, recorded as a Flight Recorder event and the kernel goes on.
 * A {@code BUG} marks the kernel dead (the state directory records it as crashed, the memmap stays
 * for post-mortem) and throws {@link KernelBugException}; {@link #checkAlive()} then fails every
 * later entry into the kernel.
 */
@API(status = STABLE, since = "0.1.0")
public final class KernelHealth {
  private static final System.Logger LOG = System.getLogger("dev.refkern.kernel");

  private final AtomicLong warnings = new AtomicLong();
  private final AtomicLong badPages = new AtomicLong();
  private final AtomicLong allocFailures = new AtomicLong();
  private final AtomicReference<String> bug = new AtomicReference<>();
  private final List<String> recentWarnings = new CopyOnWriteArrayList<>();
  private final List<Consumer<String>> bugListeners = new CopyOnWriteArrayList<>();
  private volatile boolean fatalSignal;
  private final List<dev.refkern.mm.sched.WaitQueue> killableSleeps = new CopyOnWriteArrayList<>();

  /**
   * {@code WARN(cond, ...)}: returns {@code condition} so it can guard the caller's recovery, as in
   * {@code if (WARN_ON(x)) return -EINVAL;}.
   */
  public boolean warn(boolean condition, String message) {
    if (condition) {
      warnings.incrementAndGet();
      if (recentWarnings.size() < 100) {
        recentWarnings.add(message);
      }
      LOG.log(System.Logger.Level.WARNING, "WARNING: " + message);
      WarnEvent e = new WarnEvent();
      e.message = message;
      e.commit();
    }
    return condition;
  }

  /** {@code BUG()}: stops the kernel. Never returns. */
  public KernelBugException bug(String message) {
    bug.compareAndSet(null, message);
    LOG.log(System.Logger.Level.ERROR, "kernel BUG: " + message);
    BugEvent e = new BugEvent();
    e.message = message;
    e.commit();
    for (Consumer<String> l : bugListeners) {
      l.accept(message);
    }
    throw new KernelBugException(message);
  }

  /**
   * {@code bad_page()}: reports "BUG: Bad page state", taints the kernel ({@code TAINT_BAD_PAGE})
   * and goes on; the caller leaks the page rather than freeing it.
   */
  public void badPage(long pfn, String reason) {
    badPages.incrementAndGet();
    String m = "BUG: Bad page state: pfn " + pfn + ": " + reason;
    LOG.log(System.Logger.Level.ERROR, m);
    if (recentWarnings.size() < 100) {
      recentWarnings.add(m);
    }
  }

  /** Number of {@code bad_page()} reports (the kernel's {@code TAINT_BAD_PAGE}). */
  public long badPageCount() {
    return badPages.get();
  }

  /** {@code warn_alloc()}: an allocation failure report (not a WARN). */
  public void allocFailure(String message) {
    allocFailures.incrementAndGet();
    LOG.log(System.Logger.Level.DEBUG, message);
  }

  /** Number of allocation failures reported. */
  public long allocFailureCount() {
    return allocFailures.get();
  }

  /**
   * Throws the recorded BUG if the kernel is dead, or {@code EINTR} once the process got a fatal
   * signal ({@code fatal_signal_pending()}, which makes GUP and faults return {@code -EINTR}).
   */
  public void checkAlive() {
    String b = bug.get();
    if (b != null) {
      throw new KernelBugException("kernel is dead after an earlier BUG: " + b);
    }
    if (fatalSignal) {
      throw new KernelException(Errno.EINTR, "fatal signal pending: the kernel is shutting down");
    }
  }

  /**
   * Delivers a fatal signal to every task: each later kernel entry fails with {@code EINTR}, so
   * workers unwind and the memmap can be closed after them.
   */
  public void fatalSignal() {
    fatalSignal = true;
    wakeKillableSleepers();
  }

  /**
   * {@code signal_wake_up()} for every task: each sleeper of a queue registered with {@link
   * #wakeOnFatalSignal} rechecks its condition, which tests the signal it cares about.
   */
  public void wakeKillableSleepers() {
    for (dev.refkern.mm.sched.WaitQueue q : killableSleeps) {
      q.wakeAll();
    }
  }

  /**
   * Makes {@link #fatalSignal()} and {@link #wakeKillableSleepers()} wake every sleeper of {@code
   * queue}, as {@code signal_wake_up()} wakes a task in {@code TASK_KILLABLE} sleep: the queue's
   * sleepers must recheck {@link #fatalSignalPending()} in their wait condition ({@code
   * wait_event_killable()}).
   */
  public void wakeOnFatalSignal(dev.refkern.mm.sched.WaitQueue queue) {
    killableSleeps.add(queue);
  }

  /** True once {@link #fatalSignal()} was delivered. */
  public boolean fatalSignalPending() {
    return fatalSignal;
  }

  /** True once a {@code BUG} hit. */
  public boolean isDead() {
    return bug.get() != null;
  }

  /** The message of the {@code BUG} that stopped the kernel, or null. */
  public String bugMessage() {
    return bug.get();
  }

  /** Number of {@code WARN}s hit since boot. */
  public long warnCount() {
    return warnings.get();
  }

  /** The first 100 {@code WARN} messages. */
  public List<String> warnings() {
    return new ArrayList<>(recentWarnings);
  }

  /** Runs {@code listener} when a {@code BUG} hits (the state directory records the crash). */
  public void onBug(Consumer<String> listener) {
    bugListeners.add(listener);
  }

  @jdk.jfr.Name("refkern.Warn")
  @jdk.jfr.Label("WARN")
  @jdk.jfr.Category("refkern")
  static final class WarnEvent extends jdk.jfr.Event {
    @jdk.jfr.Label("Message")
    String message;
  }

  @jdk.jfr.Name("refkern.Bug")
  @jdk.jfr.Label("BUG")
  @jdk.jfr.Category("refkern")
  static final class BugEvent extends jdk.jfr.Event {
    @jdk.jfr.Label("Message")
    String message;
  }
}
