package dev.refkern.examples;

import static dev.refkern.mm.Page.*;

import dev.refkern.mm.sched.KLock;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.notifier.MmuIntervalNotifier;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import dev.refkern.notifier.MmuNotifierSubscriptions;
import java.io.PrintStream;

/**
 * A device driver mirroring one page of an address space with an interval notifier ({@code
 * mmu_interval_read_begin()}/{@code read_retry()}) while the mm keeps changing the page table, run
 * on the deterministic scheduler so the same seed prints the same interleaving.
 */
public final class NotifierDemo {
  private NotifierDemo() {}

  /** Runs the demo with {@code seed}; returns the number of retries the driver needed. */
  public static int run(long seed, PrintStream out) {
    SimScheduler sched = new SimScheduler(seed);
    Object mm = new Object();
    MmuNotifierSubscriptions subs = new MmuNotifierSubscriptions(mm, sched.newWaitQueue());
    KLock driverLock = sched.newLock("driver");
    long[] pte = {100};
    int[] retries = {0};
    MmuIntervalNotifier sub =
        subs.intervalInsert(
            0x7f0000000000L,
            PAGE_SIZE,
            (s, range, curSeq) -> {
              driverLock.lock();
              s.setSeq(curSeq);
              driverLock.unlock();
              out.printf(
                  "  notifier: invalidate %s [%#x, %#x)%n",
                  range.event(), range.start(), range.end());
              return true;
            });
    sched.kthreadRun(
        "mm",
        () -> {
          for (int i = 0; i < 3; i++) {
            MmuNotifierRange r =
                MmuNotifierRange.init(
                    MmuNotifierEvent.CLEAR,
                    MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
                    mm,
                    0x7f0000000000L,
                    0x7f0000001000L);
            subs.invalidateRangeStart(r);
            sched.condResched();
            pte[0]++;
            out.println("  mm: page table entry now maps pfn " + pte[0]);
            subs.invalidateRangeEnd(r);
            sched.condResched();
          }
        });
    sched.kthreadRun(
        "driver",
        () -> {
          for (int i = 0; i < 3; i++) {
            while (true) {
              long seq = sub.readBegin();
              long seen = pte[0];
              sched.condResched();
              driverLock.lock();
              boolean retry = sub.readRetry(seq);
              driverLock.unlock();
              if (retry) {
                retries[0]++;
                out.println(
                    "  driver: snapshot of pfn " + seen + " went stale, read_retry -> retry");
                continue;
              }
              out.println("  driver: device now maps pfn " + seen);
              break;
            }
            sched.condResched();
          }
        });
    sched.runUntilIdle();
    return retries[0];
  }
}
