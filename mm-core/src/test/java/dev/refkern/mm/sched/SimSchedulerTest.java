package dev.refkern.mm.sched;

import static dev.refkern.mm.sched.SchedulerContractTest.work;
import static dev.refkern.mm.sched.SimScheduler.seedTag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The simulation's own promises: replay by seed, virtual time, deadlock and failure reports. */
@Timeout(120)
class SimSchedulerTest {

  /** Live Java threads the simulation with this seed started. */
  static List<String> simThreads(long seed) {
    String prefix = "sim-" + Long.toHexString(seed) + "-";
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith(prefix))
        .map(Thread::getName)
        .collect(Collectors.toList());
  }

  /**
   * A racy workload: three kthreads with preemption points, a lock, work items and a timer. The
   * trace records who did what when; the simulation needs no synchronization around it.
   */
  static List<String> racyTrace(long seed) {
    SimScheduler sim = new SimScheduler(seed);
    List<String> trace = new ArrayList<>();
    try {
      Workqueue wq = sim.allocWorkqueue("events");
      KLock lock = sim.newLock("l");
      sim.run(
          () -> {
            for (int t = 0; t < 3; t++) {
              String name = "t" + t;
              sim.kthreadRun(
                  name,
                  () -> {
                    for (int i = 0; i < 8; i++) {
                      trace.add(name + ":" + i);
                      if (i % 3 == 0) {
                        int n = i;
                        wq.queueWork(work(() -> trace.add("work " + name + ":" + n)));
                      }
                      if (i == 4) {
                        wq.queueDelayedWork(
                            work(() -> trace.add("timer " + name + "@" + sim.clock().jiffies())),
                            1 + name.hashCode() % 5);
                      }
                      lock.lock();
                      trace.add(name + " locked");
                      sim.condResched();
                      lock.unlock();
                      sim.condResched();
                    }
                  });
            }
          });
    } finally {
      sim.shutdown();
    }
    return trace;
  }

  @Test
  void sameSeedReplaysTheSameInterleaving() {
    for (long seed : new long[] {0, 1, 42, 0xdeadbeefL, -7}) {
      List<String> first = racyTrace(seed);
      List<String> second = racyTrace(seed);
      assertEquals(first, second, seedTag(seed) + ": replay differs");
      assertTrue(first.size() > 3 * 8 * 2, seedTag(seed) + ": trace too short: " + first);
    }
  }

  @Test
  void differentSeedsGiveDifferentInterleavings() {
    Set<List<String>> traces = new HashSet<>();
    for (long seed = 0; seed < 8; seed++) {
      traces.add(racyTrace(seed));
    }
    assertTrue(traces.size() >= 2, "seeds 0x0..0x7 all gave one interleaving");
  }

  /** Read, preempt, write: the classic lost update. Returns the final counter (4 if no loss). */
  static int racyCounter(long seed, List<String> trace) {
    SimScheduler sim = new SimScheduler(seed);
    int[] counter = {0};
    try {
      sim.run(
          () -> {
            for (int t = 0; t < 2; t++) {
              String name = "t" + t;
              sim.kthreadRun(
                  name,
                  () -> {
                    for (int i = 0; i < 2; i++) {
                      int v = counter[0];
                      trace.add(name + " read " + v);
                      sim.condResched();
                      counter[0] = v + 1;
                      trace.add(name + " wrote " + (v + 1));
                    }
                  });
            }
          });
    } finally {
      sim.shutdown();
    }
    return counter[0];
  }

  @Test
  void lostUpdateIsFoundBySomeSeedAndReplayedByThatSeedAlone() {
    long found = -1;
    long clean = -1;
    int lostTo = -1;
    for (long seed = 0; seed < 100 && (found < 0 || clean < 0); seed++) {
      int result = racyCounter(seed, new ArrayList<>());
      if (result != 4 && found < 0) {
        found = seed;
        lostTo = result;
      } else if (result == 4 && clean < 0) {
        clean = seed;
      }
    }
    assertNotEquals(-1, found, "no seed in 0x0..0x63 lost an update");
    assertNotEquals(-1, clean, "every seed in 0x0..0x63 lost an update: the race is not seeded");
    List<String> first = new ArrayList<>();
    List<String> second = new ArrayList<>();
    assertEquals(lostTo, racyCounter(found, first), seedTag(found) + ": replay lost differently");
    assertEquals(lostTo, racyCounter(found, second), seedTag(found) + ": replay lost differently");
    assertEquals(first, second, seedTag(found) + ": replay interleaved differently");
  }

  @Test
  void klockKeepsTheCounterExactUnderEverySeed() {
    for (long seed = 0; seed < 10; seed++) {
      SimScheduler sim = new SimScheduler(seed);
      int[] counter = {0};
      try {
        KLock lock = sim.newLock("counter_lock");
        for (int t = 0; t < 3; t++) {
          sim.kthreadRun(
              "t" + t,
              () -> {
                for (int i = 0; i < 20; i++) {
                  lock.lock();
                  int v = counter[0];
                  sim.condResched();
                  counter[0] = v + 1;
                  lock.unlock();
                }
              });
        }
        sim.runUntilIdle();
      } finally {
        sim.shutdown();
      }
      assertEquals(60, counter[0], seedTag(seed));
    }
  }

  @Test
  void delayedWorkFiresAtItsVirtualJiffyInOrder() {
    SimScheduler sim = new SimScheduler(7);
    String seed = seedTag(7);
    try {
      Workqueue wq = sim.allocOrderedWorkqueue("timers");
      List<String> fired = new ArrayList<>();
      for (String[] spec : new String[][] {{"a", "30"}, {"b", "10"}, {"c", "20"}, {"d", "10"}}) {
        wq.queueDelayedWork(
            work(() -> fired.add(spec[0] + "@" + sim.clock().jiffies())), Long.parseLong(spec[1]));
      }
      sim.advance(15);
      assertEquals(List.of("b@10", "d@10"), fired, seed);
      assertEquals(15, sim.clock().jiffies(), seed);
      sim.runUntilIdle();
      assertEquals(List.of("b@10", "d@10", "c@20", "a@30"), fired, seed);
      assertEquals(30, sim.clock().jiffies(), seed);
      assertEquals(30_000_000L, sim.clock().nanos(), seed);
      sim.run(() -> wq.queueDelayedWork(work(() -> fired.add("e@" + sim.clock().jiffies())), 7));
      assertEquals("e@37", fired.get(fired.size() - 1), seed);
    } finally {
      sim.shutdown();
    }
  }

  @Test
  void virtualTimeStandsStillWhileAnyThreadCanRun() {
    SimScheduler sim = new SimScheduler(3);
    try {
      sim.run(
          () -> {
            for (int i = 0; i < 100; i++) {
              sim.condResched();
            }
          });
      assertEquals(0, sim.clock().jiffies(), seedTag(3));
    } finally {
      sim.shutdown();
    }
  }

  @Test
  void runUntilStopsAtTheFirstSchedulingPointWhereTheConditionHolds() {
    SimScheduler sim = new SimScheduler(11);
    int[] counter = {0};
    try {
      sim.kthreadRun(
          "counter",
          () -> {
            for (int i = 0; i < 100; i++) {
              counter[0]++;
              sim.condResched();
            }
          });
      assertTrue(sim.runUntil(() -> counter[0] >= 10), seedTag(11));
      assertEquals(10, counter[0], seedTag(11));
      assertFalse(sim.runUntil(() -> counter[0] > 1000), seedTag(11) + ": ran out of work");
      assertEquals(100, counter[0], seedTag(11));
    } finally {
      sim.shutdown();
    }
  }

  /** Two kthreads taking A then B, and B then A, with a preemption point in between. */
  static void abba(SimScheduler sim) {
    KLock a = sim.newLock("A");
    KLock b = sim.newLock("B");
    sim.kthreadRun(
        "t1",
        () -> {
          a.lock();
          sim.condResched();
          b.lock();
          b.unlock();
          a.unlock();
        });
    sim.kthreadRun(
        "t2",
        () -> {
          b.lock();
          sim.condResched();
          a.lock();
          a.unlock();
          b.unlock();
        });
    sim.runUntilIdle();
  }

  @Test
  void abbaDeadlockIsFoundReportedWithItsSeedAndReplayed() {
    long found = -1;
    String report = null;
    for (long seed = 0; seed < 64 && found < 0; seed++) {
      SimScheduler sim = new SimScheduler(seed);
      try {
        abba(sim);
      } catch (SimDeadlockError e) {
        found = seed;
        report = e.getMessage();
      } finally {
        sim.shutdown();
      }
    }
    assertNotEquals(-1, found, "no seed in 0x0..0x3f deadlocked ABBA");
    String seed = seedTag(found);
    assertTrue(report.contains(seed), seed + ": " + report);
    assertTrue(report.contains("'t1' waits on mutex 'B' held by 't2'"), seed + ": " + report);
    assertTrue(report.contains("'t2' waits on mutex 'A' held by 't1'"), seed + ": " + report);
    assertEquals(List.of(), simThreads(found), seed + ": threads leaked");

    SimScheduler replay = new SimScheduler(found);
    SimDeadlockError again = assertThrows(SimDeadlockError.class, () -> abba(replay), seed);
    assertEquals(report, again.getMessage(), seed);
    assertEquals(found, again.seed(), seed);
    assertThrows(IllegalStateException.class, replay::runUntilIdle, seed + ": dead after deadlock");
    replay.shutdown();
  }

  @Test
  void awaitingAConditionNobodySetsIsADeadlock() {
    SimScheduler sim = new SimScheduler(5);
    WaitQueue wq = sim.newWaitQueue();
    SimDeadlockError e =
        assertThrows(
            SimDeadlockError.class, () -> sim.run(() -> wq.await(() -> false)), seedTag(5));
    assertTrue(e.getMessage().contains(seedTag(5)), seedTag(5) + " missing from: " + e);
    assertTrue(e.getMessage().contains("'main' waits on waitqueue#"), seedTag(5) + ": " + e);
    assertEquals(List.of(), simThreads(5), seedTag(5));
    sim.shutdown();
  }

  @Test
  void bootCpuWaitingForeverIsADeadlock() {
    SimScheduler sim = new SimScheduler(6);
    Completion never = sim.newCompletion();
    SimDeadlockError e = assertThrows(SimDeadlockError.class, never::waitForCompletion, seedTag(6));
    assertTrue(e.getMessage().contains(seedTag(6)), seedTag(6) + " missing from: " + e);
    assertTrue(e.getMessage().contains("boot CPU waits on completion#"), seedTag(6) + ": " + e);
    sim.shutdown();
  }

  @Test
  void idleServiceThreadIsNotADeadlockAndShutdownEndsIt() {
    SimScheduler sim = new SimScheduler(8);
    WaitQueue wq = sim.newWaitQueue();
    KThread daemon = sim.kthreadRun("flusher", () -> wq.awaitIdle(() -> false));
    sim.runUntilIdle();
    assertTrue(daemon.isAlive(), seedTag(8));
    assertEquals(1, simThreads(8).size(), seedTag(8));
    sim.shutdown();
    assertFalse(daemon.isAlive(), seedTag(8));
    assertEquals(List.of(), simThreads(8), seedTag(8));
  }

  @Test
  void noSimThreadOutlivesRunUntilIdle() {
    List<String> trace = racyTrace(9);
    assertFalse(trace.isEmpty(), seedTag(9));
    assertEquals(List.of(), simThreads(9), seedTag(9));
  }

  @Test
  void exceptionInASimThreadAbortsTheRunWithTheSeed() {
    long seed = 0xbadL;
    SimScheduler sim = new SimScheduler(seed);
    WaitQueue never = sim.newWaitQueue();
    sim.kthreadRun("sleeper", () -> never.await(() -> false));
    sim.kthreadRun(
        "spinner",
        () -> {
          while (true) {
            sim.condResched();
          }
        });
    sim.kthreadRun(
        "victim",
        () -> {
          sim.condResched();
          throw new IllegalStateException("boom");
        });
    SimFailureException e =
        assertThrows(SimFailureException.class, sim::runUntilIdle, seedTag(seed));
    assertTrue(e.getMessage().contains(seedTag(seed)), seedTag(seed) + " missing from: " + e);
    assertTrue(e.getMessage().contains("'victim'"), seedTag(seed) + ": " + e);
    assertInstanceOf(IllegalStateException.class, e.getCause(), seedTag(seed));
    assertEquals(seed, e.seed(), seedTag(seed));
    assertEquals(List.of(), simThreads(seed), seedTag(seed) + ": threads leaked");
    assertThrows(IllegalStateException.class, sim::runUntilIdle, seedTag(seed));
    sim.shutdown();
  }

  @Test
  void failingWorkAbortsTheRunAndSurfacesFromFlush() {
    SimScheduler sim = new SimScheduler(12);
    Workqueue wq = sim.allocWorkqueue("events");
    wq.queueWork(
        work(
            () -> {
              throw new UnsupportedOperationException("bad work");
            }));
    SimFailureException e = assertThrows(SimFailureException.class, wq::flush, seedTag(12));
    assertTrue(e.getMessage().contains(seedTag(12)), seedTag(12) + " missing from: " + e);
    assertTrue(e.getMessage().contains("kworker/events"), seedTag(12) + ": " + e);
    assertInstanceOf(UnsupportedOperationException.class, e.getCause(), seedTag(12));
    assertEquals(List.of(), simThreads(12), seedTag(12));
    sim.shutdown();
  }

  @Test
  void sleepingInCompletionContextInsideASimThreadAbortsTheRun() {
    SimScheduler sim = new SimScheduler(13);
    KLock lock = sim.newLock("m");
    SimFailureException e =
        assertThrows(
            SimFailureException.class,
            () -> sim.run(() -> sim.runInCompletionContext(lock::lock)),
            seedTag(13));
    assertInstanceOf(SleepInAtomicError.class, e.getCause(), seedTag(13));
    assertTrue(e.getMessage().contains(seedTag(13)), seedTag(13) + " missing from: " + e);
    sim.shutdown();
  }

  @Test
  void plainJavaMonitorHeldAcrossASchedulingPointIsReportedNotHung() {
    SimScheduler sim = new SimScheduler(14).watchdog(Duration.ofMillis(200));
    Object monitor = new Object();
    Completion inside = sim.newCompletion();
    Completion release = sim.newCompletion();
    sim.kthreadRun(
        "holder",
        () -> {
          synchronized (monitor) {
            inside.complete();
            release.waitForCompletion(); // sleeps in the sim, still owning the monitor
          }
        });
    sim.kthreadRun(
        "contender",
        () -> {
          inside.waitForCompletion();
          synchronized (monitor) {
            // blocks in the JVM while holding the simulated CPU
          }
          release.complete();
        });
    SimDeadlockError e = assertThrows(SimDeadlockError.class, sim::runUntilIdle, seedTag(14));
    assertTrue(e.getMessage().contains(seedTag(14)), seedTag(14) + " missing from: " + e);
    assertTrue(
        e.getMessage().contains("'contender' is blocked outside the simulator"),
        seedTag(14) + ": " + e);
    assertEquals(List.of(), simThreads(14), seedTag(14) + ": threads leaked");
    sim.shutdown();
  }

  @Test
  void threadHoldingTheCpuWithoutASchedulingPointIsASoftLockup() {
    SimScheduler sim = new SimScheduler(16).watchdog(Duration.ofMillis(200));
    sim.kthreadRun(
        "spinner",
        () -> {
          while (!Thread.currentThread().isInterrupted()) { // the abort interrupts it
            Thread.onSpinWait();
          }
          sim.condResched(); // back in the simulator: unwound here
        });
    SimDeadlockError e = assertThrows(SimDeadlockError.class, sim::runUntilIdle, seedTag(16));
    assertTrue(
        e.getMessage().contains("soft lockup: sim thread 'spinner'"), seedTag(16) + ": " + e);
    assertTrue(e.getMessage().contains(seedTag(16)), seedTag(16) + " missing from: " + e);
    assertEquals(List.of(), simThreads(16), seedTag(16) + ": threads leaked");
    sim.shutdown();
  }

  @Test
  void interruptingTheBootCpuEndsTheRun() throws InterruptedException {
    SimScheduler sim = new SimScheduler(17);
    AtomicBoolean spinning = new AtomicBoolean();
    sim.kthreadRun(
        "forever",
        () -> {
          while (true) {
            spinning.set(true);
            sim.condResched();
          }
        });
    Thread boot = Thread.currentThread();
    Thread interrupter =
        new Thread(
            () -> {
              while (!spinning.get()) {
                Thread.onSpinWait();
              }
              boot.interrupt();
            });
    interrupter.setDaemon(true);
    interrupter.start();
    SimFailureException e = assertThrows(SimFailureException.class, sim::runUntilIdle, seedTag(17));
    assertTrue(Thread.interrupted(), seedTag(17) + ": the interrupt is kept");
    assertInstanceOf(InterruptedException.class, e.getCause(), seedTag(17));
    interrupter.join();
    assertEquals(List.of(), simThreads(17), seedTag(17) + ": threads leaked");
    sim.shutdown();
  }

  @Test
  void kthreadFromTheBootCpuRunsOnlyWhenTheBootCpuWaits() {
    SimScheduler sim = new SimScheduler(15);
    List<String> trace = new ArrayList<>();
    try {
      KThread k = sim.kthreadRun("k", () -> trace.add("k ran"));
      trace.add("boot CPU continues");
      k.join();
      assertEquals(List.of("boot CPU continues", "k ran"), trace, seedTag(15));
    } finally {
      sim.shutdown();
    }
  }
}
