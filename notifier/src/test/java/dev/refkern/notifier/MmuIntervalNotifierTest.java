package dev.refkern.notifier;

import static dev.refkern.notifier.MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class MmuIntervalNotifierTest {
  private static final long PAGE = 4096;
  private final Object mm = "mm";
  private final WatchedBlocker blocker = new WatchedBlocker();
  private final MmuNotifierSubscriptions subs = new MmuNotifierSubscriptions(mm, blocker);
  private final ExecutorService pool =
      Executors.newCachedThreadPool(MmuNotifierSubscriptionsTest.daemon());

  @AfterEach
  void stopThreads() {
    pool.shutdownNow();
  }

  /** A driver: records what it was asked and follows the protocol. */
  private static final class Driver implements MmuIntervalNotifierOps {
    final List<MmuNotifierRange> ranges = new CopyOnWriteArrayList<>();
    final List<Long> seqs = new CopyOnWriteArrayList<>();

    @Override
    public synchronized boolean invalidate(
        MmuIntervalNotifier sub, MmuNotifierRange range, long curSeq) {
      ranges.add(range);
      seqs.add(curSeq);
      sub.setSeq(curSeq);
      return true;
    }
  }

  private MmuNotifierRange range(long start, long end) {
    return MmuNotifierRange.init(
        MmuNotifierEvent.CLEAR, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, start, end);
  }

  /** Runs one complete invalidation and tells whether {@code driver} was called. */
  private boolean hits(Driver driver, long start, long end) {
    int before = driver.ranges.size();
    MmuNotifierRange r = range(start, end);
    assertEquals(0, subs.invalidateRangeStart(r));
    subs.invalidateRangeEnd(r);
    return driver.ranges.size() > before;
  }

  @Test
  void matchesOnlyIntersectingRangesWithEndExclusive() {
    Driver d = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, 0x1000, d);
    assertEquals(0x1000, n.start());
    assertEquals(0x1fff, n.last());
    assertFalse(hits(d, 0x0, 0x1000), "range ends where the interval starts");
    assertFalse(hits(d, 0x2000, 0x3000), "range starts past the last byte");
    assertTrue(hits(d, 0x0, 0x1001));
    assertTrue(hits(d, 0x1fff, 0x2000));
    assertTrue(hits(d, 0x1800, 0x1801));
    assertTrue(hits(d, 0x0, -1L));
    assertEquals(range(0x0, 0x1001), d.ranges.get(0));
  }

  @Test
  void unalignedAndTopOfAddressSpaceIntervalsAreAccepted() {
    Driver d = new Driver();
    subs.intervalInsert(0x1234, 1, d);
    assertTrue(hits(d, 0x1234, 0x1235));
    assertFalse(hits(d, 0x1235, 0x2000));
    Driver top = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(-PAGE, PAGE, top);
    assertEquals(-1L, n.last());
    assertTrue(hits(top, -2 * PAGE, -PAGE + 1));
    assertFalse(hits(top, 0, 0x1000));
  }

  @Test
  void zeroLengthOrWrappingIntervalIsEoverflow() {
    Driver d = new Driver();
    assertEquals(
        NotifierErrno.EOVERFLOW,
        assertThrows(NotifierException.class, () -> subs.intervalInsert(0x1000, 0, d)).errno());
    assertEquals(
        NotifierErrno.EOVERFLOW,
        assertThrows(NotifierException.class, () -> subs.intervalInsert(-PAGE, PAGE + 1, d))
            .errno());
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(NotifierException.class, () -> subs.intervalInsert(0, PAGE, null)).errno());
  }

  @Test
  void readRetryIsFalseWithoutInvalidationAndTrueAfterOne() {
    Driver d = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, PAGE, d);
    long seq = n.readBegin();
    assertFalse(n.readRetry(seq));
    assertFalse(n.checkRetry(seq));
    hits(d, 0x5000, 0x6000);
    assertFalse(n.readRetry(seq), "an invalidation elsewhere does not collide");
    assertTrue(hits(d, 0x1000, 0x2000));
    assertTrue(n.readRetry(seq));
    assertTrue(n.checkRetry(seq));
    long again = n.readBegin();
    assertFalse(n.readRetry(again));
  }

  @Test
  void setSeqInsideInvalidateMakesEarlierSnapshotsRetry() {
    long[] seen = new long[2];
    MmuIntervalNotifier n =
        subs.intervalInsert(
            0x1000,
            PAGE,
            (sub, r, curSeq) -> {
              seen[0] = curSeq;
              sub.setSeq(curSeq);
              seen[1] = sub.readRetry(curSeq) ? 1 : 0;
              return true;
            });
    long snapshot = n.readBegin();
    MmuNotifierRange r = range(0x1000, 0x2000);
    assertEquals(0, subs.invalidateRangeStart(r));
    assertEquals(1, seen[0] & 1, "curSeq is odd while the invalidation runs");
    assertNotEquals(snapshot, seen[0]);
    assertEquals(0, seen[1]);
    assertTrue(n.readRetry(snapshot));
    subs.invalidateRangeEnd(r);
    long after = n.readBegin();
    assertEquals(seen[0], after);
    assertFalse(n.readRetry(after));
  }

  @Test
  void readBeginWaitsWhileAnInvalidationOfItsIntervalRuns() throws Exception {
    Driver d = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, PAGE, d);
    MmuNotifierRange r = range(0x1000, 0x2000);
    assertEquals(0, subs.invalidateRangeStart(r));

    Future<Long> reader = pool.submit(n::readBegin);
    assertTrue(blocker.awaitParked(), "read_begin should sleep during the invalidation");
    assertFalse(reader.isDone());

    subs.invalidateRangeEnd(r);
    long seq = reader.get(10, TimeUnit.SECONDS);
    assertFalse(n.readRetry(seq), "the invalidation ended before read_begin returned");
  }

  @Test
  void readBeginWaitsForEveryOverlappingInvalidationToEnd() throws Exception {
    Driver d = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, PAGE, d);
    MmuNotifierRange first = range(0x1000, 0x2000);
    MmuNotifierRange unrelated = range(0x8000, 0x9000);
    assertEquals(0, subs.invalidateRangeStart(first));
    assertEquals(0, subs.invalidateRangeStart(unrelated));
    Future<Long> reader = pool.submit(n::readBegin);
    assertTrue(blocker.awaitParked());
    subs.invalidateRangeEnd(first);
    // The sequence only turns even when the last running invalidation ends.
    assertFalse(reader.isDone());
    subs.invalidateRangeEnd(unrelated);
    long seq = reader.get(10, TimeUnit.SECONDS);
    assertFalse(n.readRetry(seq));
  }

  @Test
  void readBeginDoesNotWaitForAnInvalidationElsewhere() {
    Driver d = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, PAGE, d);
    MmuNotifierRange r = range(0x8000, 0x9000);
    assertEquals(0, subs.invalidateRangeStart(r));
    long seq = assertTimeoutPreemptively(Duration.ofSeconds(10), n::readBegin);
    assertEquals(0, blocker.parkedCount());
    assertFalse(n.readRetry(seq));
    subs.invalidateRangeEnd(r);
  }

  @Test
  void insertDuringAHittingInvalidationIsDeferredToItsEnd() throws Exception {
    Driver old = new Driver();
    subs.intervalInsert(0x1000, PAGE, old);
    MmuNotifierRange first = range(0x1000, 0x2000);
    assertEquals(0, subs.invalidateRangeStart(first));

    Driver late = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, PAGE, late);
    // Not in the tree yet: a second invalidation of the same range misses it.
    MmuNotifierRange second = range(0x1000, 0x2000);
    assertEquals(0, subs.invalidateRangeStart(second));
    assertEquals(2, old.ranges.size());
    assertTrue(late.ranges.isEmpty());
    // It starts collided, so its reader waits for the running invalidations.
    Future<Long> reader = pool.submit(n::readBegin);
    assertTrue(blocker.awaitParked());
    subs.invalidateRangeEnd(second);
    assertFalse(reader.isDone());
    subs.invalidateRangeEnd(first);
    long seq = reader.get(10, TimeUnit.SECONDS);
    assertFalse(n.readRetry(seq));
    assertTrue(hits(late, 0x1000, 0x2000), "inserted by the last end");
    assertTrue(n.readRetry(seq));
  }

  @Test
  void insertDuringAMissingInvalidationEntersTheTreeButStartsCollided() throws Exception {
    MmuNotifierRange elsewhere = range(0x8000, 0x9000);
    assertEquals(0, subs.invalidateRangeStart(elsewhere));
    Driver d = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, PAGE, d);
    MmuNotifierRange r = range(0x1000, 0x2000);
    assertEquals(0, subs.invalidateRangeStart(r));
    assertEquals(1, d.ranges.size(), "inserted at once: the tree was not being walked");
    subs.invalidateRangeEnd(r);
    Future<Long> reader = pool.submit(n::readBegin);
    assertTrue(blocker.awaitParked(), "the running invalidation may have covered it");
    subs.invalidateRangeEnd(elsewhere);
    reader.get(10, TimeUnit.SECONDS);
  }

  @Test
  void removeDuringAnInvalidationWaitsForItsEnd() throws Exception {
    Driver d = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, PAGE, d);
    MmuNotifierRange first = range(0x1000, 0x2000);
    assertEquals(0, subs.invalidateRangeStart(first));

    Future<?> remover = pool.submit(n::remove);
    assertTrue(blocker.awaitParked(), "remove should sleep until the invalidation ends");
    assertFalse(remover.isDone());
    // The tree does not change while invalidating: the removed notifier is still called.
    MmuNotifierRange second = range(0x1000, 0x2000);
    assertEquals(0, subs.invalidateRangeStart(second));
    assertEquals(2, d.ranges.size());
    subs.invalidateRangeEnd(second);
    assertFalse(remover.isDone());
    subs.invalidateRangeEnd(first);
    remover.get(10, TimeUnit.SECONDS);
    assertFalse(hits(d, 0x1000, 0x2000), "removed by the last end");
  }

  @Test
  void removeOfAPendingInsertDoesNotWait() {
    Driver old = new Driver();
    subs.intervalInsert(0x1000, PAGE, old);
    MmuNotifierRange r = range(0x1000, 0x2000);
    assertEquals(0, subs.invalidateRangeStart(r));
    Driver late = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, PAGE, late);
    assertTimeoutPreemptively(Duration.ofSeconds(10), n::remove);
    assertEquals(0, blocker.parkedCount());
    subs.invalidateRangeEnd(r);
    assertFalse(hits(late, 0x1000, 0x2000), "the deferred insert was cancelled");
  }

  @Test
  void removeWhenIdleIsImmediateAndTwiceIsAWarn() {
    Driver d = new Driver();
    MmuIntervalNotifier n = subs.intervalInsert(0x1000, PAGE, d);
    n.remove();
    assertFalse(hits(d, 0x1000, 0x2000));
    assertEquals(0, subs.warnCount());
    n.remove();
    assertEquals(1, subs.warnCount());
  }
}
