package dev.refkern.notifier;

import static dev.refkern.notifier.MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class MmuNotifierSubscriptionsTest {
  private final Object mm = "mm#1";
  private final List<String> log = new CopyOnWriteArrayList<>();
  private final WatchedBlocker blocker = new WatchedBlocker();
  private final MmuNotifierSubscriptions subs = new MmuNotifierSubscriptions(mm, blocker);
  private final ExecutorService pool = Executors.newCachedThreadPool(daemon());

  @AfterEach
  void stopThreads() {
    pool.shutdownNow();
  }

  static java.util.concurrent.ThreadFactory daemon() {
    return r -> {
      Thread t = new Thread(r, "notifier-test");
      t.setDaemon(true);
      return t;
    };
  }

  @ParameterizedTest
  @EnumSource(MmuNotifierEvent.class)
  void startAndEndSeeTheSameRangeForEveryEvent(MmuNotifierEvent event) {
    RecordingOps a = new RecordingOps("a", log);
    subs.register(a);
    Object driver = new Object();
    MmuNotifierRange range =
        MmuNotifierRange.initOwner(event, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, 0x4000, 0x9000, driver);
    assertEquals(0, subs.invalidateRangeStart(range));
    assertEquals(List.of(range), a.starts);
    assertTrue(a.ends.isEmpty());
    subs.invalidateRangeEnd(range);
    assertEquals(List.of(range), a.ends);
    MmuNotifierRange seen = a.ends.get(0);
    assertEquals(event, seen.event());
    assertEquals(0x4000, seen.start());
    assertEquals(0x9000, seen.end());
    assertSame(driver, seen.owner());
    assertSame(mm, seen.mm());
    assertEquals(List.of("a.start", "a.end"), log);
    assertEquals(0, subs.warnCount());
  }

  @Test
  void intervalsAreCalledBeforeSubscriptionsAndNewestSubscriptionFirst() {
    subs.register(new RecordingOps("old", log));
    subs.register(new RecordingOps("new", log));
    subs.intervalInsert(
        0,
        0x1000,
        (s, r, seq) -> {
          log.add("interval");
          return true;
        });
    MmuNotifierRange range = MmuNotifierRange.init(MmuNotifierEvent.CLEAR, 0, mm, 0, 0x1000);
    assertEquals(0, subs.invalidateRangeStart(range));
    subs.invalidateRangeEnd(range);
    assertEquals(List.of("interval", "new.start", "old.start", "new.end", "old.end"), log);
  }

  @Test
  void rangeOfAnotherAddressSpaceIsEinval() {
    MmuNotifierRange other = MmuNotifierRange.init(MmuNotifierEvent.CLEAR, 0, "mm#2", 0, 0x1000);
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(NotifierException.class, () -> subs.invalidateRangeStart(other)).errno());
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(NotifierException.class, () -> subs.invalidateRangeEnd(other)).errno());
  }

  @Test
  void youngQueriesAggregateOverSubscriptions() {
    RecordingOps a = new RecordingOps("a", log);
    RecordingOps b = new RecordingOps("b", log);
    subs.register(a);
    subs.register(b);
    assertFalse(subs.clearFlushYoung(0x1000, 0x2000));
    a.young = true;
    assertTrue(subs.clearFlushYoung(0x1000, 0x2000));
    assertTrue(subs.clearYoung(0x1000, 0x2000));
    // clear_* ask every subscriber: each must clear its own bit.
    assertEquals(
        List.of(
            "b.clearFlushYoung(mm#1,4096,8192)",
            "a.clearFlushYoung(mm#1,4096,8192)",
            "b.clearFlushYoung(mm#1,4096,8192)",
            "a.clearFlushYoung(mm#1,4096,8192)",
            "b.clearYoung(mm#1,4096,8192)",
            "a.clearYoung(mm#1,4096,8192)"),
        log);
    log.clear();
    a.young = false;
    b.young = true;
    // test_young stops at the first yes; b is the newest, so a is never asked.
    assertTrue(subs.testYoung(0x1000));
    assertEquals(List.of("b.testYoung(mm#1,4096)"), log);
    b.young = false;
    assertFalse(subs.testYoung(0x1000));
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(NotifierException.class, () -> subs.clearYoung(0x2000, 0x1000)).errno());
  }

  @Test
  void archInvalidateSecondaryTlbsReachesEverySubscription() {
    subs.register(new RecordingOps("a", log));
    subs.archInvalidateSecondaryTlbs(0x1000, 0x2000);
    assertEquals(List.of("a.tlb(mm#1,4096,8192)"), log);
  }

  @Test
  void hasSubscriptionsOnceAnythingSubscribed() {
    assertFalse(subs.hasSubscriptions());
    subs.intervalInsert(0, 1, (s, r, seq) -> true).remove();
    assertTrue(subs.hasSubscriptions());
    MmuNotifierSubscriptions other = new MmuNotifierSubscriptions("mm#3");
    other.register(new MmuNotifierOps() {}).unregister();
    assertTrue(other.hasSubscriptions());
  }

  @Test
  void registerWithoutOpsIsEinval() {
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(NotifierException.class, () -> subs.register(null)).errno());
  }

  @Test
  void releaseCallsEveryReleaseOnceAndInvalidatesIntervalsWithReleaseRange() {
    RecordingOps a = new RecordingOps("a", log);
    RecordingOps b = new RecordingOps("b", log);
    MmuNotifier na = subs.register(a);
    MmuNotifier nb = subs.register(b);
    List<MmuNotifierRange> seen = new ArrayList<>();
    subs.intervalInsert(
        0x7000,
        0x1000,
        (s, r, seq) -> {
          seen.add(r);
          return true;
        });

    subs.release();
    assertEquals(1, seen.size());
    MmuNotifierRange all = seen.get(0);
    assertEquals(MmuNotifierEvent.RELEASE, all.event());
    assertEquals(0, all.start());
    assertEquals(-1L, all.end());
    assertTrue(all.blockable());
    assertEquals(1, a.releases);
    assertEquals(1, b.releases);
    assertFalse(na.isRegistered());
    assertFalse(nb.isRegistered());
    assertTrue(subs.isReleased());

    subs.release();
    na.unregister();
    assertEquals(1, a.releases);
    assertEquals(1, b.releases);

    // Invalidations after exit are still allowed; detached subscribers no longer see them.
    MmuNotifierRange late = MmuNotifierRange.init(MmuNotifierEvent.CLEAR, 0, mm, 0, 0x1000);
    assertEquals(0, subs.invalidateRangeStart(late));
    subs.invalidateRangeEnd(late);
    assertTrue(a.starts.isEmpty());

    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(NotifierException.class, () -> subs.register(a)).errno());
    assertEquals(
        NotifierErrno.EINVAL, assertThrows(NotifierException.class, () -> subs.get(a)).errno());
    long warns = subs.warnCount();
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(
                NotifierException.class, () -> subs.intervalInsert(0, 0x1000, (s, r, q) -> true))
            .errno());
    assertEquals(warns + 1, subs.warnCount());
  }

  @Test
  void unregisterCallsReleaseAndTeardownDoesNotCallItAgain() {
    RecordingOps a = new RecordingOps("a", log);
    MmuNotifier na = subs.register(a);
    na.unregister();
    assertEquals(1, a.releases);
    assertFalse(na.isRegistered());
    na.unregister();
    subs.release();
    assertEquals(1, a.releases);
    assertEquals(List.of("a.release(mm#1)"), log);
  }

  @Test
  void racingUnregisterAndReleaseCallReleaseExactlyOnce() throws Exception {
    for (int i = 0; i < 200; i++) {
      MmuNotifierSubscriptions s = new MmuNotifierSubscriptions("mm-race-" + i);
      AtomicInteger releases = new AtomicInteger();
      MmuNotifier n =
          s.register(
              new MmuNotifierOps() {
                @Override
                public void release(MmuNotifier subscription, Object owner) {
                  releases.incrementAndGet();
                }
              });
      CyclicBarrier go = new CyclicBarrier(2);
      Future<?> exit =
          pool.submit(
              () -> {
                go.await();
                s.release();
                return null;
              });
      go.await(10, TimeUnit.SECONDS);
      n.unregister();
      exit.get(10, TimeUnit.SECONDS);
      assertEquals(1, releases.get(), "iteration " + i);
    }
  }

  @Test
  void unregisterWaitsForARunningCallback() throws Exception {
    CountDownLatch inCallback = new CountDownLatch(1);
    CountDownLatch proceed = new CountDownLatch(1);
    AtomicInteger calls = new AtomicInteger();
    MmuNotifier n =
        subs.register(
            new MmuNotifierOps() {
              @Override
              public int invalidateRangeStart(MmuNotifier s, MmuNotifierRange r) {
                if (calls.incrementAndGet() == 1) {
                  inCallback.countDown();
                  try {
                    proceed.await(10, TimeUnit.SECONDS);
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                }
                return 0;
              }
            });
    MmuNotifierRange range =
        MmuNotifierRange.init(MmuNotifierEvent.CLEAR, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, 0, 4096);
    Future<Integer> invalidation = pool.submit(() -> subs.invalidateRangeStart(range));
    assertTrue(inCallback.await(10, TimeUnit.SECONDS));
    Future<?> unregister = pool.submit(n::unregister);
    assertTrue(blocker.awaitParked(), "unregister() should wait for the running callback");
    assertFalse(unregister.isDone());
    proceed.countDown();
    unregister.get(10, TimeUnit.SECONDS);
    assertEquals(0, invalidation.get(10, TimeUnit.SECONDS));
    subs.invalidateRangeEnd(range);
    assertEquals(0, subs.invalidateRangeStart(range));
    subs.invalidateRangeEnd(range);
    assertEquals(1, calls.get(), "no callback after unregister() returned");
  }

  @Test
  void getSharesOneSubscriptionAndLastPutFreesWithoutRelease() {
    RecordingOps a = new RecordingOps("a", log);
    MmuNotifier first = subs.get(a);
    MmuNotifier second = subs.get(a);
    assertSame(first, second);
    first.put();
    assertTrue(second.isRegistered());
    assertEquals(0, a.frees);
    second.put();
    assertFalse(second.isRegistered());
    assertEquals(1, a.frees);
    assertEquals(0, a.releases);
    second.put();
    assertEquals(1, subs.warnCount());
    assertEquals(1, a.frees);
  }

  @Test
  void putFromReleaseFreesAfterReleaseReturns() {
    List<String> order = new CopyOnWriteArrayList<>();
    MmuNotifierOps ops =
        new MmuNotifierOps() {
          @Override
          public void release(MmuNotifier subscription, Object owner) {
            subscription.put();
            order.add("release-returns");
          }

          @Override
          public void freeNotifier(MmuNotifier subscription) {
            order.add("free");
          }
        };
    subs.get(ops);
    subs.release();
    assertEquals(List.of("release-returns", "free"), order);
  }

  @Test
  void monitorBlockerWakesAWaiter() throws Exception {
    dev.refkern.notifier.spi.Blocker b = dev.refkern.notifier.spi.Blocker.monitor();
    AtomicInteger flag = new AtomicInteger();
    Future<?> waiter = pool.submit(() -> b.await(() -> flag.get() == 1));
    flag.set(1);
    b.wakeAll();
    waiter.get(10, TimeUnit.SECONDS);
    assertTrue(waiter.isDone());
  }
}
