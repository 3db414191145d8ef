package dev.refkern.mm.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What both schedulers promise. The test thread only starts threads and waits through the
 * scheduler's own primitives, so under the simulation those waits drive it.
 */
abstract class SchedulerContractTest {

  Scheduler s;

  abstract Scheduler create();

  /** Loop count for the lock test: the simulation hands the CPU over on every iteration. */
  abstract int iterations();

  @BeforeEach
  void setUp() {
    s = create();
  }

  @AfterEach
  void tearDown() {
    s.shutdown();
  }

  /** Names the run in every failure message: the seed, so a failing simulation can be replayed. */
  String ctx() {
    return s.seed() == -1 ? "threads" : SimScheduler.seedTag(s.seed());
  }

  /** A fresh work_struct: pending-ness is by identity, so never reuse a lambda by accident. */
  static Runnable work(Runnable body) {
    return new Runnable() {
      @Override
      public void run() {
        body.run();
      }
    };
  }

  @Test
  void klockGivesMutualExclusion() {
    KLock lock = s.newLock("counter_lock");
    int[] counter = {0};
    AtomicInteger inside = new AtomicInteger();
    AtomicBoolean overlap = new AtomicBoolean();
    List<KThread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      threads.add(
          s.kthreadRun(
              "inc" + t,
              () -> {
                for (int i = 0; i < iterations(); i++) {
                  lock.lock();
                  try {
                    if (inside.incrementAndGet() != 1) {
                      overlap.set(true);
                    }
                    int v = counter[0];
                    s.condResched();
                    counter[0] = v + 1;
                    inside.decrementAndGet();
                  } finally {
                    lock.unlock();
                  }
                }
              }));
    }
    for (KThread t : threads) {
      t.join();
    }
    assertFalse(overlap.get(), ctx() + ": two threads inside the mutex");
    assertEquals(4 * iterations(), counter[0], ctx());
  }

  @Test
  void klockIsNotRecursiveAndOnlyItsOwnerUnlocksIt() {
    KLock lock = s.newLock("m");
    lock.lock();
    assertTrue(lock.isHeldByCurrentThread(), ctx());
    assertThrows(IllegalStateException.class, lock::lock, ctx());
    assertFalse(lock.tryLock(), ctx());
    lock.unlock();
    assertFalse(lock.isHeldByCurrentThread(), ctx());
    assertThrows(IllegalStateException.class, lock::unlock, ctx());
    assertTrue(lock.tryLock(), ctx());
    lock.unlock();
  }

  @Test
  void unlockByANonOwnerNamesTheMutexTheCallerAndTheHolder() {
    KLock lock = s.newLock("m");
    Completion held = s.newCompletion();
    Completion release = s.newCompletion();
    KThread holder =
        s.kthreadRun(
            "holder",
            () -> {
              lock.lock();
              held.complete();
              release.waitForCompletion();
              lock.unlock();
            });
    held.waitForCompletion();
    IllegalStateException e = assertThrows(IllegalStateException.class, lock::unlock, ctx());
    assertTrue(e.getMessage().contains("mutex 'm' unlocked by "), ctx() + ": " + e);
    assertTrue(e.getMessage().contains(" but held by 'holder'"), ctx() + ": " + e);
    assertFalse(lock.isHeldByCurrentThread(), ctx());
    release.complete();
    holder.join();
    assertTrue(lock.tryLock(), ctx() + ": the holder still unlocked it");
    lock.unlock();
  }

  @Test
  void tryLockFailsWhileAnotherThreadHoldsTheLock() {
    KLock lock = s.newLock("m");
    Completion held = s.newCompletion();
    Completion release = s.newCompletion();
    KThread holder =
        s.kthreadRun(
            "holder",
            () -> {
              lock.lock();
              held.complete();
              release.waitForCompletion();
              lock.unlock();
            });
    held.waitForCompletion();
    assertFalse(lock.tryLock(), ctx());
    release.complete();
    holder.join();
    assertTrue(lock.tryLock(), ctx());
    lock.unlock();
  }

  @Test
  void completionCountsLikeTheKernel() {
    Completion c = s.newCompletion();
    assertFalse(c.done(), ctx());
    c.complete();
    c.complete();
    assertTrue(c.done(), ctx());
    c.waitForCompletion();
    c.waitForCompletion();
    assertFalse(c.done(), ctx());
    c.completeAll();
    c.waitForCompletion();
    c.waitForCompletion();
    assertTrue(c.done(), ctx() + ": complete_all() lets every later waiter through");
    c.reinit();
    assertFalse(c.done(), ctx());
  }

  @Test
  void completeAllWakesEveryWaiter() {
    Completion go = s.newCompletion();
    AtomicInteger passed = new AtomicInteger();
    List<KThread> threads = new ArrayList<>();
    for (int t = 0; t < 3; t++) {
      threads.add(
          s.kthreadRun(
              "waiter" + t,
              () -> {
                go.waitForCompletion();
                passed.incrementAndGet();
              }));
    }
    threads.add(
        s.kthreadRun(
            "waker",
            () -> {
              for (int i = 0; i < 5; i++) {
                s.condResched();
              }
              go.completeAll();
            }));
    for (KThread t : threads) {
      t.join();
    }
    assertEquals(3, passed.get(), ctx());
  }

  @Test
  void eachCompleteLetsOneWaiterThrough() {
    Completion c = s.newCompletion();
    AtomicInteger passed = new AtomicInteger();
    List<KThread> threads = new ArrayList<>();
    for (int t = 0; t < 3; t++) {
      threads.add(
          s.kthreadRun(
              "waiter" + t,
              () -> {
                c.waitForCompletion();
                passed.incrementAndGet();
              }));
    }
    for (int i = 0; i < 3; i++) {
      c.complete();
    }
    for (KThread t : threads) {
      t.join();
    }
    assertEquals(3, passed.get(), ctx());
    assertFalse(c.done(), ctx() + ": three completions, three waits");
  }

  @Test
  void waitQueueWakeAllMakesWaitersRecheck() {
    WaitQueue wq = s.newWaitQueue();
    AtomicInteger level = new AtomicInteger();
    List<String> woke = Collections.synchronizedList(new ArrayList<>());
    List<KThread> threads = new ArrayList<>();
    for (int t = 1; t <= 3; t++) {
      int need = t;
      threads.add(
          s.kthreadRun(
              "waiter" + t,
              () -> {
                wq.await(() -> level.get() >= need);
                woke.add("waiter" + need + " saw " + level.get());
              }));
    }
    threads.add(
        s.kthreadRun(
            "setter",
            () -> {
              for (int l = 1; l <= 3; l++) {
                level.set(l);
                wq.wakeAll();
                s.condResched();
              }
            }));
    for (KThread t : threads) {
      t.join();
    }
    assertEquals(3, woke.size(), ctx() + ": " + woke);
  }

  @Test
  void flushWaitsForEverythingQueuedBeforeIt() {
    Workqueue wq = s.allocWorkqueue("events");
    Completion gate = s.newCompletion();
    AtomicInteger ran = new AtomicInteger();
    for (int i = 0; i < 20; i++) {
      assertTrue(
          wq.queueWork(
              work(
                  () -> {
                    gate.waitForCompletion();
                    s.condResched();
                    ran.incrementAndGet();
                  })),
          ctx());
    }
    s.kthreadRun(
        "opener",
        () -> {
          for (int i = 0; i < 3; i++) {
            s.condResched();
          }
          gate.completeAll();
        });
    wq.flush();
    assertEquals(20, ran.get(), ctx());
  }

  @Test
  void unboundWorkqueueRunsSleepingItemsConcurrently() {
    Workqueue wq = s.allocWorkqueue("events_unbound");
    Completion second = s.newCompletion();
    AtomicInteger ran = new AtomicInteger();
    wq.queueWork(
        work(
            () -> {
              second.waitForCompletion(); // needs the next item to run meanwhile
              ran.incrementAndGet();
            }));
    wq.queueWork(
        work(
            () -> {
              ran.incrementAndGet();
              second.complete();
            }));
    wq.flush();
    assertEquals(2, ran.get(), ctx());
  }

  @Test
  void orderedWorkqueueRunsItemsOneAtATimeInOrder() {
    Workqueue wq = s.allocOrderedWorkqueue("ordered");
    List<Integer> order = Collections.synchronizedList(new ArrayList<>());
    AtomicInteger inside = new AtomicInteger();
    AtomicBoolean overlap = new AtomicBoolean();
    for (int i = 0; i < 10; i++) {
      int n = i;
      wq.queueWork(
          work(
              () -> {
                if (inside.incrementAndGet() != 1) {
                  overlap.set(true);
                }
                s.condResched();
                order.add(n);
                inside.decrementAndGet();
              }));
    }
    wq.flush();
    assertFalse(overlap.get(), ctx());
    assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), order, ctx());
  }

  @Test
  void queueWorkIsANoOpWhileTheWorkIsPending() {
    Workqueue wq = s.allocOrderedWorkqueue("ordered");
    Completion gate = s.newCompletion();
    AtomicInteger ran = new AtomicInteger();
    Runnable x = work(ran::incrementAndGet);
    assertTrue(wq.queueWork(work(gate::waitForCompletion)), ctx());
    assertTrue(wq.queueWork(x), ctx());
    assertFalse(wq.queueWork(x), ctx() + ": x is still pending behind the blocked item");
    gate.complete();
    wq.flush();
    assertEquals(1, ran.get(), ctx());
    assertTrue(wq.queueWork(x), ctx() + ": x ran, so it is no longer pending");
    wq.flush();
    assertEquals(2, ran.get(), ctx());
  }

  @Test
  void delayedWorkWaitsAtLeastItsDelay() {
    Workqueue wq = s.allocWorkqueue("delayed");
    Completion fired = s.newCompletion();
    long[] firedAt = new long[1];
    long queuedAt = s.clock().jiffies();
    assertTrue(
        wq.queueDelayedWork(
            work(
                () -> {
                  firedAt[0] = s.clock().jiffies();
                  fired.complete();
                }),
            20),
        ctx());
    fired.waitForCompletion();
    assertTrue(firedAt[0] - queuedAt >= 20, ctx() + ": fired after " + (firedAt[0] - queuedAt));
  }

  @Test
  void cancelWorkDisarmsAPendingTimer() {
    Workqueue wq = s.allocWorkqueue("delayed");
    AtomicInteger ran = new AtomicInteger();
    Runnable w = work(ran::incrementAndGet);
    assertTrue(wq.queueDelayedWork(w, Clock.msecsToJiffies(60_000)), ctx());
    assertFalse(wq.queueDelayedWork(w, 1), ctx() + ": already pending");
    assertTrue(wq.cancelWork(w), ctx());
    assertFalse(wq.cancelWork(w), ctx());
    wq.destroy();
    assertEquals(0, ran.get(), ctx());
    assertThrows(IllegalStateException.class, () -> wq.queueWork(w), ctx());
  }

  @Test
  void sleepingInCompletionContextIsABug() {
    KLock lock = s.newLock("m");
    Completion c = s.newCompletion();
    WaitQueue w = s.newWaitQueue();
    Workqueue wq = s.allocWorkqueue("events");
    assertFalse(s.inAtomicContext(), ctx());
    s.runInCompletionContext(() -> assertTrue(s.inAtomicContext(), ctx()));
    SleepInAtomicError e =
        assertThrows(
            SleepInAtomicError.class, () -> s.runInCompletionContext(s::mightSleep), ctx());
    assertTrue(
        e.getMessage().contains("sleeping function called from invalid context"), ctx() + ": " + e);
    for (Runnable sleeper :
        List.<Runnable>of(
            lock::lock,
            c::waitForCompletion,
            () -> w.await(() -> true),
            s::condResched,
            wq::flush)) {
      assertThrows(SleepInAtomicError.class, () -> s.runInCompletionContext(sleeper), ctx());
    }
    assertFalse(s.inAtomicContext(), ctx() + ": left atomic context after the throw");
    // What a bio completion may do: complete, wake, queue work, trylock.
    s.runInCompletionContext(
        () -> {
          c.complete();
          w.wakeAll();
          wq.queueWork(work(() -> {}));
          assertTrue(lock.tryLock(), ctx());
          lock.unlock();
        });
    wq.flush();
  }

  @Test
  void kthreadStopEndsAnIdleServiceThread() {
    WaitQueue wq = s.newWaitQueue();
    AtomicInteger requests = new AtomicInteger();
    AtomicInteger served = new AtomicInteger();
    Completion servedOne = s.newCompletion();
    KThread daemon =
        s.kthreadRun(
            "kswapd0",
            () -> {
              while (!s.kthreadShouldStop()) {
                wq.awaitIdle(() -> s.kthreadShouldStop() || requests.get() > served.get());
                if (requests.get() > served.get()) {
                  served.incrementAndGet();
                  servedOne.complete();
                }
              }
            });
    requests.incrementAndGet();
    wq.wakeAll();
    servedOne.waitForCompletion();
    assertTrue(daemon.isAlive(), ctx());
    daemon.stop();
    assertFalse(daemon.isAlive(), ctx());
    assertEquals(1, served.get(), ctx());
    assertFalse(s.kthreadShouldStop(), ctx() + ": the test thread is no kthread");
  }
}
