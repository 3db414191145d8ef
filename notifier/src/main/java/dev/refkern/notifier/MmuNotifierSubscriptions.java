package dev.refkern.notifier;

import static org.apiguardian.api.API.Status.STABLE;

import com.google.common.base.MoreObjects;
import dev.refkern.notifier.internal.IntervalTree;
import dev.refkern.notifier.internal.NotifierTraceEvents;
import dev.refkern.notifier.spi.Blocker;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * Every mmu notifier of one address space, {@code struct mmu_notifier_subscriptions}, and the calls
 * the mm makes into them ({@code mmu_notifier_invalidate_range_start()} and friends).
 *
 * <p>Two kinds of subscriber: {@link MmuNotifier}s see every invalidation of the address space;
 * {@link MmuIntervalNotifier}s see those that intersect their interval and use the {@code
 * invalidate_seq} collision-retry protocol.
 *
 * <p>The sequence number works as in {@code mm/mmu_notifier.c}: it is even while no invalidation
 * that hit an interval subscriber is running, made odd when one starts, and incremented back to
 * even when the last running invalidation ends. While it is odd the interval tree does not change:
 * inserts and removes are queued and applied by that last end. Readers that find their subscriber
 * marked with the current odd value wait until it changes.
 *
 * <p>Thread-safe. Callbacks run without any lock of this class held. Where the kernel sleeps
 * ({@code wait_event()}, {@code synchronize_srcu()}), this class waits through the {@link Blocker}.
 * A {@code WARN_ON} of the kernel is counted in {@link #warnCount()} and logged, and the call goes
 * on.
 */
@API(status = STABLE, since = "0.1.0")
public final class MmuNotifierSubscriptions {
  private static final System.Logger LOG = System.getLogger("dev.refkern.notifier");

  /** {@code ULONG_MAX}. */
  private static final long ULONG_MAX = -1L;

  private final Object owner;
  private final Blocker blocker;

  /** {@code subscriptions->lock}: held only for short, non-blocking updates. */
  private final Object lock = new Object();

  /** {@code subscriptions->list}; newest first, traversed without the lock as under SRCU. */
  private final CopyOnWriteArrayList<MmuNotifier> list = new CopyOnWriteArrayList<>();

  /** {@code invalidate_seq}: written under {@link #lock}, read by waiters without it. */
  private volatile long invalidateSeq = 2;

  /** {@code active_invalidate_ranges}; under {@link #lock}. */
  private long activeInvalidateRanges;

  /** {@code itree}; under {@link #lock}, unchanged while {@link #invalidateSeq} is odd. */
  private final IntervalTree<MmuIntervalNotifier> itree = new IntervalTree<>();

  /** {@code deferred_list}; under {@link #lock}. */
  private final List<MmuIntervalNotifier> deferredList = new ArrayList<>();

  private volatile boolean hasNotifiers;
  private volatile boolean released;
  private final AtomicLong warnCount = new AtomicLong();

  /**
   * Subscriptions for an address space, waiting with {@link Blocker#monitor()}.
   *
   * @param owner the address space ({@code mm}), opaque to this module
   */
  public MmuNotifierSubscriptions(Object owner) {
    this(owner, Blocker.monitor());
  }

  /**
   * Subscriptions for an address space with a given way to wait.
   *
   * @param owner the address space ({@code mm}), opaque to this module
   * @param blocker where every wait of this address space's notifiers goes
   */
  public MmuNotifierSubscriptions(Object owner, Blocker blocker) {
    if (owner == null || blocker == null) {
      throw new NotifierException(NotifierErrno.EINVAL, "owner and blocker are required");
    }
    this.owner = owner;
    this.blocker = blocker;
  }

  /**
   * The address space these subscriptions belong to.
   *
   * @return the owner given at construction
   */
  public Object owner() {
    return owner;
  }

  /**
   * Whether anything ever subscribed, {@code mm_has_notifiers()}; the mm's fast path skips the
   * notifier calls when false. Like the kernel's pointer, it stays true once set.
   *
   * @return true once a notifier was registered or an interval inserted
   */
  public boolean hasSubscriptions() {
    return hasNotifiers;
  }

  /**
   * Whether {@link #release()} ran.
   *
   * @return true after the address space was torn down
   */
  public boolean isReleased() {
    return released;
  }

  /**
   * How many kernel {@code WARN_ON}s fired here, e.g. a callback that failed a blockable range.
   *
   * @return the count
   */
  public long warnCount() {
    return warnCount.get();
  }

  // ---- registration ----

  /**
   * Adds a subscriber, {@code mmu_notifier_register()}.
   *
   * @param ops its callbacks
   * @return the subscription, to {@link MmuNotifier#unregister()} later
   * @throws NotifierException {@code EINVAL} if {@code ops} is null or the address space was
   *     released
   */
  public MmuNotifier register(MmuNotifierOps ops) {
    requireOps(ops);
    MmuNotifier sub = new MmuNotifier(this, ops);
    synchronized (lock) {
      checkNotReleased();
      list.add(0, sub);
      hasNotifiers = true;
    }
    return sub;
  }

  /**
   * The one subscription of {@code ops} on this address space, created on first use, {@code
   * mmu_notifier_get()}; each call must be paired with {@link MmuNotifier#put()}.
   *
   * @param ops its callbacks, matched by identity
   * @return the subscription with one more user
   * @throws NotifierException {@code EINVAL} if {@code ops} is null or the address space was
   *     released; {@code EOVERFLOW} if the user count would overflow
   */
  public MmuNotifier get(MmuNotifierOps ops) {
    requireOps(ops);
    synchronized (lock) {
      checkNotReleased();
      for (MmuNotifier sub : list) {
        if (sub.ops() == ops) {
          if (sub.users == Integer.MAX_VALUE) {
            throw new NotifierException(NotifierErrno.EOVERFLOW, "too many users");
          }
          sub.users++;
          return sub;
        }
      }
      MmuNotifier sub = new MmuNotifier(this, ops);
      list.add(0, sub);
      hasNotifiers = true;
      return sub;
    }
  }

  void unregister(MmuNotifier sub) {
    if (sub.hashed) {
      // Counted as in flight so a concurrent release() or unregister() waits for this ->release.
      sub.inflight.incrementAndGet();
      try {
        if (sub.releaseClaimed.compareAndSet(false, true)) {
          sub.ops().release(sub, owner);
        }
      } finally {
        exit(sub);
      }
      synchronized (lock) {
        unhash(sub);
      }
    }
    synchronizeSrcu(sub);
  }

  void put(MmuNotifier sub) {
    synchronized (lock) {
      if (sub.users == 0) {
        warn("mmu_notifier_put() without a matching get: " + sub);
        return;
      }
      if (--sub.users > 0) {
        return;
      }
      unhash(sub);
    }
    sub.freePending = true;
    tryFree(sub);
  }

  /**
   * Subscribes to invalidations of {@code [start, start + length)}, {@code
   * mmu_interval_notifier_insert()}.
   *
   * <p>No alignment is required. If an invalidation is running, the subscriber starts in the
   * "collided" state, so its first {@link MmuIntervalNotifier#readBegin()} waits for it; if that
   * invalidation hit an interval, the insert is deferred to its end.
   *
   * @param start first address
   * @param length bytes, at least 1
   * @param ops the callback
   * @return the subscription
   * @throws NotifierException {@code EOVERFLOW} if {@code length} is 0 or the interval wraps past
   *     {@code ULONG_MAX}; {@code EINVAL} if {@code ops} is null or the address space was released
   */
  public MmuIntervalNotifier intervalInsert(long start, long length, MmuIntervalNotifierOps ops) {
    if (ops == null) {
      throw new NotifierException(NotifierErrno.EINVAL, "interval notifier without ops");
    }
    long last = start + (length - 1);
    if (length == 0 || Long.compareUnsigned(last, start) < 0) {
      throw new NotifierException(
          NotifierErrno.EOVERFLOW,
          "interval 0x" + Long.toHexString(start) + " + 0x" + Long.toHexString(length));
    }
    MmuIntervalNotifier sub = new MmuIntervalNotifier(this, ops, start, last);
    synchronized (lock) {
      if (released) {
        // The kernel's WARN_ON(mm_users <= 0) before -EINVAL.
        warn("mmu_interval_notifier_insert() on a released address space");
        throw new NotifierException(NotifierErrno.EINVAL, "address space released");
      }
      hasNotifiers = true;
      if (activeInvalidateRanges != 0) {
        // Some invalidation runs and we do not know its range: treat the new interval as hit.
        if (isInvalidating()) {
          deferredList.add(sub);
        } else {
          invalidateSeq |= 1;
          itree.insert(start, last, sub);
          sub.inTree = true;
        }
        sub.invalidateSeq = invalidateSeq;
      } else {
        // Odd, unequal to the even current value, and far from being reached again.
        sub.invalidateSeq = invalidateSeq - 1;
        itree.insert(start, last, sub);
        sub.inTree = true;
      }
    }
    return sub;
  }

  void intervalRemove(MmuIntervalNotifier sub) {
    boolean wait = false;
    long seq = 0;
    synchronized (lock) {
      if (sub.removed) {
        warn("mmu_interval_notifier_remove() twice: " + sub);
        return;
      }
      sub.removed = true;
      if (isInvalidating()) {
        if (!sub.inTree) {
          // Inserted during this invalidation and never reached the tree.
          deferredList.remove(sub);
        } else {
          deferredList.add(sub);
          seq = invalidateSeq;
          wait = true;
        }
      } else {
        if (!sub.inTree) {
          warn("interval notifier not in the tree: " + sub);
        } else {
          itree.remove(sub.start(), sub);
          sub.inTree = false;
        }
      }
    }
    if (wait) {
      final long s = seq;
      blocker.await(() -> invalidateSeq != s);
    }
  }

  long readBegin(MmuIntervalNotifier sub) {
    long seq;
    boolean isInvalidating;
    synchronized (lock) {
      seq = sub.invalidateSeq;
      isInvalidating = seq == invalidateSeq;
    }
    if (isInvalidating) {
      final long s = seq;
      blocker.await(() -> invalidateSeq != s);
    }
    return seq;
  }

  // ---- calls from the mm ----

  /**
   * Announces that a range is about to change, {@code __mmu_notifier_invalidate_range_start()}:
   * {@code mmu_notifier_invalidate_range_start()} for a blockable range, {@code
   * mmu_notifier_invalidate_range_start_nonblock()} otherwise.
   *
   * <p>Interval subscribers that intersect the range are called first, then every subscriber. On a
   * non-blockable range a callback may refuse: an interval callback stops the call at once; a
   * subscriber's {@code -EAGAIN} lets the remaining subscribers be called, then every subscriber
   * whose start succeeded gets its {@code invalidateRangeEnd}. Either way the call returns {@code
   * -EAGAIN} and the caller must not call {@link #invalidateRangeEnd}. A refusal on a blockable
   * range is a kernel {@code WARN} and counts as success.
   *
   * @param range the range; its {@code mm} must be {@link #owner()}
   * @return {@code 0}, after which {@link #invalidateRangeEnd} must follow; or {@code -EAGAIN}
   * @throws NotifierException {@code EINVAL} if the range belongs to another address space
   */
  public int invalidateRangeStart(MmuNotifierRange range) {
    checkRange(range);
    NotifierTraceEvents.InvalidateRangeStart ev = new NotifierTraceEvents.InvalidateRangeStart();
    ev.begin();
    int ret = itreeInvalidate(range);
    if (ret == 0 && !list.isEmpty()) {
      ret = hlistInvalidateRangeStart(range);
      if (ret != 0) {
        // The caller will not call the end, so the interval side is ended here.
        itreeInvEnd();
      }
    }
    if (ev.shouldCommit()) {
      ev.event = range.event().name();
      ev.start = range.start();
      ev.end = range.end();
      ev.blockable = range.blockable();
      ev.result = ret;
      ev.commit();
    }
    return ret;
  }

  /**
   * Announces that a range has changed, {@code __mmu_notifier_invalidate_range_end()}; pairs with a
   * successful {@link #invalidateRangeStart}. An end without a start is a {@code WARN} and is
   * ignored.
   *
   * @param range the range given to the start
   * @throws NotifierException {@code EINVAL} if the range belongs to another address space
   */
  public void invalidateRangeEnd(MmuNotifierRange range) {
    checkRange(range);
    if (!itreeInvEnd()) {
      return;
    }
    NotifierTraceEvents.InvalidateRangeEnd ev = new NotifierTraceEvents.InvalidateRangeEnd();
    ev.begin();
    for (MmuNotifier sub : list) {
      if (enter(sub)) {
        try {
          sub.ops().invalidateRangeEnd(sub, range);
        } finally {
          exit(sub);
        }
      }
    }
    if (ev.shouldCommit()) {
      ev.event = range.event().name();
      ev.start = range.start();
      ev.end = range.end();
      ev.commit();
    }
  }

  /**
   * Flushes secondary TLBs after the CPU TLB, {@code
   * __mmu_notifier_arch_invalidate_secondary_tlbs()}.
   *
   * @param start first address
   * @param end first address past the range
   * @throws NotifierException {@code EINVAL} if {@code start >= end}
   */
  public void archInvalidateSecondaryTlbs(long start, long end) {
    checkSpan(start, end);
    for (MmuNotifier sub : list) {
      if (enter(sub)) {
        try {
          sub.ops().archInvalidateSecondaryTlbs(sub, owner, start, end);
        } finally {
          exit(sub);
        }
      }
    }
  }

  /**
   * Tears the notifiers down with the address space, {@code __mmu_notifier_release()} from {@code
   * exit_mmap()}.
   *
   * <p>Every interval subscriber is invalidated with a blockable {@link MmuNotifierEvent#RELEASE}
   * range {@code [0, ULONG_MAX)}; every subscriber gets {@code ->release} exactly once (unless
   * {@link MmuNotifier#unregister()} already called it) and is detached; then this waits until no
   * subscriber's callback runs. Later registrations fail with {@code EINVAL}. Calling it again does
   * nothing.
   */
  public void release() {
    synchronized (lock) {
      if (released) {
        return;
      }
      released = true;
    }
    MmuNotifierRange all =
        new MmuNotifierRange(
            owner,
            0,
            ULONG_MAX,
            MmuNotifierEvent.RELEASE,
            MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
            null);
    List<MmuIntervalNotifier> hit = new ArrayList<>();
    long curSeq = itreeInvStartRange(all, hit);
    try {
      for (MmuIntervalNotifier sub : hit) {
        if (!sub.ops().invalidate(sub, all, curSeq)) {
          warn("interval notifier refused the release of the address space: " + sub);
        }
      }
    } finally {
      itreeInvEnd();
    }

    List<MmuNotifier> subs = List.copyOf(list);
    for (MmuNotifier sub : subs) {
      if (enter(sub)) {
        try {
          if (sub.releaseClaimed.compareAndSet(false, true)) {
            sub.ops().release(sub, owner);
          }
        } finally {
          exit(sub);
        }
      }
    }
    synchronized (lock) {
      for (MmuNotifier sub : list) {
        unhash(sub);
      }
    }
    // Also waits for a ->release that a concurrent unregister() is running.
    for (MmuNotifier sub : subs) {
      synchronizeSrcu(sub);
    }
  }

  /**
   * Ages a range in the secondary MMUs and flushes, {@code __mmu_notifier_clear_flush_young()}.
   *
   * @param start first address
   * @param end first address past the range
   * @return the OR over every subscriber
   * @throws NotifierException {@code EINVAL} if {@code start >= end}
   */
  public boolean clearFlushYoung(long start, long end) {
    checkSpan(start, end);
    boolean young = false;
    for (MmuNotifier sub : list) {
      if (enter(sub)) {
        try {
          young |= sub.ops().clearFlushYoung(sub, owner, start, end);
        } finally {
          exit(sub);
        }
      }
    }
    return young;
  }

  /**
   * Ages a range in the secondary MMUs without a flush, {@code __mmu_notifier_clear_young()}.
   *
   * @param start first address
   * @param end first address past the range
   * @return the OR over every subscriber
   * @throws NotifierException {@code EINVAL} if {@code start >= end}
   */
  public boolean clearYoung(long start, long end) {
    checkSpan(start, end);
    boolean young = false;
    for (MmuNotifier sub : list) {
      if (enter(sub)) {
        try {
          young |= sub.ops().clearYoung(sub, owner, start, end);
        } finally {
          exit(sub);
        }
      }
    }
    return young;
  }

  /**
   * Whether a secondary MMU saw the page accessed, {@code __mmu_notifier_test_young()}; stops at
   * the first subscriber that says yes.
   *
   * @param address the address
   * @return true if any subscriber reports it young
   */
  public boolean testYoung(long address) {
    for (MmuNotifier sub : list) {
      if (enter(sub)) {
        try {
          if (sub.ops().testYoung(sub, owner, address)) {
            return true;
          }
        } finally {
          exit(sub);
        }
      }
    }
    return false;
  }

  // ---- the interval tree side, mn_itree_* ----

  private boolean isInvalidating() {
    return (invalidateSeq & 1) != 0;
  }

  /** {@code mn_itree_inv_start_range()}: counts the range in and collects the hit intervals. */
  private long itreeInvStartRange(MmuNotifierRange range, List<MmuIntervalNotifier> hit) {
    synchronized (lock) {
      activeInvalidateRanges++;
      // The tree cannot change while the sequence is odd, so a snapshot equals a live walk.
      hit.addAll(itree.overlapping(range.start(), range.end() - 1));
      if (!hit.isEmpty()) {
        invalidateSeq |= 1;
      }
      return invalidateSeq;
    }
  }

  /** {@code mn_itree_invalidate()}. */
  private int itreeInvalidate(MmuNotifierRange range) {
    List<MmuIntervalNotifier> hit = new ArrayList<>();
    long curSeq = itreeInvStartRange(range, hit);
    try {
      for (MmuIntervalNotifier sub : hit) {
        if (!sub.ops().invalidate(sub, range, curSeq)) {
          if (range.blockable()) {
            warn("interval notifier refused a blockable range " + range + ": " + sub);
            continue;
          }
          // On -EAGAIN the caller may not call the end, so it is done here.
          itreeInvEnd();
          return -NotifierErrno.EAGAIN;
        }
      }
    } catch (RuntimeException e) {
      itreeInvEnd();
      throw e;
    }
    return 0;
  }

  /**
   * {@code mn_itree_inv_end()}: the last running invalidation makes the sequence even, applies the
   * deferred inserts and removes, and wakes the waiters.
   *
   * @return false if no invalidation was running (an unbalanced end)
   */
  private boolean itreeInvEnd() {
    synchronized (lock) {
      if (activeInvalidateRanges == 0) {
        warn("invalidate_range_end without a matching start");
        return false;
      }
      if (--activeInvalidateRanges != 0 || !isInvalidating()) {
        return true;
      }
      invalidateSeq++;
      for (MmuIntervalNotifier sub : deferredList) {
        if (!sub.inTree) {
          itree.insert(sub.start(), sub.last(), sub);
          sub.inTree = true;
        } else {
          itree.remove(sub.start(), sub);
          sub.inTree = false;
        }
      }
      deferredList.clear();
    }
    blocker.wakeAll();
    return true;
  }

  // ---- the subscription list side, mn_hlist_* ----

  /** {@code mn_hlist_invalidate_range_start()}. */
  private int hlistInvalidateRangeStart(MmuNotifierRange range) {
    List<MmuNotifier> started = new ArrayList<>();
    int ret = 0;
    for (MmuNotifier sub : list) {
      if (!enter(sub)) {
        continue;
      }
      int r;
      try {
        r = sub.ops().invalidateRangeStart(sub, range);
      } finally {
        exit(sub);
      }
      if (r == 0) {
        started.add(sub);
        continue;
      }
      if (range.blockable() || r != -NotifierErrno.EAGAIN) {
        warn(
            "invalidate_range_start of "
                + sub
                + " failed with "
                + r
                + " in "
                + (range.blockable() ? "" : "non-")
                + "blockable context");
      }
      if (range.blockable()) {
        started.add(sub);
      } else {
        ret = r;
      }
    }
    if (ret != 0) {
      // Those that started expect their end; the caller will not call it.
      for (MmuNotifier sub : started) {
        if (enter(sub)) {
          try {
            sub.ops().invalidateRangeEnd(sub, range);
          } finally {
            exit(sub);
          }
        }
      }
    }
    return ret;
  }

  /** Detaches a subscription from the list; under {@link #lock}. */
  private void unhash(MmuNotifier sub) {
    if (sub.hashed) {
      sub.hashed = false;
      list.remove(sub);
    }
  }

  /**
   * Starts a callback of {@code sub} unless it is detached: {@code srcu_read_lock()} plus the list
   * walk. The second look at {@code hashed} closes the race with a concurrent detach.
   */
  private boolean enter(MmuNotifier sub) {
    if (!sub.hashed) {
      return false;
    }
    sub.inflight.incrementAndGet();
    if (!sub.hashed) {
      exit(sub);
      return false;
    }
    return true;
  }

  /** Ends a callback, {@code srcu_read_unlock()}. */
  private void exit(MmuNotifier sub) {
    if (sub.inflight.decrementAndGet() == 0) {
      if (sub.freePending) {
        tryFree(sub);
      }
      if (sub.syncWaiters.get() > 0) {
        blocker.wakeAll();
      }
    }
  }

  /** {@code synchronize_srcu()} for one subscription: waits until none of its callbacks runs. */
  private void synchronizeSrcu(MmuNotifier sub) {
    if (sub.inflight.get() == 0) {
      return;
    }
    sub.syncWaiters.incrementAndGet();
    try {
      blocker.await(() -> sub.inflight.get() == 0);
    } finally {
      sub.syncWaiters.decrementAndGet();
    }
  }

  /** {@code mmu_notifier_free_rcu()}: runs {@code ->free_notifier} once nothing is in flight. */
  private void tryFree(MmuNotifier sub) {
    if (sub.inflight.get() == 0 && sub.freed.compareAndSet(false, true)) {
      sub.ops().freeNotifier(sub);
    }
  }

  // ---- checks ----

  private void warn(String what) {
    warnCount.incrementAndGet();
    LOG.log(Level.WARNING, "WARN: " + what);
  }

  private void checkNotReleased() {
    if (released) {
      throw new NotifierException(NotifierErrno.EINVAL, "address space released: " + owner);
    }
  }

  private static void requireOps(MmuNotifierOps ops) {
    if (ops == null) {
      throw new NotifierException(NotifierErrno.EINVAL, "mmu notifier without ops");
    }
  }

  private void checkRange(MmuNotifierRange range) {
    if (range == null) {
      throw new NotifierException(NotifierErrno.EINVAL, "null range");
    }
    if (range.mm() != owner) {
      throw new NotifierException(
          NotifierErrno.EINVAL, "range of " + range.mm() + " given to the notifiers of " + owner);
    }
  }

  private static void checkSpan(long start, long end) {
    if (Long.compareUnsigned(start, end) >= 0) {
      throw new NotifierException(
          NotifierErrno.EINVAL,
          "empty range [0x" + Long.toHexString(start) + ", 0x" + Long.toHexString(end) + ")");
    }
  }

  @Override
  public String toString() {
    synchronized (lock) {
      return MoreObjects.toStringHelper(this)
          .add("owner", owner)
          .add("subscriptions", list.size())
          .add("intervals", itree.size())
          .add("invalidateSeq", invalidateSeq)
          .add("activeInvalidateRanges", activeInvalidateRanges)
          .add("deferred", deferredList.size())
          .add("released", released)
          .toString();
    }
  }
}
