package dev.refkern.mm.sched;

import java.util.ArrayList;
import java.util.List;

/**
 * A seeded workload touching every simulated primitive (kthreads, mutexes, a wait queue,
 * completions, a workqueue with delayed work, so timers and jiffies): returns the scheduler's trace
 * of picks plus what the workload saw. Its {@link #main} prints the trace, for a child JVM.
 */
final class SimTraceWorkload {
  private SimTraceWorkload() {}

  static List<String> run(long seed, SimScheduler.Implementation impl) {
    List<String> trace = new ArrayList<>();
    SimScheduler sim = new SimScheduler(seed, impl);
    if (sim.implementation() != impl) {
      throw new AssertionError("asked for " + impl + ", got " + sim.implementation());
    }
    sim.tracePicks(trace::add);
    KLock lock = sim.newLock("m");
    WaitQueue wq = sim.newWaitQueue();
    Completion done = sim.newCompletion();
    Workqueue works = sim.allocWorkqueue("events");
    int[] counter = {0};
    int[] produced = {0};
    for (int k = 0; k < 4; k++) {
      String name = "k" + k;
      sim.kthreadRun(
          name,
          () -> {
            for (int i = 0; i < 25; i++) {
              lock.lock();
              try {
                int v = counter[0];
                sim.condResched(); // a preemption inside the critical section
                counter[0] = v + 1;
                trace.add(name + " counter=" + counter[0]);
              } finally {
                lock.unlock();
              }
              if (i % 5 == 0) {
                int at = i;
                works.queueDelayedWork(
                    () -> {
                      produced[0]++;
                      trace.add(name + " work " + at + " at jiffies=" + sim.clock().jiffies());
                      wq.wakeAll();
                    },
                    1 + (at % 3));
              }
            }
            wq.await(() -> produced[0] >= 20);
            trace.add(name + " saw all work");
            done.complete();
          });
    }
    for (int k = 0; k < 4; k++) {
      done.waitForCompletion();
    }
    works.flush();
    sim.runUntilIdle();
    trace.add("end counter=" + counter[0] + " jiffies=" + sim.clock().jiffies());
    sim.shutdown();
    return trace;
  }

  /** Prints the trace of {@code args[0]} (seed) on {@code args[1]} (parked|continuation). */
  public static void main(String[] args) {
    SimScheduler.Implementation impl =
        SimScheduler.Implementation.valueOf(args[1].toUpperCase(java.util.Locale.ROOT));
    for (String line : run(Long.parseLong(args[0]), impl)) {
      System.out.println(line);
    }
  }
}
