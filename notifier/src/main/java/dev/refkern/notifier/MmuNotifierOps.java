package dev.refkern.notifier;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * The callbacks of a whole-address-space subscriber, {@code struct mmu_notifier_ops}.
 *
 * <p>Every method has a default that does what a NULL function pointer does in the kernel. The
 * identity of the ops object is what {@code mmu_notifier_get()} matches on.
 */
@API(status = STABLE, since = "0.1.0")
public interface MmuNotifierOps {

  /**
   * The address space is going away, or the subscription is unregistered, {@code ->release}.
   *
   * <p>Called exactly once per subscription, before the pages are freed; the driver must tear down
   * every secondary mapping and stop creating new ones.
   *
   * @param subscription this subscription
   * @param mm the address space
   */
  default void release(MmuNotifier subscription, Object mm) {}

  /**
   * The range is about to change, {@code ->invalidate_range_start}.
   *
   * <p>Until the matching {@link #invalidateRangeEnd} the driver must not establish new secondary
   * mappings in the range.
   *
   * @param subscription this subscription
   * @param range what changes; if it is not {@link MmuNotifierRange#blockable()} the callback must
   *     not sleep
   * @return {@code 0}, or {@code -EAGAIN} if the range is not blockable and the callback would have
   *     to sleep; a subscriber that can fail this way must cope with an end it may not see
   */
  default int invalidateRangeStart(MmuNotifier subscription, MmuNotifierRange range) {
    return 0;
  }

  /**
   * The range has changed, {@code ->invalidate_range_end}.
   *
   * @param subscription this subscription
   * @param range the range given to the start
   */
  default void invalidateRangeEnd(MmuNotifier subscription, MmuNotifierRange range) {}

  /**
   * Flush secondary TLBs for a range whose CPU TLB was just flushed, {@code
   * ->arch_invalidate_secondary_tlbs}; called under the page table lock, must not sleep.
   *
   * @param subscription this subscription
   * @param mm the address space
   * @param start first address
   * @param end first address past the range
   */
  default void archInvalidateSecondaryTlbs(
      MmuNotifier subscription, Object mm, long start, long end) {}

  /**
   * Test and clear the accessed bit in the secondary page tables and flush, {@code
   * ->clear_flush_young}.
   *
   * @param subscription this subscription
   * @param mm the address space
   * @param start first address
   * @param end first address past the range
   * @return whether any page in the range was young
   */
  default boolean clearFlushYoung(MmuNotifier subscription, Object mm, long start, long end) {
    return false;
  }

  /**
   * Test and clear the accessed bit without a flush, {@code ->clear_young}.
   *
   * @param subscription this subscription
   * @param mm the address space
   * @param start first address
   * @param end first address past the range
   * @return whether any page in the range was young
   */
  default boolean clearYoung(MmuNotifier subscription, Object mm, long start, long end) {
    return false;
  }

  /**
   * Test the accessed bit without clearing it, {@code ->test_young}.
   *
   * @param subscription this subscription
   * @param mm the address space
   * @param address the address
   * @return whether the page is young
   */
  default boolean testYoung(MmuNotifier subscription, Object mm, long address) {
    return false;
  }

  /**
   * The last {@link MmuNotifier#put()} dropped the subscription and no callback runs any more,
   * {@code ->free_notifier}.
   *
   * @param subscription the subscription, no longer registered
   */
  default void freeNotifier(MmuNotifier subscription) {}
}
