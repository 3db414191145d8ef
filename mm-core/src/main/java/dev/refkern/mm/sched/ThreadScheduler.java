package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import org.apiguardian.api.API;

/**
 * The scheduler on real threads, an SMP kernel's {@code workqueue} pools, {@code kthread}s and
 * {@code hrtimer}s: fast, not reproducible.
 *
 * <p>Each workqueue has its own pool of daemon worker threads, started on demand (up to its {@code
 * max_active}) and retired after a second idle; delayed work waits on one timer thread; {@code
 * jiffies} come from {@link System#nanoTime()}; {@link #condResched()} only checks {@code
 * might_sleep()}; locks are {@link ReentrantLock}s that refuse recursion. Sleeps are not
 * interruptible, except that a Java interrupt (sent by {@link KThread#stop()}) makes a wait-queue
 * sleeper re-check its condition, as {@code wake_up_process()} does.
 */
@API(status = STABLE, since = "0.1.0")
public final class ThreadScheduler implements Scheduler {

  private static final long SHUTDOWN_GRACE_NANOS = TimeUnit.SECONDS.toNanos(10);
  static final long NANOS_PER_JIFFY = 1_000_000_000L / Clock.HZ;

  private final long epoch = System.nanoTime();
  final ScheduledThreadPoolExecutor timer;
  final SchedCore core = new SchedCore(new ThreadParker());
  private final ThreadLocal<TKThread> currentKThread = new ThreadLocal<>();
  final ThreadLocal<ThreadWorkqueue> currentWorkqueue = new ThreadLocal<>();
  final List<ThreadWorkqueue> workqueues = new CopyOnWriteArrayList<>();
  private final List<TKThread> kthreads = new CopyOnWriteArrayList<>();
  private final Clock clock = new ThreadClock();
  private volatile boolean shutdown;

  /** A scheduler on real threads; {@link #shutdown()} stops them. */
  public ThreadScheduler() {
    timer =
        new ScheduledThreadPoolExecutor(
            1,
            r -> daemon(r, "refkern-timer-" + Integer.toHexString(System.identityHashCode(this))));
    timer.setRemoveOnCancelPolicy(true);
  }

  static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

  @Override
  public Clock clock() {
    return clock;
  }

  @Override
  public long seed() {
    return -1;
  }

  @Override
  public Workqueue allocWorkqueue(String name) {
    return register(new ThreadWorkqueue(this, name, WorkqueueCore.DEFAULT_MAX_ACTIVE));
  }

  @Override
  public Workqueue allocOrderedWorkqueue(String name) {
    return register(new ThreadWorkqueue(this, name, 1));
  }

  private Workqueue register(ThreadWorkqueue wq) {
    checkRunning();
    workqueues.add(wq);
    return wq;
  }

  @Override
  public KThread kthreadRun(String name, Runnable body) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(body, "body");
    checkRunning();
    TKThread k = new TKThread(name, body);
    kthreads.add(k);
    k.thread.start();
    return k;
  }

  @Override
  public boolean kthreadShouldStop() {
    TKThread k = currentKThread.get();
    return k != null && k.stopRequested;
  }

  @Override
  public KLock newLock(String name) {
    return core.newLock(name);
  }

  @Override
  public Completion newCompletion() {
    return core.newCompletion();
  }

  @Override
  public WaitQueue newWaitQueue() {
    return core.newWaitQueue();
  }

  @Override
  public void condResched() {
    mightSleep();
  }

  @Override
  public void runInCompletionContext(Runnable body) {
    core.runInCompletionContext(body);
  }

  @Override
  public boolean inAtomicContext() {
    return core.inAtomicContext();
  }

  @Override
  public void mightSleep() {
    core.mightSleep();
  }

  /**
   * Asks every kthread to stop, drains every workqueue, and waits up to 10 s in all.
   *
   * @throws WorkFailedException if work or a kthread failed and nobody was told yet
   * @throws IllegalStateException if threads were still busy after the grace period
   */
  @Override
  public void shutdown() {
    if (shutdown) {
      return;
    }
    shutdown = true;
    long deadline = System.nanoTime() + SHUTDOWN_GRACE_NANOS;
    List<Throwable> failures = new ArrayList<>();
    List<String> stuck = new ArrayList<>();
    for (TKThread k : kthreads) {
      k.stopRequested = true;
      k.thread.interrupt(); // wakes a wait-queue sleeper so it sees kthread_should_stop()
    }
    for (TKThread k : kthreads) {
      joinUntil(k.thread, deadline);
      if (k.thread.isAlive()) {
        stuck.add("kthread '" + k.name + "'");
      } else {
        WorkFailedException f = k.takeFailure();
        if (f != null) {
          failures.add(f);
        }
      }
    }
    for (ThreadWorkqueue wq : workqueues) {
      if (!wq.drain(deadline)) {
        stuck.add("workqueue '" + wq.name + "'");
      }
      wq.takeFailures(failures);
    }
    workqueues.clear();
    timer.shutdownNow();
    RuntimeException stuckError =
        stuck.isEmpty()
            ? null
            : new IllegalStateException("still running after shutdown's grace period: " + stuck);
    if (!failures.isEmpty()) {
      WorkFailedException first = (WorkFailedException) failures.get(0);
      for (Throwable t : failures.subList(1, failures.size())) {
        first.addSuppressed(t);
      }
      if (stuckError != null) {
        first.addSuppressed(stuckError);
      }
      throw first;
    }
    if (stuckError != null) {
      throw stuckError;
    }
  }

  private void checkRunning() {
    if (shutdown) {
      throw new IllegalStateException("scheduler is shut down");
    }
  }

  private static void joinUntil(Thread t, long deadline) {
    boolean interrupted = false;
    while (t.isAlive()) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        break;
      }
      try {
        TimeUnit.NANOSECONDS.timedJoin(t, left);
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private final class ThreadClock implements Clock {
    @Override
    public long jiffies() {
      return (System.nanoTime() - epoch) / NANOS_PER_JIFFY;
    }

    @Override
    public long nanos() {
      return System.nanoTime() - epoch;
    }
  }

  private final class TKThread implements KThread {
    final String name;
    final Runnable body;
    final Thread thread;
    final AtomicBoolean reported = new AtomicBoolean();
    volatile boolean stopRequested;
    volatile Throwable failure;

    TKThread(String name, Runnable body) {
      this.name = name;
      this.body = body;
      this.thread = daemon(this::main, name);
    }

    private void main() {
      currentKThread.set(this);
      try {
        body.run();
      } catch (Throwable t) {
        failure = t; // reported by join() or shutdown()
      } finally {
        if (failure == null) {
          kthreads.remove(this);
        }
      }
    }

    WorkFailedException takeFailure() {
      Throwable f = failure;
      if (f == null || !reported.compareAndSet(false, true)) {
        return null;
      }
      kthreads.remove(this);
      return new WorkFailedException("kthread '" + name + "' failed: " + f, f);
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public void stop() {
      if (Thread.currentThread() == thread) {
        throw new IllegalStateException("kthread '" + name + "' cannot kthread_stop() itself");
      }
      stopRequested = true;
      thread.interrupt();
      join();
    }

    @Override
    public void join() {
      mightSleep();
      if (Thread.currentThread() == thread) {
        throw new IllegalStateException("kthread '" + name + "' waits for its own exit");
      }
      boolean interrupted = false;
      while (thread.isAlive()) {
        try {
          thread.join();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
      WorkFailedException f = takeFailure();
      if (f != null) {
        throw f;
      }
    }

    @Override
    public boolean isAlive() {
      return thread.isAlive();
    }

    @Override
    public String toString() {
      return "kthread '" + name + "'";
    }
  }
}
