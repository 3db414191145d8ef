package dev.refkern.mm.sched;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

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
public final class ThreadScheduler implements Scheduler {

  // WQ_DFL_ACTIVE: how many items of one workqueue may be in flight at once.
  private static final int DEFAULT_MAX_ACTIVE = 256;
  private static final long KEEP_ALIVE_NANOS = TimeUnit.SECONDS.toNanos(1);
  private static final long SHUTDOWN_GRACE_NANOS = TimeUnit.SECONDS.toNanos(10);
  private static final long NANOS_PER_JIFFY = 1_000_000_000L / Clock.HZ;

  private final long epoch = System.nanoTime();
  private final AtomicLong ids = new AtomicLong();
  private final ScheduledThreadPoolExecutor timer;
  private final ThreadLocal<int[]> atomicDepth = ThreadLocal.withInitial(() -> new int[1]);
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
    return register(new TWorkqueue(name, DEFAULT_MAX_ACTIVE));
  }

  @Override
  public Workqueue allocOrderedWorkqueue(String name) {
    return register(new TWorkqueue(name, 1));
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
    return new TLock(Objects.requireNonNull(name, "name"));
  }

  @Override
  public Completion newCompletion() {
    return new TCompletion(ids.incrementAndGet());
  }

  @Override
  public WaitQueue newWaitQueue() {
    return new TWaitQueue(ids.incrementAndGet());
  }

  @Override
  public void condResched() {
    mightSleep();
  }

  @Override
  public void runInCompletionContext(Runnable body) {
    int[] depth = atomicDepth.get();
    depth[0]++;
    try {
      body.run();
    } finally {
      depth[0]--;
    }
  }

  @Override
  public boolean inAtomicContext() {
    return atomicDepth.get()[0] > 0;
  }

  @Override
  public void mightSleep() {
    if (inAtomicContext()) {
      throw new SleepInAtomicError(
          "BUG: sleeping function called from invalid context: in_atomic()=1, thread '"
              + Thread.currentThread().getName()
              + "'");
    }
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

  private final class TLock implements KLock {
    final String name;
    final ReentrantLock lock = new ReentrantLock();

    TLock(String name) {
      this.name = name;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public void lock() {
      mightSleep();
      if (lock.isHeldByCurrentThread()) {
        throw new IllegalStateException(
            "recursive locking of mutex '"
                + name
                + "' by '"
                + Thread.currentThread().getName()
                + "'");
      }
      lock.lock();
    }

    @Override
    public void unlock() {
      if (!lock.isHeldByCurrentThread()) {
        throw new IllegalStateException(
            "mutex '"
                + name
                + "' unlocked by '"
                + Thread.currentThread().getName()
                + "', which does not hold it");
      }
      lock.unlock();
    }

    @Override
    public boolean tryLock() {
      return !lock.isHeldByCurrentThread() && lock.tryLock();
    }

    @Override
    public boolean isHeldByCurrentThread() {
      return lock.isHeldByCurrentThread();
    }

    @Override
    public String toString() {
      return "mutex '" + name + "'";
    }
  }

  private final class TCompletion implements Completion {
    static final int ALL = Integer.MAX_VALUE; // complete_all(): UINT_MAX in the kernel
    final long id;
    final ReentrantLock lock = new ReentrantLock();
    final Condition changed = lock.newCondition();
    int done;

    TCompletion(long id) {
      this.id = id;
    }

    @Override
    public void complete() {
      lock.lock();
      try {
        if (done < ALL - 1) {
          done++;
        }
        changed.signal();
      } finally {
        lock.unlock();
      }
    }

    @Override
    public void completeAll() {
      lock.lock();
      try {
        done = ALL;
        changed.signalAll();
      } finally {
        lock.unlock();
      }
    }

    @Override
    public void waitForCompletion() {
      mightSleep();
      lock.lock();
      try {
        while (done == 0) {
          changed.awaitUninterruptibly();
        }
        if (done != ALL) {
          done--;
        }
      } finally {
        lock.unlock();
      }
    }

    @Override
    public boolean done() {
      lock.lock();
      try {
        return done > 0;
      } finally {
        lock.unlock();
      }
    }

    @Override
    public void reinit() {
      lock.lock();
      try {
        done = 0;
      } finally {
        lock.unlock();
      }
    }

    @Override
    public String toString() {
      return "completion#" + id;
    }
  }

  private final class TWaitQueue implements WaitQueue {
    final long id;
    final ReentrantLock lock = new ReentrantLock();
    final Condition woken = lock.newCondition();

    TWaitQueue(long id) {
      this.id = id;
    }

    @Override
    public void await(BooleanSupplier condition) {
      mightSleep();
      boolean interrupted = false;
      lock.lock();
      try {
        // Checked under the lock wakeAll() takes: a waker's state change is never missed.
        while (!condition.getAsBoolean()) {
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
    public void awaitIdle(BooleanSupplier condition) {
      await(condition);
    }

    @Override
    public void wakeAll() {
      lock.lock();
      try {
        woken.signalAll();
      } finally {
        lock.unlock();
      }
    }

    @Override
    public String toString() {
      return "waitqueue#" + id;
    }
  }

  private static final class Item {
    final Runnable work;
    final long seq;

    Item(Runnable work, long seq) {
      this.work = work;
      this.seq = seq;
    }
  }

  private final class TWorkqueue implements Workqueue {
    final String name;
    final int maxActive;
    final ReentrantLock lock = new ReentrantLock();
    final Condition workAvailable = lock.newCondition();
    final Condition progress = lock.newCondition();
    final ArrayDeque<Item> pending = new ArrayDeque<>();
    // The work_struct PENDING bit, by identity: set from queueing until a worker takes it.
    final Set<Runnable> pendingWork = Collections.newSetFromMap(new IdentityHashMap<>());
    final Map<Runnable, ScheduledFuture<?>> armed = new IdentityHashMap<>();
    final TreeSet<Long> unfinished = new TreeSet<>();
    final List<WorkFailedException> failures = new ArrayList<>();
    long seq;
    int workers;
    int idle;
    int starting;
    int workerNames;
    boolean draining;
    boolean destroyed;

    TWorkqueue(String name, int maxActive) {
      this.name = Objects.requireNonNull(name, "name");
      this.maxActive = maxActive;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public boolean queueWork(Runnable work) {
      Objects.requireNonNull(work, "work");
      lock.lock();
      try {
        checkOpen();
        if (!pendingWork.add(work)) {
          return false;
        }
        enqueue(work);
        return true;
      } finally {
        lock.unlock();
      }
    }

    @Override
    public boolean queueDelayedWork(Runnable work, long delayJiffies) {
      Objects.requireNonNull(work, "work");
      if (delayJiffies <= 0) {
        return queueWork(work);
      }
      lock.lock();
      try {
        checkOpen();
        if (!pendingWork.add(work)) {
          return false;
        }
        long nanos =
            delayJiffies > Long.MAX_VALUE / NANOS_PER_JIFFY
                ? Long.MAX_VALUE
                : delayJiffies * NANOS_PER_JIFFY;
        armed.put(work, timer.schedule(() -> fire(work), nanos, TimeUnit.NANOSECONDS));
        return true;
      } finally {
        lock.unlock();
      }
    }

    private void fire(Runnable work) {
      lock.lock();
      try {
        if (armed.remove(work) != null) {
          enqueue(work);
        }
      } finally {
        lock.unlock();
      }
    }

    @Override
    public boolean cancelWork(Runnable work) {
      lock.lock();
      try {
        ScheduledFuture<?> f = armed.remove(work);
        if (f != null) {
          f.cancel(false);
          pendingWork.remove(work);
          return true;
        }
        for (Iterator<Item> i = pending.iterator(); i.hasNext(); ) {
          Item it = i.next();
          if (it.work == work) {
            i.remove();
            pendingWork.remove(work);
            unfinished.remove(it.seq);
            progress.signalAll();
            return true;
          }
        }
        return false;
      } finally {
        lock.unlock();
      }
    }

    @Override
    public void flush() {
      mightSleep();
      checkNotOwnWorker("flush_workqueue");
      lock.lock();
      try {
        long target = seq;
        while (!unfinished.isEmpty() && unfinished.first() <= target) {
          progress.awaitUninterruptibly();
        }
        throwFailures();
      } finally {
        lock.unlock();
      }
    }

    @Override
    public void destroy() {
      mightSleep();
      checkNotOwnWorker("destroy_workqueue");
      drain(Long.MAX_VALUE);
      workqueues.remove(this);
      lock.lock();
      try {
        throwFailures();
      } finally {
        lock.unlock();
      }
    }

    // Cancels timers, waits for queued work (by deadline, MAX_VALUE: forever), then retires
    // workers.
    boolean drain(long deadline) {
      lock.lock();
      try {
        if (destroyed) {
          return true;
        }
        draining = true;
        for (Map.Entry<Runnable, ScheduledFuture<?>> e : armed.entrySet()) {
          e.getValue().cancel(false);
          pendingWork.remove(e.getKey());
        }
        armed.clear();
        boolean interrupted = false;
        while (!unfinished.isEmpty()) {
          if (deadline == Long.MAX_VALUE) {
            progress.awaitUninterruptibly();
            continue;
          }
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            break;
          }
          try {
            progress.awaitNanos(left);
          } catch (InterruptedException e) {
            interrupted = true;
          }
        }
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
        destroyed = true;
        workAvailable.signalAll();
        return unfinished.isEmpty();
      } finally {
        lock.unlock();
      }
    }

    void takeFailures(List<Throwable> into) {
      lock.lock();
      try {
        into.addAll(failures);
        failures.clear();
      } finally {
        lock.unlock();
      }
    }

    private void throwFailures() {
      if (failures.isEmpty()) {
        return;
      }
      WorkFailedException first = failures.get(0);
      for (WorkFailedException f : failures.subList(1, failures.size())) {
        first.addSuppressed(f);
      }
      failures.clear();
      throw first;
    }

    private void checkOpen() {
      if (destroyed) {
        throw new IllegalStateException("queue_work on destroyed workqueue '" + name + "'");
      }
      if (draining && currentWorkqueue.get() != this) {
        throw new IllegalStateException(
            "workqueue '" + name + "' is draining; only its own work may queue more");
      }
    }

    private void checkNotOwnWorker(String op) {
      if (currentWorkqueue.get() == this) {
        throw new IllegalStateException(
            op + "('" + name + "') from its own work item would wait for itself");
      }
    }

    // Under lock: every pending item needs an idle or starting worker, within max_active.
    private void enqueue(Runnable work) {
      Item it = new Item(work, ++seq);
      pending.add(it);
      unfinished.add(it.seq);
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
      lock.lock();
      try {
        starting--;
      } finally {
        lock.unlock();
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
        lock.lock();
        try {
          if (failed != null) {
            failures.add(failed);
          }
          unfinished.remove(it.seq);
          progress.signalAll();
        } finally {
          lock.unlock();
        }
      }
    }

    // The next item, or null when this worker should retire (idle too long, or destroyed).
    private Item take() {
      lock.lock();
      try {
        for (; ; ) {
          Item it = pending.poll();
          if (it != null) {
            pendingWork.remove(it.work);
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
        lock.unlock();
      }
    }

    @Override
    public String toString() {
      return "workqueue '" + name + "'";
    }
  }
}
