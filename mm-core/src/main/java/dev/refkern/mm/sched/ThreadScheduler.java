package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
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

  private static final long KEEP_ALIVE_NANOS = TimeUnit.SECONDS.toNanos(1);
  private static final long SHUTDOWN_GRACE_NANOS = TimeUnit.SECONDS.toNanos(10);
  private static final long NANOS_PER_JIFFY = 1_000_000_000L / Clock.HZ;

  private final long epoch = System.nanoTime();
  private final AtomicLong ids = new AtomicLong();
  private final ScheduledThreadPoolExecutor timer;
  private final SchedCore core = new SchedCore(new ThreadParker());
  private final ThreadLocal<TKThread> currentKThread = new ThreadLocal<>();
  private final ThreadLocal<TWorkqueue> currentWorkqueue = new ThreadLocal<>();
  private final List<TWorkqueue> workqueues = new CopyOnWriteArrayList<>();
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

  private static Thread daemon(Runnable r, String name) {
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
    return register(new TWorkqueue(name, WorkqueueCore.DEFAULT_MAX_ACTIVE, new ThreadWaitHead()));
  }

  @Override
  public Workqueue allocOrderedWorkqueue(String name) {
    return register(new TWorkqueue(name, 1, new ThreadWaitHead()));
  }

  private Workqueue register(TWorkqueue wq) {
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
    for (TWorkqueue wq : workqueues) {
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

  // Real threads park in the JVM: a per-object lock and condition, a ReentrantLock mutex.
  private final class ThreadParker implements Parker {
    @Override
    public WaitHead newWaitHead() {
      return new ThreadWaitHead();
    }

    @Override
    public MutexCore.Word newMutexWord() {
      return new ThreadMutexWord();
    }

    @Override
    public long nextId() {
      return ids.incrementAndGet();
    }

    @Override
    public String tag() {
      return "";
    }

    @Override
    public Object currentTask() {
      return Thread.currentThread();
    }

    @Override
    public String taskName(Object task) {
      return "'" + ((Thread) task).getName() + "'";
    }

    @Override
    public String sleeperInAtomic() {
      return "thread '" + Thread.currentThread().getName() + "'";
    }
  }

  // getOwner() is protected in ReentrantLock: the mutex's owner checks need it.
  private static final class ThreadMutexWord extends ReentrantLock implements MutexCore.Word {
    private static final long serialVersionUID = 1L;

    @Override
    public Object owner() {
      return getOwner();
    }

    @Override
    public void acquire(Object me, MutexCore mutex) {
      lock();
    }

    @Override
    public boolean tryAcquire(Object me) {
      return tryLock();
    }

    @Override
    public void release() {
      unlock();
    }
  }

  private static final class ThreadWaitHead implements WaitHead {
    final ReentrantLock lock = new ReentrantLock();
    final Condition woken = lock.newCondition();

    @Override
    public void lock() {
      lock.lock();
    }

    @Override
    public void unlock() {
      lock.unlock();
    }

    @Override
    public void waitLocked(BooleanSupplier cond, Supplier<String> what) {
      while (!cond.getAsBoolean()) {
        woken.awaitUninterruptibly();
      }
    }

    @Override
    public void waitEvent(BooleanSupplier cond, Supplier<String> what, boolean idle) {
      boolean interrupted = false;
      lock.lock();
      try {
        // Checked under the lock wakeAll() takes: a waker's state change is never missed.
        while (!cond.getAsBoolean()) {
          try {
            woken.await();
          } catch (InterruptedException e) {
            interrupted = true; // wake_up_process(): re-check, then keep the interrupt
          }
        }
      } finally {
        lock.unlock();
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
      }
    }

    @Override
    public void wakeOne() {
      woken.signal();
    }

    @Override
    public void wakeAll() {
      woken.signalAll();
    }
  }

  private final class TWorkqueue extends WorkqueueCore<ScheduledFuture<?>> {
    final ThreadWaitHead head;
    final Condition workAvailable;
    int workers;
    int idle;
    int starting;
    int workerNames;

    TWorkqueue(String name, int maxActive, ThreadWaitHead head) {
      super(name, maxActive, ThreadScheduler.this.core, head);
      this.head = head;
      this.workAvailable = head.lock.newCondition();
    }

    @Override
    ScheduledFuture<?> arm(Runnable work, long delayJiffies) {
      long nanos =
          delayJiffies > Long.MAX_VALUE / NANOS_PER_JIFFY
              ? Long.MAX_VALUE
              : delayJiffies * NANOS_PER_JIFFY;
      return timer.schedule(() -> fire(work), nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    void disarm(ScheduledFuture<?> timer) {
      timer.cancel(false);
    }

    @Override
    boolean isOwnWorker() {
      return currentWorkqueue.get() == this;
    }

    @Override
    void onDestroyed() {
      workAvailable.signalAll();
      workqueues.remove(this);
    }

    // Cancels timers and waits for queued work until the deadline (shutdown), then retires
    // workers.
    boolean drain(long deadline) {
      head.lock();
      try {
        if (destroyed) {
          return true;
        }
        beginDrain();
        boolean interrupted = false;
        while (!drained()) {
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            break;
          }
          try {
            head.woken.awaitNanos(left);
          } catch (InterruptedException e) {
            interrupted = true;
          }
        }
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
        destroyed = true;
        workAvailable.signalAll();
        return drained();
      } finally {
        head.unlock();
      }
    }

    // Under the lock: every pending item needs an idle or starting worker, within max_active.
    @Override
    void wakeWorker() {
      if (idle > 0) {
        workAvailable.signal();
      }
      if (pending.size() > idle + starting && workers < maxActive) {
        workers++;
        starting++;
        daemon(this::workerLoop, "kworker/" + name + ":" + workerNames++).start();
      }
    }

    private void workerLoop() {
      currentWorkqueue.set(this);
      head.lock();
      try {
        starting--;
      } finally {
        head.unlock();
      }
      for (Item it = take(); it != null; it = take()) {
        WorkFailedException failed = null;
        try {
          it.work.run();
        } catch (Throwable t) {
          failed =
              new WorkFailedException(
                  "work " + it.work + " on workqueue '" + name + "' failed: " + t, t);
        }
        head.lock();
        try {
          finished(it, failed);
        } finally {
          head.unlock();
        }
      }
    }

    // The next item, or null when this worker should retire (idle too long, or destroyed).
    private Item take() {
      head.lock();
      try {
        for (; ; ) {
          Item it = poll();
          if (it != null) {
            return it;
          }
          if (destroyed) {
            workers--;
            return null;
          }
          idle++;
          long left;
          try {
            left = workAvailable.awaitNanos(KEEP_ALIVE_NANOS);
          } catch (InterruptedException e) {
            left = 0;
          } finally {
            idle--;
          }
          if (left <= 0 && pending.isEmpty()) {
            workers--;
            return null;
          }
        }
      } finally {
        head.unlock();
      }
    }
  }
}
