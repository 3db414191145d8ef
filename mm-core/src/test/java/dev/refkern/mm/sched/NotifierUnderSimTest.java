package dev.refkern.mm.sched;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.notifier.MmuIntervalNotifier;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import dev.refkern.notifier.MmuNotifierSubscriptions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The interval-notifier protocol under the deterministic scheduler: an mm invalidating and changing
 * a "page table" entry while a driver mirrors it with {@code read_begin}/{@code read_retry}. Every
 * seed must keep the driver's committed mirror equal to the page table; the same seed must replay
 * the same interleaving.
 */
class NotifierUnderSimTest {
  private static final long PAGE = 4096;

  /** Runs one simulation; returns the trace of events. Fails with the seed on a violation. */
  private static List<String> simulate(long seed, boolean buggyDriver) {
    SimScheduler sched = new SimScheduler(seed);
    Object mm = new Object();
    MmuNotifierSubscriptions subs = new MmuNotifierSubscriptions(mm, sched.newWaitQueue());
    KLock driverLock = sched.newLock("driver");
    long[] pte = {1}; // the CPU page table entry for [0, PAGE)
    long[] mirror = {1}; // the device's copy
    List<String> trace = new ArrayList<>();
    List<String> violations = new ArrayList<>();
    MmuIntervalNotifier[] sub = new MmuIntervalNotifier[1];
    sub[0] =
        subs.intervalInsert(
            0,
            PAGE,
            (s, range, curSeq) -> {
              driverLock.lock();
              s.setSeq(curSeq);
              mirror[0] = 0; // the device's mapping is torn down
              driverLock.unlock();
              return true;
            });
    sched.kthreadRun(
        "mm",
        () -> {
          for (int i = 0; i < 20; i++) {
            MmuNotifierRange r =
                MmuNotifierRange.init(
                    MmuNotifierEvent.CLEAR,
                    MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
                    mm,
                    0,
                    PAGE);
            assertEquals(0, subs.invalidateRangeStart(r));
            sched.condResched();
            pte[0] = pte[0] + 1;
            trace.add("pte=" + pte[0]);
            sched.condResched();
            subs.invalidateRangeEnd(r);
            sched.condResched();
          }
        });
    sched.kthreadRun(
        "driver",
        () -> {
          for (int i = 0; i < 20; i++) {
            while (true) {
              long seq = sub[0].readBegin();
              long seen = pte[0]; // hmm_range_fault() snapshot
              sched.condResched();
              driverLock.lock();
              if (!buggyDriver && sub[0].readRetry(seq)) {
                driverLock.unlock();
                trace.add("retry");
                continue;
              }
              mirror[0] = seen;
              if (mirror[0] != pte[0]) {
                violations.add("mirror " + mirror[0] + " != pte " + pte[0]);
              }
              trace.add("commit=" + seen);
              driverLock.unlock();
              break;
            }
            sched.condResched();
          }
        });
    sched.runUntilIdle();
    if (!violations.isEmpty()) {
      throw new AssertionError(SimScheduler.seedTag(seed) + ": " + violations);
    }
    return trace;
  }

  @Test
  void committedMirrorNeverGoesStaleUnderAnySeed() {
    for (long seed = 1; seed <= 200; seed++) {
      simulate(seed, false);
    }
  }

  @Test
  void aDriverThatSkipsReadRetryIsCaughtByASeed() {
    long found = -1;
    for (long seed = 1; seed <= 200 && found < 0; seed++) {
      try {
        simulate(seed, true);
      } catch (AssertionError e) {
        assertTrue(e.getMessage().contains("seed="), e.getMessage());
        found = seed;
      }
    }
    assertTrue(found > 0, "no seed in 1..200 exposed the missing read_retry");
    long replay = found;
    assertThrows(
        AssertionError.class, () -> simulate(replay, true), "seed " + replay + " must replay");
  }

  @Test
  void sameSeedSameInterleaving() {
    assertEquals(simulate(42, false), simulate(42, false));
  }
}
