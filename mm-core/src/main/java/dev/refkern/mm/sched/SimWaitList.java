package dev.refkern.mm.sched;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * A {@code wait_queue_head_t} on the one simulated CPU: the sleepers on one thing; its lock is the
 * CPU's own.
 */
final class SimWaitList implements WaitHead {
  final List<SimTask> waiters = new ArrayList<>();
  private final SimCpu cpu;

  SimWaitList(SimCpu cpu) {
    this.cpu = cpu;
  }

  @Override
  public void lock() {
    cpu.mon.lock();
  }

  @Override
  public void unlock() {
    cpu.mon.unlock();
  }

  @Override
  public void waitLocked(BooleanSupplier cond, Supplier<String> what) {
    cpu.mon.unlock(); // the boot CPU drives the simulation without it
    try {
      cpu.waitUntil(this, cond, what, false);
    } finally {
      cpu.mon.lock();
    }
  }

  @Override
  public void waitEvent(BooleanSupplier cond, Supplier<String> what, boolean idle) {
    cpu.waitUntil(this, cond, what, idle);
  }

  // Wakes every sleeper: each re-checks, and the set woken keeps replaying seeds as before.
  @Override
  public void wakeOne() {
    wakeAll();
  }

  @Override
  public void wakeAll() {
    for (SimTask w : waiters) {
      if (w.blockedOn == this) {
        cpu.makeRunnable(w);
      }
    }
    waiters.clear();
  }
}
