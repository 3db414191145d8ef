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

/**
 * The bookkeeping of a {@code struct workqueue_struct} both schedulers share, {@code
 * kernel/workqueue.c}: the pending bit, the queue, delayed-work timers, flush and drain. Starting
 * workers and arming timers are the scheduler's; all state is guarded by the lock of {@link
 * #progress}, on which flushers and drainers sleep.
 *
 * @param <T> the scheduler's timer handle
 */
abstract class WorkqueueCore<T> implements Workqueue {

  /** One queued work item; {@code seq} orders it for flush. */
  static final class Item {
    final Runnable work;
    final long seq;

    Item(Runnable work, long seq) {
      this.work = work;
      this.seq = seq;
    }
  }

  /** {@code WQ_DFL_ACTIVE}: how many items of one workqueue may be in flight at once. */
  static final int DEFAULT_MAX_ACTIVE = 256;

  final String name;
  final int maxActive;
  final SchedCore core;
  final WaitHead progress;
  final ArrayDeque<Item> pending = new ArrayDeque<>();
  // The work_struct PENDING bit, by identity: set from queueing until a worker takes it.
  private final Set<Runnable> pendingWork = Collections.newSetFromMap(new IdentityHashMap<>());
  private final Map<Runnable, T> armed = new IdentityHashMap<>();
  private final TreeSet<Long> unfinished = new TreeSet<>();
  private final List<WorkFailedException> failures = new ArrayList<>();
  private long seq;
  private boolean draining;
  boolean destroyed;

  WorkqueueCore(String name, int maxActive, SchedCore core, WaitHead progress) {
    this.name = Objects.requireNonNull(name, "name");
    this.maxActive = maxActive;
    this.core = core;
    this.progress = progress;
  }

  /** Under the lock: arms a timer that calls {@link #fire} with {@code work} when due. */
  abstract T arm(Runnable work, long delayJiffies);

  /** Under the lock: disarms a timer {@link #arm} returned. */
  abstract void disarm(T timer);

  /** Whether the calling thread is one of this workqueue's workers. */
  abstract boolean isOwnWorker();

  /** Under the lock, after an item was queued: wakes or starts a worker for it. */
  abstract void wakeWorker();

  /** Under the lock: throws if the scheduler can no longer run work. */
  void checkAlive() {}

  /** After a successful {@code queue_work()}, outside the lock. */
  void afterQueue() {}

  /** Under the lock, in {@code destroy()}: false to skip waiting for queued work. */
  boolean canDrain() {
    return true;
  }

  /** Under the lock, once destroyed: lets idle workers retire. */
  void onDestroyed() {}

  @Override
  public String name() {
    return name;
  }

  @Override
  public boolean queueWork(Runnable work) {
    Objects.requireNonNull(work, "work");
    progress.lock();
    try {
      checkOpen();
      if (!pendingWork.add(work)) {
        return false;
      }
      enqueue(work);
    } finally {
      progress.unlock();
    }
    afterQueue();
    return true;
  }

  @Override
  public boolean queueDelayedWork(Runnable work, long delayJiffies) {
    Objects.requireNonNull(work, "work");
    if (delayJiffies <= 0) {
      return queueWork(work);
    }
    progress.lock();
    try {
      checkOpen();
      if (!pendingWork.add(work)) {
        return false;
      }
      armed.put(work, arm(work, delayJiffies));
      return true;
    } finally {
      progress.unlock();
    }
  }

  /** The timer of delayed {@code work} fired, {@code delayed_work_timer_fn()}. */
  final void fire(Runnable work) {
    progress.lock();
    try {
      if (armed.remove(work) != null) {
        enqueue(work);
      }
    } finally {
      progress.unlock();
    }
  }

  @Override
  public boolean cancelWork(Runnable work) {
    progress.lock();
    try {
      T t = armed.remove(work);
      if (t != null) {
        disarm(t);
        pendingWork.remove(work);
        return true;
      }
      for (Iterator<Item> i = pending.iterator(); i.hasNext(); ) {
        Item it = i.next();
        if (it.work == work) {
          i.remove();
          pendingWork.remove(work);
          unfinished.remove(it.seq);
          progress.wakeAll();
          return true;
        }
      }
      return false;
    } finally {
      progress.unlock();
    }
  }

  @Override
  public void flush() {
    core.mightSleep();
    progress.lock();
    try {
      checkNotOwnWorker("flush_workqueue");
      long target = seq;
      progress.waitLocked(
          () -> unfinished.isEmpty() || unfinished.first() > target,
          () -> "flush of workqueue '" + name + "'");
      throwFailures();
    } finally {
      progress.unlock();
    }
  }

  @Override
  public void destroy() {
    core.mightSleep();
    progress.lock();
    try {
      checkNotOwnWorker("destroy_workqueue");
      if (!destroyed) {
        if (canDrain()) {
          beginDrain();
          progress.waitLocked(unfinished::isEmpty, () -> "drain of workqueue '" + name + "'");
        }
        destroyed = true;
        onDestroyed();
      }
      throwFailures();
    } finally {
      progress.unlock();
    }
  }

  /** Under the lock: rejects work from outside and cancels the timers, as a drain starts. */
  final void beginDrain() {
    draining = true;
    for (Map.Entry<Runnable, T> e : armed.entrySet()) {
      disarm(e.getValue());
      pendingWork.remove(e.getKey());
    }
    armed.clear();
  }

  /** Under the lock: whether every queued item has run. */
  final boolean drained() {
    return unfinished.isEmpty();
  }

  /** Under the lock: the next item for a worker, clearing its pending bit; null if none. */
  final Item poll() {
    Item it = pending.poll();
    if (it != null) {
      pendingWork.remove(it.work);
    }
    return it;
  }

  /** Under the lock: {@code it} has run, and failed if {@code failed} is not null. */
  final void finished(Item it, WorkFailedException failed) {
    if (failed != null) {
      failures.add(failed);
    }
    unfinished.remove(it.seq);
    progress.wakeAll();
  }

  /** Moves the failures nobody was told of into {@code into}. */
  final void takeFailures(List<Throwable> into) {
    progress.lock();
    try {
      into.addAll(failures);
      failures.clear();
    } finally {
      progress.unlock();
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
    checkAlive();
    if (destroyed) {
      throw new IllegalStateException(
          core.tag() + "queue_work on destroyed workqueue '" + name + "'");
    }
    if (draining && !isOwnWorker()) {
      throw new IllegalStateException(
          core.tag() + "workqueue '" + name + "' is draining; only its own work may queue more");
    }
  }

  private void checkNotOwnWorker(String op) {
    if (isOwnWorker()) {
      throw new IllegalStateException(
          core.tag() + op + "('" + name + "') from its own work item would wait for itself");
    }
  }

  // Queues one item and wakes a worker for it, as the pool would; under the lock.
  private void enqueue(Runnable work) {
    Item it = new Item(work, ++seq);
    pending.add(it);
    unfinished.add(it.seq);
    wakeWorker();
  }

  @Override
  public String toString() {
    return "workqueue '" + name + "'";
  }
}
