package dev.refkern.notifier;

import static dev.refkern.notifier.MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;

/**
 * Writers invalidate random ranges and change the "page tables" of the slots they cover, between
 * start and end; readers mirror slots with read_begin / fault / read_retry. The property: a reader
 * whose read_retry said false saw no page table change of its slot during its critical section.
 */
class NotifierStressTest {
  private static final long PAGE = 4096;
  private static final int SLOTS = 8;
  private static final int WRITERS = 3;
  private static final int READERS = 3;
  private static final int ITERATIONS = 20_000;
  private static final long BUDGET_NANOS = TimeUnit.MILLISECONDS.toNanos(3000);
  // every thread does this much whatever the machine's load: the budget only caps the rest
  private static final int MIN_ITERATIONS = 500;

  /** One mirrored interval: the driver's lock, the notifier and the simulated CPU page tables. */
  private static final class Slot {
    final ReentrantLock userLock = new ReentrantLock();
    final AtomicInteger mutating = new AtomicInteger();
    final AtomicLong generation = new AtomicLong();
    MmuIntervalNotifier notifier;
  }

  /** A subscriber that checks start/end pairing, refusing some non-blockable starts. */
  private static final class PairingOps implements MmuNotifierOps {
    final AtomicLong started = new AtomicLong();
    final AtomicLong ended = new AtomicLong();
    final boolean flaky;

    PairingOps(boolean flaky) {
      this.flaky = flaky;
    }

    @Override
    public int invalidateRangeStart(MmuNotifier sub, MmuNotifierRange range) {
      if (flaky && !range.blockable() && (range.start() / PAGE) % 2 == 1) {
        return -NotifierErrno.EAGAIN;
      }
      started.incrementAndGet();
      return 0;
    }

    @Override
    public void invalidateRangeEnd(MmuNotifier sub, MmuNotifierRange range) {
      ended.incrementAndGet();
    }
  }

  @Test
  void readerThatDoesNotRetryNeverOverlappedAnInvalidation() throws Exception {
    long seed = Long.getLong("refkern.seed", System.nanoTime());
    String ctx = "seed=" + seed + " (rerun with -Drefkern.seed=" + seed + ")";
    Object mm = "stress-mm";
    MmuNotifierSubscriptions subs = new MmuNotifierSubscriptions(mm);
    PairingOps steady = new PairingOps(false);
    PairingOps flaky = new PairingOps(true);
    subs.register(steady);
    subs.register(flaky);

    Slot[] slots = new Slot[SLOTS];
    for (int i = 0; i < SLOTS; i++) {
      Slot slot = new Slot();
      slots[i] = slot;
      slot.notifier =
          subs.intervalInsert(
              i * PAGE,
              PAGE,
              (sub, range, curSeq) -> {
                if (range.blockable()) {
                  slot.userLock.lock();
                } else if (!slot.userLock.tryLock()) {
                  return false;
                }
                try {
                  sub.setSeq(curSeq);
                } finally {
                  slot.userLock.unlock();
                }
                return true;
              });
    }

    ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
    AtomicLong commits = new AtomicLong();
    AtomicLong retries = new AtomicLong();
    AtomicLong invalidations = new AtomicLong();
    AtomicLong refused = new AtomicLong();
    long deadline = System.nanoTime() + BUDGET_NANOS;
    List<Thread> threads = new ArrayList<>();
    CountDownLatch done = new CountDownLatch(WRITERS + READERS + 1);
    ConcurrentLinkedQueue<Throwable> crashes = new ConcurrentLinkedQueue<>();

    for (int w = 0; w < WRITERS; w++) {
      Random rnd = new Random(seed * 31 + w);
      threads.add(
          worker(
              "writer-" + w,
              done,
              crashes,
              () -> {
                for (int it = 0;
                    it < ITERATIONS && (it < MIN_ITERATIONS || System.nanoTime() < deadline);
                    it++) {
                  int first = rnd.nextInt(SLOTS);
                  int last = Math.min(SLOTS - 1, first + rnd.nextInt(3));
                  // Unaligned ends inside the first and last slot still hit them.
                  long start = first * PAGE + rnd.nextInt((int) PAGE);
                  long end = last * PAGE + 1 + rnd.nextInt((int) PAGE - 1);
                  if (end <= start) {
                    end = start + 1;
                  }
                  int flags = rnd.nextInt(5) == 0 ? 0 : MMU_NOTIFIER_RANGE_BLOCKABLE;
                  MmuNotifierRange range =
                      MmuNotifierRange.init(MmuNotifierEvent.CLEAR, flags, mm, start, end);
                  int r = subs.invalidateRangeStart(range);
                  if (r != 0) {
                    if (r != -NotifierErrno.EAGAIN || range.blockable()) {
                      violations.add("start returned " + r + " for " + range);
                    }
                    refused.incrementAndGet();
                    continue;
                  }
                  for (int s = first; s <= last; s++) {
                    slots[s].mutating.incrementAndGet();
                    slots[s].generation.incrementAndGet();
                  }
                  for (int y = 1 + rnd.nextInt(2); y > 0; y--) {
                    Thread.yield();
                  }
                  for (int s = first; s <= last; s++) {
                    slots[s].mutating.decrementAndGet();
                  }
                  subs.invalidateRangeEnd(range);
                  invalidations.incrementAndGet();
                }
              }));
    }
    for (int rd = 0; rd < READERS; rd++) {
      Random rnd = new Random(seed * 17 + rd);
      threads.add(
          worker(
              "reader-" + rd,
              done,
              crashes,
              () -> {
                for (int it = 0;
                    it < ITERATIONS && (it < MIN_ITERATIONS || System.nanoTime() < deadline);
                    it++) {
                  int i = rnd.nextInt(SLOTS);
                  Slot slot = slots[i];
                  long seq = slot.notifier.readBegin();
                  // The "fault": read the CPU page tables, which may sleep.
                  int m0 = slot.mutating.get();
                  long g0 = slot.generation.get();
                  for (int y = rnd.nextInt(3); y > 0; y--) {
                    Thread.yield();
                  }
                  slot.userLock.lock();
                  try {
                    if (slot.notifier.readRetry(seq)) {
                      retries.incrementAndGet();
                      continue;
                    }
                    commits.incrementAndGet();
                    int m1 = slot.mutating.get();
                    long g1 = slot.generation.get();
                    if (m0 != 0 || m1 != 0 || g1 != g0) {
                      violations.add(
                          "slot "
                              + i
                              + " committed seq "
                              + seq
                              + " across a page table change: mutating "
                              + m0
                              + "->"
                              + m1
                              + ", generation "
                              + g0
                              + "->"
                              + g1);
                    }
                  } finally {
                    slot.userLock.unlock();
                  }
                }
              }));
    }
    Random churnRnd = new Random(seed * 7);
    threads.add(
        worker(
            "churn",
            done,
            crashes,
            () -> {
              // Inserts and removes during invalidations exercise the deferred list.
              for (int it = 0;
                  it < ITERATIONS && (it < MIN_ITERATIONS || System.nanoTime() < deadline);
                  it++) {
                long start = churnRnd.nextInt(SLOTS * (int) PAGE);
                MmuIntervalNotifier extra =
                    subs.intervalInsert(
                        start,
                        1 + churnRnd.nextInt(2 * (int) PAGE),
                        (sub, range, curSeq) -> {
                          sub.setSeq(curSeq);
                          return true;
                        });
                extra.readBegin();
                extra.remove();
              }
            }));

    threads.forEach(Thread::start);
    if (!done.await(30, TimeUnit.SECONDS)) {
      StringBuilder stuck = new StringBuilder();
      for (Thread t : threads) {
        if (t.isAlive()) {
          stuck.append('\n').append(t.getName()).append(' ').append(t.getState());
          for (StackTraceElement e : t.getStackTrace()) {
            stuck.append("\n  at ").append(e);
          }
        }
      }
      fail("threads did not finish, a lost wake-up or a leaked invalidation? " + ctx + stuck);
    }
    if (!crashes.isEmpty()) {
      AssertionError e = new AssertionError("a worker threw, " + ctx, crashes.peek());
      crashes.forEach(e::addSuppressed);
      throw e;
    }
    assertTrue(
        violations.isEmpty(),
        violations.size()
            + " violations, "
            + ctx
            + ", first ones: "
            + violations.stream().limit(5).toList());
    assertTrue(commits.get() > 0, "no reader ever committed, " + ctx);
    assertTrue(invalidations.get() > 0, "no invalidation ran, " + ctx);
    assertEquals(0, subs.warnCount(), ctx);
    assertEquals(steady.started.get(), steady.ended.get(), "steady start/end pairing, " + ctx);
    assertEquals(flaky.started.get(), flaky.ended.get(), "flaky start/end pairing, " + ctx);
    // Nothing is left running: every slot can be read without waiting or retrying.
    for (Slot slot : slots) {
      long seq = slot.notifier.readBegin();
      assertFalse(slot.notifier.readRetry(seq), ctx + " " + subs);
    }
    System.out.printf(
        "stress %s: %d invalidations, %d refused, %d commits, %d retries%n",
        ctx, invalidations.get(), refused.get(), commits.get(), retries.get());
  }

  private static Thread worker(
      String name, CountDownLatch done, ConcurrentLinkedQueue<Throwable> crashes, Runnable body) {
    Thread t =
        new Thread(
            () -> {
              try {
                body.run();
              } catch (Throwable e) {
                crashes.add(e);
              } finally {
                done.countDown();
              }
            },
            "stress-" + name);
    t.setDaemon(true);
    return t;
  }
}
