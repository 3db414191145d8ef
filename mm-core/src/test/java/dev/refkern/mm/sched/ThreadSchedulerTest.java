package dev.refkern.mm.sched;

import static dev.refkern.mm.sched.SchedulerContractTest.work;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Real threads: exactness under contention, and failures that surface. */
@Timeout(60)
class ThreadSchedulerTest {

  final ThreadScheduler s = new ThreadScheduler();

  @AfterEach
  void tearDown() {
    s.shutdown();
  }

  @Test
  void fourThreadsIncrementingUnderAKLockCountExactly() {
    int perThread = 100_000;
    KLock lock = s.newLock("counter_lock");
    long[] counter = {0};
    List<KThread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      threads.add(
          s.kthreadRun(
              "inc" + t,
              () -> {
                for (int i = 0; i < perThread; i++) {
                  lock.lock();
                  try {
                    counter[0]++;
                  } finally {
                    lock.unlock();
                  }
                }
              }));
    }
    for (KThread t : threads) {
      t.join();
    }
    assertEquals(4L * perThread, counter[0]);
  }

  @Test
  void failingWorkIsRethrownByTheNextFlushOnce() {
    Workqueue wq = s.allocWorkqueue("events");
    wq.queueWork(
        work(
            () -> {
              throw new IllegalStateException("boom");
            }));
    WorkFailedException e = assertThrows(WorkFailedException.class, wq::flush);
    assertInstanceOf(IllegalStateException.class, e.getCause());
    assertTrue(e.getMessage().contains("'events'"), e.getMessage());
    wq.flush(); // reported once
  }

  @Test
  void flushFromItsOwnWorkIsRejectedNotHung() {
    Workqueue wq = s.allocWorkqueue("events");
    wq.queueWork(work(wq::flush));
    WorkFailedException e = assertThrows(WorkFailedException.class, wq::flush);
    assertInstanceOf(IllegalStateException.class, e.getCause());
  }

  @Test
  void kthreadFailureIsRethrownByJoin() {
    KThread k =
        s.kthreadRun(
            "crasher",
            () -> {
              throw new ArithmeticException("divide error");
            });
    WorkFailedException e = assertThrows(WorkFailedException.class, k::join);
    assertInstanceOf(ArithmeticException.class, e.getCause());
    k.join(); // reported once
  }

  @Test
  void unreportedFailuresSurfaceAtShutdown() {
    ThreadScheduler other = new ThreadScheduler();
    Workqueue wq = other.allocWorkqueue("events");
    Completion ran = other.newCompletion();
    wq.queueWork(
        work(
            () -> {
              ran.complete();
              throw new IllegalStateException("work failed");
            }));
    other.kthreadRun(
        "crasher",
        () -> {
          throw new IllegalStateException("kthread failed");
        });
    ran.waitForCompletion();
    WorkFailedException e = assertThrows(WorkFailedException.class, other::shutdown);
    List<String> causes = new ArrayList<>();
    causes.add(e.getCause().getMessage());
    for (Throwable t : e.getSuppressed()) {
      causes.add(t.getCause().getMessage());
    }
    assertTrue(causes.containsAll(List.of("work failed", "kthread failed")), causes.toString());
    other.shutdown(); // idempotent, nothing left to report
  }

  @Test
  void seedIsMinusOne() {
    assertEquals(-1, s.seed());
  }
}
