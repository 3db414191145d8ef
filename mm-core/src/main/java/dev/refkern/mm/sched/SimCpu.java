package dev.refkern.mm.sched;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The one simulated CPU's runqueue ({@code struct rq}) and its seeded {@code __schedule()}: who
 * runs next, the context switch, sleep and wake-up, the timer wheel in virtual {@code jiffies}, and
 * the boot CPU's loop that drives them.
 *
 * <p>One state machine under one lock, {@link #mon}: a simulated task runs only while {@link
 * #current} is it, and hands the CPU over by signalling the next one's condition (parked threads)
 * or by yielding its continuation to the carrier thread, which runs {@link #current} next
 * (continuations, see {@link SimContinuations}). A continuation yields and ends holding {@link
 * #mon} once, which its carrier then holds. {@link SimKthreads} starts and retires tasks, {@link
 * SimWatchdog} reports lockups and deadlocks.
 */
final class SimCpu {
  static final long NO_LIMIT = Long.MAX_VALUE;

  final long seed;
  final String tag;
  final boolean continuations;
  private final SplittableRandom random;
  // Guards all state below; sim threads hand the CPU over through its conditions.
  final ReentrantLock mon = new ReentrantLock();
  final Condition driverTurn = mon.newCondition();
  final ThreadLocal<SimTask> self = new ThreadLocal<>();
  final SchedCore core = new SchedCore(new SimParker(this));
  final SimKthreads tasks = new SimKthreads(this);
  final SimWatchdog watchdog = new SimWatchdog(this);
  // Order matters: the seeded pick indexes into it.
  final List<SimTask> runnable = new ArrayList<>();
  final PriorityQueue<SimTimer> timers = new PriorityQueue<>();
  final Clock clock = new SimClock();

  volatile long jiffies;
  long nextTimerSeq;
  long nextObjectId;
  SimTask current; // null: the boot CPU (driver) holds the CPU
  Thread driver;
  private BooleanSupplier stopWhen;
  private long limit = NO_LIMIT;
  Throwable failure; // SimFailureException or SimDeadlockError
  boolean dead;
  boolean killing;
  private long schedPoints;
  private Consumer<String> pickTrace;
  // Continuations: the carrier thread running them (null until needed), woken by carrierTurn.
  private Thread carrier;
  private final Condition carrierTurn = mon.newCondition();
  private long carriers;

  SimCpu(long seed, boolean continuations) {
    this.continuations = continuations;
    this.seed = seed;
    this.random = new SplittableRandom(seed);
    this.tag = SimScheduler.seedTag(seed);
  }

  // ---------------------------------------------------------------- driving (boot CPU)

  boolean drive(BooleanSupplier stop, long until, Supplier<String> driverWaits) {
    try {
      return driveLocked(stop, until, driverWaits);
    } finally {
      tasks.reapZombies();
    }
  }

  private boolean driveLocked(BooleanSupplier stop, long until, Supplier<String> driverWaits) {
    SimTask me = self.get();
    if (me != null) {
      throw new IllegalStateException(
          tag + ": only the boot CPU drives the simulation, not sim thread '" + me.name + "'");
    }
    mon.lock();
    try {
      ensureAlive();
      if (driver != null) {
        throw new IllegalStateException(
            tag + ": the simulation is already driven by thread '" + driver.getName() + "'");
      }
      if (stop != null && stop.getAsBoolean()) {
        return true;
      }
      driver = Thread.currentThread();
      stopWhen = stop;
      limit = until;
      try {
        SimTask next = pickNext();
        if (next != null) {
          switchTo(next);
          awaitDriverTurn();
        }
      } finally {
        driver = null;
        stopWhen = null;
        limit = NO_LIMIT;
      }
      if (failure == null) {
        if (stop != null && stop.getAsBoolean()) {
          return true;
        }
        // Idle: nothing runnable and no timer due by the limit.
        if (until != NO_LIMIT && jiffies < until) {
          jiffies = until;
        }
        if (timers.isEmpty() && (driverWaits != null || watchdog.anyStuck())) {
          failure = new SimDeadlockError(seed, watchdog.deadlockReport(driverWaits));
        }
      }
      if (failure != null) {
        tasks.abort();
        throw rethrowable(failure);
      }
      return false;
    } finally {
      mon.unlock();
    }
  }

  private void awaitDriverTurn() {
    long seenPoints = schedPoints;
    long since = System.nanoTime();
    boolean interrupted = false;
    while (current != null && failure == null) {
      try {
        driverTurn.await(50, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        // A test timeout, say: end the run rather than ignore it.
        interrupted = true;
        failure =
            new SimFailureException(
                seed, tag + ": the boot CPU was interrupted while the simulation ran", e);
        break;
      }
      if (current == null || failure != null) {
        break;
      }
      if (schedPoints != seenPoints) {
        seenPoints = schedPoints;
        since = System.nanoTime();
      } else if (System.nanoTime() - since > watchdog.timeout.toNanos()) {
        failure = new SimDeadlockError(seed, watchdog.lockupReport(current));
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  void shutdown() {
    if (self.get() != null) {
      throw new IllegalStateException(
          tag + ": shutdown() from sim thread '" + self.get().name + "'");
    }
    mon.lock();
    try {
      if (driver != null) {
        throw new IllegalStateException(tag + ": shutdown() while the simulation runs");
      }
      if (!dead) {
        tasks.abort();
      }
    } finally {
      mon.unlock();
    }
    tasks.reapZombies();
  }

  // ---------------------------------------------------------------- schedule()

  // Picks who runs next, firing timers when nobody can; null hands the CPU to the driver.
  SimTask pickNext() {
    for (; ; ) {
      schedPoints++;
      if (failure != null || killing) {
        return null;
      }
      if (stopWhen != null) {
        try {
          if (stopWhen.getAsBoolean()) {
            return null;
          }
        } catch (RuntimeException | Error e) {
          failure = new SimFailureException(seed, tag + ": the boot CPU's wait condition threw", e);
          return null;
        }
      }
      if (!runnable.isEmpty()) {
        SimTask next = runnable.get(random.nextInt(runnable.size()));
        if (pickTrace != null) {
          pickTrace.accept(next.name + "@" + jiffies);
        }
        return next;
      }
      SimTimer t = timers.peek();
      if (t == null || t.due > limit) {
        return null;
      }
      timers.poll();
      if (t.due > jiffies) {
        jiffies = t.due;
      }
      t.action.run();
    }
  }

  void switchTo(SimTask next) {
    current = next;
    if (next == null) {
      driverTurn.signalAll();
    } else if (!continuations) {
      next.turn.signal();
    } else if (carrier == null) {
      startCarrier();
    } else if (Thread.currentThread() != carrier) {
      carrierTurn.signal(); // on the carrier, its loop runs current next anyway
    }
  }

  long schedPoints() {
    return schedPoints;
  }

  void tracePicks(Consumer<String> sink) {
    pickTrace = sink;
  }

  // ---------------------------------------------------------------- the continuations' carrier

  Thread carrierThread() {
    return carrier;
  }

  // Gives up on a carrier stuck outside the simulator: the next switch starts a fresh one.
  void retireCarrier() {
    if (carrier != null) {
      tasks.retired(carrier); // joined by the driver's reaping, even before it leaves its loop
      carrierTurn.signalAll();
      carrier = null;
    }
  }

  private void startCarrier() {
    Thread t =
        new Thread(this::carrierLoop, "sim-" + Long.toHexString(seed) + "-carrier-" + carriers++);
    t.setDaemon(true);
    carrier = t;
    t.start();
  }

  // Runs the current task's continuation until it yields or ends; exits once no task is live.
  private void carrierLoop() {
    Thread me = Thread.currentThread();
    mon.lock();
    try {
      while (carrier == me) {
        SimTask t = current;
        if (t == null || t.state == SimTask.State.DONE) {
          if (tasks.live.isEmpty()) {
            carrier = null;
            tasks.retired(me);
            return;
          }
          carrierTurn.awaitUninterruptibly();
          continue;
        }
        // The continuation runs holding mon once, and returns holding it once.
        t.ranOn = me;
        t.locals = SimContinuations.run(t.cont, t.locals);
        if (current == null) {
          driverTurn.signalAll();
        }
      }
      tasks.retired(me);
    } finally {
      mon.unlock();
    }
  }

  // Called by the running thread at a scheduling point, its state already set.
  private void reschedule(SimTask me) {
    SimTask next = pickNext();
    if (next == me) {
      return;
    }
    switchTo(next);
    awaitTurn(me);
  }

  void awaitTurn(SimTask me) {
    me.parkedInSim = true;
    try {
      while (current != me && !me.killed) {
        if (me.cont != null) {
          yieldHoldingMonOnce();
        } else {
          me.turn.awaitUninterruptibly();
        }
      }
    } finally {
      me.parkedInSim = false;
    }
    if (me.killed) {
      throw new SimKill();
    }
  }

  // The carrier expects mon held exactly once across a yield; deeper holds are restored after.
  private void yieldHoldingMonOnce() {
    int extra = mon.getHoldCount() - 1;
    for (int i = 0; i < extra; i++) {
      mon.unlock();
    }
    try {
      SimContinuations.yieldNow();
    } finally {
      for (int i = 0; i < extra; i++) {
        mon.lock();
      }
    }
  }

  // Hands the CPU to t to unwind it (abort): its thread or the carrier runs it next.
  void resumeToKill(SimTask t) {
    current = t;
    if (t.cont == null) {
      t.turn.signal();
    } else if (carrier == null) {
      startCarrier();
    } else {
      carrierTurn.signal();
    }
  }

  // A preemption point: the caller stays runnable and the seeded pick may run someone else.
  void preempt() {
    SimTask me = self.get();
    if (me == null || core.inAtomicContext()) {
      return;
    }
    mon.lock();
    try {
      if (me.killed) {
        throw new SimKill();
      }
      reschedule(me);
    } finally {
      mon.unlock();
    }
  }

  // Every sleep, after might_sleep(): re-checks cond after each wake-up; the boot CPU runs the
  // simulation instead.
  void waitUntil(SimWaitList q, BooleanSupplier cond, Supplier<String> what, boolean idle) {
    SimTask me = self.get();
    if (me == null) {
      drive(cond, NO_LIMIT, what);
      return;
    }
    while (!cond.getAsBoolean()) {
      mon.lock();
      try {
        if (me.killed) {
          throw new SimKill();
        }
        me.state = SimTask.State.BLOCKED;
        me.blockedOn = q;
        me.waitingOn = what;
        me.idleWait = idle;
        q.waiters.add(me);
        runnable.remove(me);
        reschedule(me);
      } finally {
        mon.unlock();
      }
    }
  }

  void makeRunnable(SimTask t) {
    if (t.state != SimTask.State.BLOCKED) {
      return;
    }
    t.state = SimTask.State.RUNNABLE;
    t.blockedOn = null;
    t.waitingOn = null;
    t.idleWait = false;
    runnable.add(t);
  }

  // wake_up_process(): every sleep re-checks its condition, so a spurious wake-up is safe.
  void wakeUpProcess(SimTask t) {
    if (t.state == SimTask.State.BLOCKED) {
      t.blockedOn.waiters.remove(t);
      makeRunnable(t);
    }
  }

  void ensureAlive() {
    if (dead) {
      if (self.get() != null) {
        throw new SimKill();
      }
      throw new IllegalStateException(
          tag + ": the simulation is over" + (failure == null ? " (shut down)" : ""), failure);
    }
  }

  private static RuntimeException rethrowable(Throwable t) {
    if (t instanceof Error) {
      throw (Error) t;
    }
    return (RuntimeException) t;
  }

  // jiffies move only when the seeded pick fires a timer or the boot CPU advances them.
  private final class SimClock implements Clock {
    @Override
    public long jiffies() {
      return jiffies;
    }

    @Override
    public long nanos() {
      return jiffies * (1_000_000_000L / HZ);
    }
  }
}
