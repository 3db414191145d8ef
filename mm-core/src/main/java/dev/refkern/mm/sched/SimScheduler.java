package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;
import static org.apiguardian.api.API.Status.STABLE;

import java.time.Duration;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
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
 *
 * <p>Two {@link Implementation}s give the same interleaving for a seed: {@link
 * Implementation#PARKED} Java threads (any JDK), and {@link Implementation#CONTINUATION}s run on
 * one carrier thread (JDK 21+ with the project's JVM flags, several times faster). The default
 * picks continuations when available; {@code -Drefkern.sim.threads=parked|continuation} forces one.
 * With continuations every task shares the carrier's {@link Thread} object (thread-locals stay per
 * task, {@code Thread.currentThread()} does not); a plain {@code ReentrantLock} held across a
 * scheduling point is then re-entered by the next task instead of blocking, so the rule above is
 * not enforced for it; a task unwound by an abort runs its {@code finally} blocks as with parked
 * threads, but one never resumed (a carrier stuck outside the simulator) does not.
 */
@API(status = STABLE, since = "0.1.0")
public final class SimScheduler implements Scheduler {

  /** How simulated tasks are run; both replay a seed identically. */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public enum Implementation {
    /** One parked daemon Java thread per task, handed the CPU through a condition (any JDK). */
    PARKED,
    /** One JDK continuation per task, run by the simulation's carrier thread (JDK 21+). */
    CONTINUATION;

    /**
     * What a new {@link SimScheduler#SimScheduler(long)} uses here, see {@code
     * refkern.sim.threads}.
     */
    public static Implementation chosen() {
      return SimContinuations.chooseContinuations() ? CONTINUATION : PARKED;
    }

    /** Whether {@link #CONTINUATION} can run in this JVM. */
    public static boolean continuationsAvailable() {
      return SimContinuations.AVAILABLE;
    }

    /** Why {@link #CONTINUATION} cannot run in this JVM, or empty when it can. */
    public static String whyNoContinuations() {
      return SimContinuations.AVAILABLE ? "" : SimContinuations.WHY_NOT;
    }
  }

  private final SimCpu cpu;

  /** A simulation replaying {@code seed}, on the {@link Implementation#chosen()} implementation. */
  public SimScheduler(long seed) {
    this(seed, Implementation.chosen());
  }

  /**
   * A simulation replaying {@code seed} on {@code implementation}.
   *
   * @throws IllegalStateException if continuations are asked for and not available
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public SimScheduler(long seed, Implementation implementation) {
    boolean cont =
        Objects.requireNonNull(implementation, "implementation") == Implementation.CONTINUATION;
    if (cont && !SimContinuations.AVAILABLE) {
      throw new IllegalStateException(
          "continuations are not available: " + SimContinuations.WHY_NOT);
    }
    this.cpu = new SimCpu(seed, cont);
  }

  /** Which implementation runs this simulation's tasks. */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public Implementation implementation() {
    return cpu.continuations ? Implementation.CONTINUATION : Implementation.PARKED;
  }

  /** How many scheduling points (seeded picks, timer checks) the simulation has passed. */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public long schedulingPoints() {
    cpu.mon.lock();
    try {
      return cpu.schedPoints();
    } finally {
      cpu.mon.unlock();
    }
  }

  /**
   * Sends every seeded pick to {@code sink} as {@code "name@jiffies"}, in order, on the simulated
   * CPU (null stops): the trace two runs of one seed must share.
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public SimScheduler tracePicks(Consumer<String> sink) {
    cpu.mon.lock();
    try {
      cpu.tracePicks(sink);
    } finally {
      cpu.mon.unlock();
    }
    return this;
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
    cpu.mon.lock();
    try {
      cpu.watchdog.timeout = timeout;
    } finally {
      cpu.mon.unlock();
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
    cpu.drive(null, SimCpu.NO_LIMIT, null);
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
    return cpu.drive(Objects.requireNonNull(condition, "condition"), SimCpu.NO_LIMIT, null);
  }

  /**
   * Runs for {@code ticks} jiffies of virtual time: fires the timers due by then, runs until
   * nothing can run, and leaves {@code jiffies} at the target.
   */
  public void advance(long ticks) {
    if (ticks < 0) {
      throw new IllegalArgumentException("cannot go back in time: " + ticks);
    }
    long target = cpu.jiffies + ticks;
    cpu.drive(null, target < 0 ? SimCpu.NO_LIMIT - 1 : target, null);
  }

  @Override
  public void shutdown() {
    cpu.shutdown();
  }

  // ---------------------------------------------------------------- Scheduler

  @Override
  public Clock clock() {
    return cpu.clock;
  }

  @Override
  public long seed() {
    return cpu.seed;
  }

  @Override
  public Workqueue allocWorkqueue(String name) {
    return new SimWorkqueue(cpu, name, WorkqueueCore.DEFAULT_MAX_ACTIVE);
  }

  @Override
  public Workqueue allocOrderedWorkqueue(String name) {
    return new SimWorkqueue(cpu, name, 1);
  }

  @Override
  public KThread kthreadRun(String name, Runnable body) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(body, "body");
    cpu.mon.lock();
    try {
      cpu.ensureAlive();
      return cpu.tasks.spawn(name, body, true);
    } finally {
      cpu.mon.unlock();
    }
  }

  @Override
  public boolean kthreadShouldStop() {
    SimTask me = cpu.self.get();
    return me != null && me.stopRequested;
  }

  @Override
  public KLock newLock(String name) {
    return cpu.core.newLock(name);
  }

  @Override
  public Completion newCompletion() {
    return cpu.core.newCompletion();
  }

  @Override
  public WaitQueue newWaitQueue() {
    return cpu.core.newWaitQueue();
  }

  @Override
  public void condResched() {
    mightSleep();
    cpu.preempt();
  }

  @Override
  public void runInCompletionContext(Runnable body) {
    cpu.core.runInCompletionContext(body);
  }

  @Override
  public boolean inAtomicContext() {
    return cpu.core.inAtomicContext();
  }

  @Override
  public void mightSleep() {
    cpu.core.mightSleep();
  }

  @Override
  public String toString() {
    return "SimScheduler["
        + cpu.tag
        + ", "
        + implementation().name().toLowerCase(java.util.Locale.ROOT)
        + ", jiffies="
        + cpu.jiffies
        + "]";
  }
}
