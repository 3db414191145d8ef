package dev.refkern.mm.sched;

import java.util.ArrayList;
import java.util.List;

/**
 * A {@code struct workqueue_struct} with its {@code kworker} pool on the one simulated CPU: workers
 * are started on demand, up to {@code max_active}, and exit when the queue is empty; delayed work
 * arms a {@link SimTimer}.
 */
final class SimWorkqueue extends WorkqueueCore<SimTimer> {
  private final SimCpu cpu;
  private final List<SimTask> workers = new ArrayList<>();
  private int busy;
  private int workerNames;

  SimWorkqueue(SimCpu cpu, String name, int maxActive) {
    super(name, maxActive, cpu.core, new SimWaitList(cpu));
    this.cpu = cpu;
  }

  @Override
  SimTimer arm(Runnable work, long delayJiffies) {
    long due = cpu.jiffies + delayJiffies;
    SimTimer t =
        new SimTimer(due < 0 ? SimCpu.NO_LIMIT - 1 : due, cpu.nextTimerSeq++, () -> fire(work));
    cpu.timers.add(t);
    return t;
  }

  @Override
  void disarm(SimTimer t) {
    cpu.timers.remove(t);
  }

  @Override
  boolean isOwnWorker() {
    return workers.contains(cpu.self.get());
  }

  @Override
  void checkAlive() {
    cpu.ensureAlive();
  }

  @Override
  void afterQueue() {
    cpu.preempt();
  }

  @Override
  boolean canDrain() {
    return !cpu.dead;
  }

  // Starts a worker if every one is busy, as the pool would.
  @Override
  void wakeWorker() {
    if (workers.size() - busy < pending.size() && workers.size() < maxActive && !cpu.killing) {
      workers.add(
          cpu.tasks.spawn("kworker/" + name + ":" + workerNames++, this::workerLoop, false));
    }
  }

  private void workerLoop() {
    SimTask me = cpu.self.get();
    for (; ; ) {
      Item it;
      cpu.mon.lock();
      try {
        it = poll();
        if (it == null) {
          workers.remove(me);
          return;
        }
        busy++;
      } finally {
        cpu.mon.unlock();
      }
      try {
        it.work.run();
      } finally {
        cpu.mon.lock();
        try {
          busy--;
          finished(it, null);
        } finally {
          cpu.mon.unlock();
        }
      }
    }
  }
}
