package dev.refkern.mm.sched;

import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;

/**
 * A {@code struct workqueue_struct} with its own {@code kworker} pool of daemon threads, started on
 * demand up to {@code max_active} and retired after a second idle; delayed work waits on the
 * scheduler's one timer thread.
 */
final class ThreadWorkqueue extends WorkqueueCore<ScheduledFuture<?>> {
  private static final long KEEP_ALIVE_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final ThreadScheduler sched;
  final ThreadParker.ThreadWaitHead head;
  final Condition workAvailable;
  int workers;
  int idle;
  int starting;
  int workerNames;

  ThreadWorkqueue(ThreadScheduler sched, String name, int maxActive) {
    this(sched, name, maxActive, new ThreadParker.ThreadWaitHead());
  }

  private ThreadWorkqueue(
      ThreadScheduler sched, String name, int maxActive, ThreadParker.ThreadWaitHead head) {
    super(name, maxActive, sched.core, head);
    this.sched = sched;
    this.head = head;
    this.workAvailable = head.lock.newCondition();
  }

  @Override
  ScheduledFuture<?> arm(Runnable work, long delayJiffies) {
    long nanos =
        delayJiffies > Long.MAX_VALUE / ThreadScheduler.NANOS_PER_JIFFY
            ? Long.MAX_VALUE
            : delayJiffies * ThreadScheduler.NANOS_PER_JIFFY;
    return sched.timer.schedule(() -> fire(work), nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  void disarm(ScheduledFuture<?> timer) {
    timer.cancel(false);
  }

  @Override
  boolean isOwnWorker() {
    return sched.currentWorkqueue.get() == this;
  }

  @Override
  void onDestroyed() {
    workAvailable.signalAll();
    sched.workqueues.remove(this);
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
      ThreadScheduler.daemon(this::workerLoop, "kworker/" + name + ":" + workerNames++).start();
    }
  }

  private void workerLoop() {
    sched.currentWorkqueue.set(this);
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
