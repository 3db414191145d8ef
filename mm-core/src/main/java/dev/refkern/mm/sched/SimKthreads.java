package dev.refkern.mm.sched;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The simulation's {@code kthread_create()}, {@code do_exit()} and zombie reaping: starts each
 * simulated task's Java thread, retires it at exit, and on abort unwinds every live task one at a
 * time and joins the threads left behind. All but {@link #reapZombies()} run under the CPU's lock.
 */
final class SimKthreads {
  private static final long KILL_WAIT_NANOS = TimeUnit.SECONDS.toNanos(2);
  private static final long JOIN_MILLIS = 2000;

  private final SimCpu cpu;
  final List<SimTask> live = new ArrayList<>();
  private final List<Thread> zombies = new ArrayList<>();
  private long nextThreadId;

  SimKthreads(SimCpu cpu) {
    this.cpu = cpu;
  }

  SimTask spawn(String name, Runnable body, boolean kthread) {
    SimTask t = new SimTask(cpu, name, body, kthread, nextThreadId++);
    live.add(t);
    cpu.runnable.add(t);
    if (t.thread != null) {
      t.thread.start();
    }
    return t;
  }

  void exit(SimTask me) {
    me.state = SimTask.State.DONE;
    live.remove(me);
    cpu.runnable.remove(me);
    if (me.thread != null) {
      zombies.add(me.thread);
    }
    me.exitWaiters.wakeAll();
    if (cpu.killing || cpu.current != me) {
      cpu.driverTurn.signalAll();
      return;
    }
    cpu.switchTo(cpu.pickNext());
  }

  // Unwinds every sim thread one at a time (each gets the CPU and throws SimKill), then is dead.
  void abort() {
    cpu.dead = true;
    cpu.killing = true;
    SimTask stalled = cpu.current;
    cpu.current = null;
    boolean interrupted = false;
    if (stalled != null && stalled.state != SimTask.State.DONE && !stalled.parkedInSim) {
      // stuck outside the simulator; it unwinds if it ever comes back
      stalled.killed = true;
      interruptOrGiveUp(stalled);
    }
    for (SimTask t : new ArrayList<>(live)) {
      if (t.state == SimTask.State.DONE) {
        continue;
      }
      t.killed = true;
      if (t == stalled && !t.parkedInSim) {
        continue; // interrupted above
      }
      cpu.resumeToKill(t);
      long deadline = System.nanoTime() + KILL_WAIT_NANOS;
      while (t.state != SimTask.State.DONE && deadline - System.nanoTime() > 0) {
        try {
          cpu.driverTurn.awaitNanos(deadline - System.nanoTime());
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (t.state != SimTask.State.DONE) {
        interruptOrGiveUp(t);
      }
    }
    cpu.current = null;
    for (SimTask t : live) {
      if (t.thread != null) {
        zombies.add(t.thread);
      }
    }
    cpu.retireCarrier();
    cpu.runnable.clear();
    cpu.timers.clear();
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  // A continuation's carrier is given up too: the tasks left unwind on a fresh one.
  private void interruptOrGiveUp(SimTask t) {
    Thread th = t.javaThread();
    if (th != null) {
      th.interrupt();
    }
    if (t.cont != null && th != null && th == cpu.carrierThread()) {
      cpu.retireCarrier();
    }
  }

  // A carrier thread leaving its loop, to be joined like an exited task's thread.
  void retired(Thread carrier) {
    zombies.add(carrier);
  }

  // Without the CPU's lock: joins every exited thread, bounded; one stuck outside stays listed.
  void reapZombies() {
    List<Thread> reap;
    cpu.mon.lock();
    try {
      reap = new ArrayList<>(zombies);
      zombies.clear();
    } finally {
      cpu.mon.unlock();
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
      cpu.mon.lock();
      try {
        zombies.addAll(stillAlive);
      } finally {
        cpu.mon.unlock();
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
