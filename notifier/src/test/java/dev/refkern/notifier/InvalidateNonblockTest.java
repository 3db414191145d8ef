package dev.refkern.notifier;

import static dev.refkern.notifier.MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class InvalidateNonblockTest {
  private final Object mm = "mm";
  private final List<String> log = new CopyOnWriteArrayList<>();
  private final WatchedBlocker blocker = new WatchedBlocker();
  private final MmuNotifierSubscriptions subs = new MmuNotifierSubscriptions(mm, blocker);
  private final MmuNotifierRange nonblock =
      MmuNotifierRange.init(MmuNotifierEvent.UNMAP, 0, mm, 0x1000, 0x3000);
  private final MmuNotifierRange blockable = nonblock.withFlags(MMU_NOTIFIER_RANGE_BLOCKABLE);

  @Test
  void eagainOnNonblockableRangeRollsBackTheSubscriptionsThatStarted() {
    RecordingOps a = new RecordingOps("a", log);
    RecordingOps b = new RecordingOps("b", log);
    RecordingOps c = new RecordingOps("c", log);
    subs.register(a);
    subs.register(b);
    subs.register(c);
    b.startResult = -NotifierErrno.EAGAIN;

    assertEquals(-NotifierErrno.EAGAIN, subs.invalidateRangeStart(nonblock));
    // Every subscriber is asked (list order c, b, a); those that started get their end.
    assertEquals(List.of("c.start", "b.start", "a.start", "c.end", "a.end"), log);
    assertEquals(List.of(nonblock), a.ends);
    assertTrue(b.ends.isEmpty());
    assertEquals(0, subs.warnCount(), "-EAGAIN on a non-blockable range is allowed");
  }

  @Test
  void eagainOnBlockableRangeIsAWarnAndCountsAsSuccess() {
    RecordingOps a = new RecordingOps("a", log);
    RecordingOps b = new RecordingOps("b", log);
    subs.register(a);
    subs.register(b);
    b.startResult = -NotifierErrno.EAGAIN;

    assertEquals(0, subs.invalidateRangeStart(blockable));
    assertEquals(1, subs.warnCount());
    assertEquals(List.of("b.start", "a.start"), log);
    subs.invalidateRangeEnd(blockable);
    assertEquals(List.of("b.start", "a.start", "b.end", "a.end"), log);
  }

  @Test
  void otherErrnoOnNonblockableRangeIsReturnedAndWarned() {
    RecordingOps a = new RecordingOps("a", log);
    subs.register(a);
    a.startResult = -NotifierErrno.ENOMEM;
    assertEquals(-NotifierErrno.ENOMEM, subs.invalidateRangeStart(nonblock));
    assertEquals(1, subs.warnCount());
    assertTrue(a.ends.isEmpty());
  }

  @Test
  void intervalRefusalFailsBeforeSubscriptionsAndLeavesNoInvalidationRunning() {
    RecordingOps a = new RecordingOps("a", log);
    subs.register(a);
    AtomicInteger calls = new AtomicInteger();
    MmuIntervalNotifier n =
        subs.intervalInsert(
            0x2000,
            0x1000,
            (s, r, seq) -> {
              calls.incrementAndGet();
              if (!r.blockable()) {
                return false;
              }
              s.setSeq(seq);
              return true;
            });
    assertEquals(-NotifierErrno.EAGAIN, subs.invalidateRangeStart(nonblock));
    assertEquals(1, calls.get());
    assertTrue(a.starts.isEmpty(), "subscriptions are not called once an interval refuses");
    assertEquals(0, subs.warnCount());
    // The failed start ended the interval side itself: readers do not wait.
    long seq = assertTimeoutPreemptively(Duration.ofSeconds(10), n::readBegin);
    assertEquals(0, blocker.parkedCount());
    assertFalse(n.readRetry(seq));
    // And the tree is usable: a blockable invalidation goes through.
    assertEquals(0, subs.invalidateRangeStart(blockable));
    assertTrue(n.readRetry(seq));
    subs.invalidateRangeEnd(blockable);
  }

  @Test
  void intervalRefusalOnBlockableRangeIsAWarnAndTheOthersAreStillCalled() {
    AtomicInteger second = new AtomicInteger();
    subs.intervalInsert(0x1000, 0x1000, (s, r, seq) -> false);
    subs.intervalInsert(
        0x2000,
        0x1000,
        (s, r, seq) -> {
          second.incrementAndGet();
          return true;
        });
    assertEquals(0, subs.invalidateRangeStart(blockable));
    assertEquals(1, subs.warnCount());
    assertEquals(1, second.get());
    subs.invalidateRangeEnd(blockable);
  }

  @Test
  void subscriptionRefusalAlsoEndsTheIntervalSide() {
    RecordingOps a = new RecordingOps("a", log);
    subs.register(a);
    a.startResult = -NotifierErrno.EAGAIN;
    MmuIntervalNotifier n =
        subs.intervalInsert(
            0x1000,
            0x1000,
            (s, r, seq) -> {
              s.setSeq(seq);
              return true;
            });
    long before = n.readBegin();
    assertEquals(-NotifierErrno.EAGAIN, subs.invalidateRangeStart(nonblock));
    assertTrue(n.readRetry(before), "the interval was invalidated before the refusal");
    long seq = assertTimeoutPreemptively(Duration.ofSeconds(10), n::readBegin);
    assertEquals(0, blocker.parkedCount(), "no invalidation may be left running");
    assertFalse(n.readRetry(seq));
  }

  @Test
  void endWithoutStartIsAWarnAndCallsNothing() {
    RecordingOps a = new RecordingOps("a", log);
    subs.register(a);
    subs.invalidateRangeEnd(blockable);
    assertEquals(1, subs.warnCount());
    assertTrue(log.isEmpty());
  }
}
