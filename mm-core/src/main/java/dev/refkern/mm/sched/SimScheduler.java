package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apiguardian.api.API;

/**
 * A deterministic uniprocessor, the {@code CONFIG_SMP=n} kernel with a seeded {@code schedule()}:
 * the same seed replays the same interleaving bit for bit.
 *
 * <p>Every kthread and workqueue worker is a daemon Java thread, but only the holder of the one
 * simulated CPU runs; the others are parked. At each scheduling point ({@code cond_resched()}, a
 * contended lock, a sleep, {@code queue_work()}, thread exit) a {@link SplittableRandom} seeded
 * with the seed picks the next runnable thread. The calling (test) thread is the boot CPU: it holds
 * the CPU until it calls {@link #runUntilIdle()} or another driving method, or sleeps in one of
 * this scheduler's primitives, which runs the simulation until the sleep is over. Code running here
 * needs no Java synchronization of its own: every hand-off of the CPU is a happens-before edge.
 *
 * <p>Time is virtual: {@code jiffies} move only when no thread can run and a timer is pending, and
 * then jump to the earliest timer. When no thread can run, none is pending and a thread still
 * sleeps (other than in {@link WaitQueue#awaitIdle}), the run fails with {@link SimDeadlockError}.
 * A thread that throws ends the run with {@link SimFailureException}. Both name the seed; after
 * either, every simulated thread has been unwound and joined and the scheduler is dead.
 *
 * <p>A simulated thread must not reach a scheduling point while holding a plain Java lock or
 * monitor: the next thread taking that lock would block inside the JVM while holding the simulated
 * CPU. The watchdog ({@link #watchdog(Duration)}) reports that, and a thread that runs too long
 * without a scheduling point, as a {@link SimDeadlockError}.
 */
@API(status = STABLE, since = "0.1.0")
public final class SimScheduler implements Scheduler {

  private static final long NO_LIMIT = Long.MAX_VALUE;
  private static final long KILL_WAIT_NANOS = TimeUnit.SECONDS.toNanos(2);
  private static final long JOIN_MILLIS = 2000;

  private final long seed;
  private final SplittableRandom random;
  private final String tag;
  // Guards all state below; sim threads hand the CPU over through its conditions.
  private final ReentrantLock mon = new ReentrantLock();
  private final Condition driverTurn = mon.newCondition();
  private final ThreadLocal<SimThread> self = new ThreadLocal<>();
  private final SchedCore core = new SchedCore(new SimParker());
  private final List<SimThread> live = new ArrayList<>();
  // Order matters: the seeded pick indexes into it.
  private final List<SimThread> runnable = new ArrayList<>();
  private final PriorityQueue<Timer> timers = new PriorityQueue<>();
  private final List<Thread> zombies = new ArrayList<>();
  private final Clock clock = new SimClock();

  private volatile long jiffies;
  private long nextThreadId;
  private long nextTimerSeq;
  private long nextObjectId;
  private SimThread current; // null: the boot CPU (driver) holds the CPU
  private Thread driver;
  private BooleanSupplier stopWhen;
  private long limit = NO_LIMIT;
  private Throwable failure; // SimFailureException or SimDeadlockError
  private boolean dead;
  private boolean killing;
  private long schedPoints;
  private Duration watchdog = Duration.ofSeconds(20);

  /** A simulation replaying {@code seed}. */
  public SimScheduler(long seed) {
    this.seed = seed;
    this.random = new SplittableRandom(seed);
    this.tag = seedTag(seed);
  }

  /** How a seed is printed in every message of the simulation: {@code seed=0x2a}. */
  public static String seedTag(long seed) {
    return "seed=0x" + Long.toHexString(seed);
  }

  /**
   * Sets how long one thread may hold the CPU without reaching a scheduling point (default 20 s,
   * the kernel's soft-lockup threshold) before the run fails with {@link SimDeadlockError}.
   */
  public SimScheduler watchdog(Duration timeout) {
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("watchdog must be positive: " + timeout);
    }
    mon.lock();
    try {
      watchdog = timeout;
    } finally {
      mon.unlock();
    }
    return this;
  }

  // ---------------------------------------------------------------- driving (boot CPU)

  /**
   * Runs until no thread can run and no timer is pending; firing timers moves {@code jiffies}.
   *
   * @throws SimDeadlockError if a thread still sleeps then (not in {@link WaitQueue#awaitIdle})
   * @throws SimFailureException if a simulated thread threw
   */
  public void runUntilIdle() {
    drive(null, NO_LIMIT, null);
  }

  /**
   * Starts {@code main} as kthread {@code "main"} and runs until idle, see {@link #runUntilIdle}.
   */
  public void run(Runnable main) {
    kthreadRun("main", main);
    runUntilIdle();
  }

  /**
   * Runs until {@code condition} holds at a scheduling point (true) or nothing can run (false).
   *
   * @throws SimDeadlockError if nothing can run and a thread still sleeps
   */
  public boolean runUntil(BooleanSupplier condition) {
    return drive(Objects.requireNonNull(condition, "condition"), NO_LIMIT, null);
  }

  /**
   * Runs for {@code ticks} jiffies of virtual time: fires the timers due by then, runs until
   * nothing can run, and leaves {@code jiffies} at the target.
   */
  public void advance(long ticks) {
    if (ticks < 0) {
      throw new IllegalArgumentException("cannot go back in time: " + ticks);
    }
    long target = jiffies + ticks;
    drive(null, target < 0 ? NO_LIMIT - 1 : target, null);
  }

  private boolean drive(BooleanSupplier stop, long until, Supplier<String> driverWaits) {
    try {
      return driveLocked(stop, until, driverWaits);
    } finally {
      reapZombies();
    }
  }

  private boolean driveLocked(BooleanSupplier stop, long until, Supplier<String> driverWaits) {
    SimThread me = self.get();
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
        SimThread next = pickNext();
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
        if (timers.isEmpty() && (driverWaits != null || anyStuck())) {
          failure = new SimDeadlockError(seed, deadlockReport(driverWaits));
        }
      }
      if (failure != null) {
        abort();
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
      } else if (System.nanoTime() - since > watchdog.toNanos()) {
        failure = new SimDeadlockError(seed, watchdogReport(current));
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void shutdown() {
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
        abort();
      }
    } finally {
      mon.unlock();
    }
    reapZombies();
  }

  // ---------------------------------------------------------------- the scheduler core

  // Picks who runs next, firing timers when nobody can; null hands the CPU to the driver.
  private SimThread pickNext() {
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
        return runnable.get(random.nextInt(runnable.size()));
      }
      Timer t = timers.peek();
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

  private void switchTo(SimThread next) {
    current = next;
    if (next == null) {
      driverTurn.signalAll();
    } else {
      next.turn.signal();
    }
  }

  // Called by the running thread at a scheduling point, its state already set.
  private void reschedule(SimThread me) {
    SimThread next = pickNext();
    if (next == me) {
      return;
    }
    switchTo(next);
    awaitTurn(me);
  }

  private void awaitTurn(SimThread me) {
    me.parkedInSim = true;
    try {
      while (current != me && !me.killed) {
        me.turn.awaitUninterruptibly();
      }
    } finally {
      me.parkedInSim = false;
    }
    if (me.killed) {
      throw new SimKill();
    }
  }

  // A preemption point: the caller stays runnable and the seeded pick may run someone else.
  private void preempt() {
    SimThread me = self.get();
    if (me == null || inAtomicContext()) {
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
  private void waitUntil(WaitList q, BooleanSupplier cond, Supplier<String> what, boolean idle) {
    SimThread me = self.get();
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
        me.state = State.BLOCKED;
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

  private void makeRunnable(SimThread t) {
    if (t.state != State.BLOCKED) {
      return;
    }
    t.state = State.RUNNABLE;
    t.blockedOn = null;
    t.waitingOn = null;
    t.idleWait = false;
    runnable.add(t);
  }

  // wake_up_process(): every sleep re-checks its condition, so a spurious wake-up is safe.
  private void wakeUpProcess(SimThread t) {
    if (t.state == State.BLOCKED) {
      t.blockedOn.waiters.remove(t);
      makeRunnable(t);
    }
  }

  private SimThread spawn(String name, Runnable body, boolean kthread) {
    SimThread t = new SimThread(name, body, kthread, nextThreadId++);
    live.add(t);
    runnable.add(t);
    t.thread.start();
    return t;
  }

  private void exit(SimThread me) {
    me.state = State.DONE;
    live.remove(me);
    runnable.remove(me);
    zombies.add(me.thread);
    me.exitWaiters.wakeAll();
    if (killing || current != me) {
      driverTurn.signalAll();
      return;
    }
    switchTo(pickNext());
  }

  // Unwinds every sim thread one at a time (each gets the CPU and throws SimKill), then is dead.
  private void abort() {
    dead = true;
    killing = true;
    SimThread stalled = current;
    current = null;
    boolean interrupted = false;
    for (SimThread t : new ArrayList<>(live)) {
      if (t.state == State.DONE) {
        continue;
      }
      t.killed = true;
      if (t == stalled && !t.parkedInSim) {
        t.thread.interrupt(); // stuck outside the simulator; it unwinds if it ever comes back
        continue;
      }
      current = t;
      t.turn.signal();
      long deadline = System.nanoTime() + KILL_WAIT_NANOS;
      while (t.state != State.DONE && deadline - System.nanoTime() > 0) {
        try {
          driverTurn.awaitNanos(deadline - System.nanoTime());
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (t.state != State.DONE) {
        t.thread.interrupt();
      }
    }
    current = null;
    for (SimThread t : live) {
      zombies.add(t.thread);
    }
    runnable.clear();
    timers.clear();
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private void reapZombies() {
    List<Thread> reap;
    mon.lock();
    try {
      reap = new ArrayList<>(zombies);
      zombies.clear();
    } finally {
      mon.unlock();
    }
    boolean interrupted = false;
    for (Thread t : reap) {
      long deadline = System.currentTimeMillis() + JOIN_MILLIS;
      while (t.isAlive() && System.currentTimeMillis() < deadline) {
        try {
          t.join(Math.max(1, deadline - System.currentTimeMillis()));
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    }
    List<Thread> stillAlive = new ArrayList<>();
    for (Thread t : reap) {
      if (t.isAlive()) {
        stillAlive.add(t); // stuck outside the simulator: shutdown() tries again
      }
    }
    if (!stillAlive.isEmpty()) {
      mon.lock();
      try {
        zombies.addAll(stillAlive);
      } finally {
        mon.unlock();
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private void ensureAlive() {
    if (dead) {
      if (self.get() != null) {
        throw new SimKill();
      }
      throw new IllegalStateException(
          tag + ": the simulation is over" + (failure == null ? " (shut down)" : ""), failure);
    }
  }

  private boolean anyStuck() {
    for (SimThread t : live) {
      if (t.state == State.BLOCKED && !t.idleWait) {
        return true;
      }
    }
    return false;
  }

  private String deadlockReport(Supplier<String> driverWaits) {
    StringBuilder sb = new StringBuilder(tag);
    sb.append(": deadlock at jiffies=").append(jiffies);
    sb.append(": no thread can run and no timer is pending");
    if (driverWaits != null) {
      sb.append("\n  boot CPU waits on ").append(driverWaits.get());
    }
    for (SimThread t : live) {
      sb.append("\n  '").append(t.name).append('\'');
      if (t.state == State.BLOCKED) {
        sb.append(t.idleWait ? " idles on " : " waits on ").append(t.waitingOn.get());
      } else {
        sb.append(" is ").append(t.state);
      }
    }
    return sb.toString();
  }

  private String watchdogReport(SimThread t) {
    Thread.State st = t.thread.getState();
    StringBuilder sb = new StringBuilder(tag);
    if (st == Thread.State.BLOCKED || st == Thread.State.WAITING) {
      sb.append(": sim thread '")
          .append(t.name)
          .append("' is blocked outside the simulator (Java state ")
          .append(st)
          .append("): a plain Java lock or monitor held across a scheduling point,")
          .append(" or a blocking call the simulator does not know?");
    } else {
      sb.append(": soft lockup: sim thread '")
          .append(t.name)
          .append("' held the CPU for ")
          .append(watchdog.toMillis())
          .append(" ms without a scheduling point (Java state ")
          .append(st)
          .append(')');
    }
    sb.append(" at jiffies=").append(jiffies);
    StackTraceElement[] stack = t.thread.getStackTrace();
    for (int i = 0; i < Math.min(stack.length, 16); i++) {
      sb.append("\n    at ").append(stack[i]);
    }
    return sb.toString();
  }

  private static RuntimeException rethrowable(Throwable t) {
    if (t instanceof Error) {
      throw (Error) t;
    }
    return (RuntimeException) t;
  }

  // ---------------------------------------------------------------- Scheduler

  @Override
  public Clock clock() {
    return clock;
  }

  @Override
  public long seed() {
    return seed;
  }

  @Override
  public Workqueue allocWorkqueue(String name) {
    return new SimWorkqueue(name, WorkqueueCore.DEFAULT_MAX_ACTIVE);
  }

  @Override
  public Workqueue allocOrderedWorkqueue(String name) {
    return new SimWorkqueue(name, 1);
  }

  @Override
  public KThread kthreadRun(String name, Runnable body) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(body, "body");
    mon.lock();
    try {
      ensureAlive();
      return spawn(name, body, true);
    } finally {
      mon.unlock();
    }
  }

  @Override
  public boolean kthreadShouldStop() {
    SimThread me = self.get();
    return me != null && me.stopRequested;
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
    preempt();
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

  @Override
  public String toString() {
    return "SimScheduler[" + tag + ", jiffies=" + jiffies + "]";
  }

  // ---------------------------------------------------------------- parts

  private enum State {
    RUNNABLE,
    BLOCKED,
    DONE
  }

  // Unwinds a sim thread when the run is aborted; no stack trace, it is never reported.
  private static final class SimKill extends Error {
    private static final long serialVersionUID = 1L;

    SimKill() {
      super("simulation aborted", null, false, false);
    }
  }

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

  private static final class Timer implements Comparable<Timer> {
    final long due;
    final long seq;
    final Runnable action;

    Timer(long due, long seq, Runnable action) {
      this.due = due;
      this.seq = seq;
      this.action = action;
    }

    @Override
    public int compareTo(Timer o) {
      int c = Long.compare(due, o.due);
      return c != 0 ? c : Long.compare(seq, o.seq);
    }
  }

  // The sleepers on one thing; its lock is the one CPU's, mon.
  private final class WaitList implements WaitHead {
    final List<SimThread> waiters = new ArrayList<>();

    @Override
    public void lock() {
      mon.lock();
    }

    @Override
    public void unlock() {
      mon.unlock();
    }

    @Override
    public void waitLocked(BooleanSupplier cond, Supplier<String> what) {
      mon.unlock(); // the boot CPU drives the simulation without it
      try {
        waitUntil(this, cond, what, false);
      } finally {
        mon.lock();
      }
    }

    @Override
    public void waitEvent(BooleanSupplier cond, Supplier<String> what, boolean idle) {
      waitUntil(this, cond, what, idle);
    }

    // Wakes every sleeper: each re-checks, and the set woken keeps replaying seeds as before.
    @Override
    public void wakeOne() {
      wakeAll();
    }

    @Override
    public void wakeAll() {
      for (SimThread w : waiters) {
        if (w.blockedOn == this) {
          makeRunnable(w);
        }
      }
      waiters.clear();
    }
  }

  // A simulated thread sleeps by handing the CPU to the seeded pick.
  private final class SimParker implements Parker {
    @Override
    public WaitHead newWaitHead() {
      return new WaitList();
    }

    @Override
    public MutexCore.Word newMutexWord() {
      return new MutexCore.OnWaitHead(new WaitList());
    }

    @Override
    public long nextId() {
      mon.lock();
      try {
        return nextObjectId++;
      } finally {
        mon.unlock();
      }
    }

    @Override
    public String tag() {
      return tag + ": ";
    }

    @Override
    public Object currentTask() {
      SimThread me = self.get();
      return me != null ? me : Thread.currentThread();
    }

    @Override
    public String taskName(Object task) {
      return task instanceof SimThread
          ? "'" + ((SimThread) task).name + "'"
          : "boot CPU (" + ((Thread) task).getName() + ")";
    }

    @Override
    public String sleeperInAtomic() {
      SimThread me = self.get();
      return "task "
          + (me != null ? me.name : "boot CPU (" + Thread.currentThread().getName() + ")")
          + ", "
          + tag
          + ", jiffies="
          + jiffies;
    }
  }

  private final class SimThread implements KThread {
    final String name;
    final Runnable body;
    final boolean kthread;
    final Thread thread;
    final Condition turn = mon.newCondition();
    final WaitList exitWaiters = new WaitList();
    State state = State.RUNNABLE;
    WaitList blockedOn;
    Supplier<String> waitingOn;
    boolean idleWait;
    boolean stopRequested;
    volatile boolean killed;
    volatile boolean parkedInSim;

    SimThread(String name, Runnable body, boolean kthread, long id) {
      this.name = name;
      this.body = body;
      this.kthread = kthread;
      this.thread = new Thread(this::main, "sim-" + Long.toHexString(seed) + "-" + id + "-" + name);
      thread.setDaemon(true);
    }

    private void main() {
      self.set(this);
      Throwable thrown = null;
      try {
        mon.lock();
        try {
          awaitTurn(this);
        } finally {
          mon.unlock();
        }
        body.run();
      } catch (SimKill k) {
        // aborted: unwound on purpose
      } catch (Throwable e) {
        thrown = e;
      }
      mon.lock();
      try {
        if (thrown != null && !killed && failure == null) {
          failure =
              new SimFailureException(
                  seed,
                  tag
                      + ": "
                      + (kthread ? "kthread '" : "worker '")
                      + name
                      + "' failed at jiffies="
                      + jiffies
                      + ": "
                      + thrown,
                  thrown);
        }
        exit(this);
      } finally {
        mon.unlock();
      }
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public void stop() {
      mon.lock();
      try {
        stopRequested = true;
        wakeUpProcess(this);
      } finally {
        mon.unlock();
      }
      join();
    }

    @Override
    public void join() {
      if (self.get() == this) {
        throw new IllegalStateException(tag + ": kthread '" + name + "' waits for its own exit");
      }
      mightSleep();
      waitUntil(exitWaiters, () -> state == State.DONE, () -> "exit of '" + name + "'", false);
    }

    @Override
    public boolean isAlive() {
      mon.lock();
      try {
        return state != State.DONE;
      } finally {
        mon.unlock();
      }
    }
  }

  private final class SimWorkqueue extends WorkqueueCore<Timer> {
    final List<SimThread> workers = new ArrayList<>();
    int busy;
    int workerNames;

    SimWorkqueue(String name, int maxActive) {
      super(name, maxActive, SimScheduler.this.core, new WaitList());
    }

    @Override
    Timer arm(Runnable work, long delayJiffies) {
      long due = jiffies + delayJiffies;
      Timer t = new Timer(due < 0 ? NO_LIMIT - 1 : due, nextTimerSeq++, () -> fire(work));
      timers.add(t);
      return t;
    }

    @Override
    void disarm(Timer t) {
      timers.remove(t);
    }

    @Override
    boolean isOwnWorker() {
      return workers.contains(self.get());
    }

    @Override
    void checkAlive() {
      ensureAlive();
    }

    @Override
    void afterQueue() {
      preempt();
    }

    @Override
    boolean canDrain() {
      return !dead;
    }

    // Starts a worker if every one is busy, as the pool would.
    @Override
    void wakeWorker() {
      if (workers.size() - busy < pending.size() && workers.size() < maxActive && !killing) {
        workers.add(spawn("kworker/" + name + ":" + workerNames++, this::workerLoop, false));
      }
    }

    private void workerLoop() {
      SimThread me = self.get();
      for (; ; ) {
        Item it;
        mon.lock();
        try {
          it = poll();
          if (it == null) {
            workers.remove(me);
            return;
          }
          busy++;
        } finally {
          mon.unlock();
        }
        try {
          it.work.run();
        } finally {
          mon.lock();
          try {
            busy--;
            finished(it, null);
          } finally {
            mon.unlock();
          }
        }
      }
    }
  }
}
