package dev.refkern.notifier;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * The callback of an interval subscriber, {@code struct mmu_interval_notifier_ops}.
 *
 * <p>Called for every invalidation that intersects the subscribed interval. A typical driver takes
 * its own lock (the kernel's "user_lock"), calls {@link MmuIntervalNotifier#setSeq(long)} with
 * {@code curSeq}, tears down its mappings of the range and unlocks.
 */
@FunctionalInterface
@API(status = STABLE, since = "0.1.0")
public interface MmuIntervalNotifierOps {

  /**
   * The intersecting part of the subscription is about to change, {@code ->invalidate}.
   *
   * @param subscription the interval subscription
   * @param range what changes
   * @param curSeq the sequence number to pass to {@link MmuIntervalNotifier#setSeq(long)}
   * @return true when done; false only if the range is not blockable and the callback would have to
   *     sleep, which makes the whole invalidation fail with {@code -EAGAIN}
   */
  boolean invalidate(MmuIntervalNotifier subscription, MmuNotifierRange range, long curSeq);
}
