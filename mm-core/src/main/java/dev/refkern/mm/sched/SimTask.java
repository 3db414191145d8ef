package dev.refkern.mm.sched;

import java.util.concurrent.locks.Condition;
import java.util.function.Supplier;

/**
 * A simulated {@code task_struct}, a kthread or workqueue worker: a daemon Java thread that runs
 * only while the one simulated CPU is its, and parks on its own condition otherwise; or, with
 * continuations, a continuation that the simulation's carrier thread runs while the CPU is its.
 */
final class SimTask implements KThread {

  /**
   * Where the task is, as {@code TASK_RUNNING}, {@code TASK_UNINTERRUPTIBLE}, {@code EXIT_DEAD}.
   */
  enum State {
    RUNNABLE,
    BLOCKED,
    DONE
  }

  final String name;
  final Runnable body;
  final boolean kthread;
  // Parked implementation: the task's own thread and condition; null with continuations.
  final Thread thread;
  final Condition turn;
  // Continuation implementation: the frozen stack and the task's own thread-locals.
  final Object cont;
  Object locals;
  volatile Thread ranOn; // the carrier that last ran it
  final SimWaitList exitWaiters;
  private final SimCpu cpu;
  State state = State.RUNNABLE;
  SimWaitList blockedOn;
  Supplier<String> waitingOn;
  boolean idleWait;
  boolean stopRequested;
  volatile boolean killed;
  volatile boolean parkedInSim;

  SimTask(SimCpu cpu, String name, Runnable body, boolean kthread, long id) {
    this.cpu = cpu;
    this.name = name;
    this.body = body;
    this.kthread = kthread;
    this.exitWaiters = new SimWaitList(cpu);
    if (cpu.continuations) {
      this.turn = null;
      this.thread = null;
      this.cont = SimContinuations.create(this::main);
    } else {
      this.turn = cpu.mon.newCondition();
      this.cont = null;
      this.thread =
          new Thread(this::main, "sim-" + Long.toHexString(cpu.seed) + "-" + id + "-" + name);
      thread.setDaemon(true);
    }
  }

  /**
   * The Java thread this task runs on: its own, or the carrier that last ran it (null: none yet).
   */
  Thread javaThread() {
    return cont == null ? thread : ranOn;
  }

  private void main() {
    cpu.self.set(this);
    Throwable thrown = null;
    try {
      if (cont != null) {
        // A continuation starts on the carrier holding the CPU's lock once, as after a yield.
        try {
          cpu.awaitTurn(this);
        } finally {
          cpu.mon.unlock();
        }
      } else {
        cpu.mon.lock();
        try {
          cpu.awaitTurn(this);
        } finally {
          cpu.mon.unlock();
        }
      }
      body.run();
    } catch (SimKill k) {
      // aborted: unwound on purpose
    } catch (Throwable e) {
      thrown = e;
    }
    cpu.mon.lock();
    boolean unlock = cont == null; // a continuation ends holding the lock, for its carrier
    try {
      if (thrown != null && !killed && cpu.failure == null) {
        cpu.failure =
            new SimFailureException(
                cpu.seed,
                cpu.tag
                    + ": "
                    + (kthread ? "kthread '" : "worker '")
                    + name
                    + "' failed at jiffies="
                    + cpu.jiffies
                    + ": "
                    + thrown,
                thrown);
      }
      cpu.tasks.exit(this);
    } finally {
      if (unlock) {
        cpu.mon.unlock();
      }
    }
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public void stop() {
    cpu.mon.lock();
    try {
      stopRequested = true;
      cpu.wakeUpProcess(this);
    } finally {
      cpu.mon.unlock();
    }
    join();
  }

  @Override
  public void join() {
    if (cpu.self.get() == this) {
      throw new IllegalStateException(cpu.tag + ": kthread '" + name + "' waits for its own exit");
    }
    cpu.core.mightSleep();
    cpu.waitUntil(exitWaiters, () -> state == State.DONE, () -> "exit of '" + name + "'", false);
  }

  @Override
  public boolean isAlive() {
    cpu.mon.lock();
    try {
      return state != State.DONE;
    } finally {
      cpu.mon.unlock();
    }
  }
}
