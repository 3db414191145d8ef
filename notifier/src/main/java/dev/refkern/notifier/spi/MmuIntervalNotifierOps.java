package dev.refkern.notifier.spi;

import dev.refkern.notifier.MmuIntervalNotifier;
import dev.refkern.notifier.MmuNotifierRange;

/**
 * The callback of an interval subscriber, {@code struct mmu_interval_notifier_ops}.
 *
 * <p>Called for every invalidation that intersects the subscribed interval. A typical driver takes
 * its own lock (the kernel's "user_lock"), calls {@link MmuIntervalNotifier#setSeq(long)} with
 * {@code curSeq}, tears down its mappings of the range and unlocks.
 */
@FunctionalInterface
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
