package dev.refkern.notifier;

import static org.apiguardian.api.API.Status.STABLE;

import com.google.common.base.MoreObjects;
import org.apiguardian.api.API;

/**
 * A subscription to invalidations of one address interval, {@code struct mmu_interval_notifier}.
 *
 * <p>A driver mirrors the CPU page tables of the interval with the collision-retry protocol:
 *
 * <pre>{@code
 * long seq = sub.readBegin();
 * ... read the CPU page tables (may sleep) ...
 * driverLock.lock();
 * if (sub.readRetry(seq)) { driverLock.unlock(); retry; }
 * ... install the device mappings ...
 * driverLock.unlock();
 * }</pre>
 *
 * and its {@link MmuIntervalNotifierOps#invalidate} takes the same lock and calls {@link
 * #setSeq(long)}.
 */
@API(status = STABLE, since = "0.1.0")
public final class MmuIntervalNotifier {
  private final MmuNotifierSubscriptions subscriptions;
  private final MmuIntervalNotifierOps ops;
  private final long start;
  private final long last;

  /** {@code interval_sub->invalidate_seq}; written by {@link #setSeq} and at insert. */
  volatile long invalidateSeq;

  /** In the interval tree, i.e. not {@code RB_EMPTY_NODE}; under the owner's lock. */
  boolean inTree;

  /** Removed by {@link #remove()}; under the owner's lock. */
  boolean removed;

  MmuIntervalNotifier(
      MmuNotifierSubscriptions subscriptions, MmuIntervalNotifierOps ops, long start, long last) {
    this.subscriptions = subscriptions;
    this.ops = ops;
    this.start = start;
    this.last = last;
  }

  /**
   * First address of the interval, {@code interval_tree.start}.
   *
   * @return the start
   */
  public long start() {
    return start;
  }

  /**
   * Last address of the interval, inclusive, {@code interval_tree.last}.
   *
   * @return the last address
   */
  public long last() {
    return last;
  }

  /**
   * The callback, {@code interval_sub->ops}.
   *
   * @return the ops
   */
  public MmuIntervalNotifierOps ops() {
    return ops;
  }

  /**
   * The address space, {@code interval_sub->mm}.
   *
   * @return the opaque owner
   */
  public Object mm() {
    return subscriptions.owner();
  }

  /**
   * Begins a read-side critical section, {@code mmu_interval_read_begin()}.
   *
   * <p>If an invalidation that covers this interval is in progress, waits (through the owner's
   * {@link dev.refkern.notifier.spi.Blocker}) until every running invalidation has ended.
   *
   * @return the sequence number to hand to {@link #readRetry(long)}
   */
  public long readBegin() {
    return subscriptions.readBegin(this);
  }

  /**
   * Whether the critical section collided with an invalidation, {@code mmu_interval_read_retry()};
   * call it under the lock the invalidate callback takes.
   *
   * @param seq what {@link #readBegin()} returned
   * @return true if the caller must retry
   */
  public boolean readRetry(long seq) {
    return invalidateSeq != seq;
  }

  /**
   * An early, lock-free look at {@link #readRetry(long)}, {@code mmu_interval_check_retry()}; a
   * false answer must still be confirmed by {@code readRetry} under the lock.
   *
   * @param seq what {@link #readBegin()} returned
   * @return true if a retry is already certain
   */
  public boolean checkRetry(long seq) {
    return invalidateSeq != seq;
  }

  /**
   * Records that an invalidation ran, {@code mmu_interval_set_seq()}; called from {@link
   * MmuIntervalNotifierOps#invalidate} under the driver's lock.
   *
   * @param curSeq the {@code curSeq} given to the callback
   */
  public void setSeq(long curSeq) {
    invalidateSeq = curSeq;
  }

  /**
   * Unsubscribes, {@code mmu_interval_notifier_remove()}.
   *
   * <p>If an invalidation is in progress, the removal is deferred to its end and this waits for it;
   * after return the callback neither runs nor will be called. Must not be called from a callback.
   */
  public void remove() {
    subscriptions.intervalRemove(this);
  }

  @Override
  public String toString() {
    return MoreObjects.toStringHelper(this)
        .add("start", "0x" + Long.toHexString(start))
        .add("last", "0x" + Long.toHexString(last))
        .add("seq", invalidateSeq)
        .toString();
  }
}
