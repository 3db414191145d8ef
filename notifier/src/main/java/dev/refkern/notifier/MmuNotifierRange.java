package dev.refkern.notifier;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A range of an address space about to be invalidated, {@code struct mmu_notifier_range}.
 *
 * <p>Addresses are unsigned 64-bit values, as {@code unsigned long} is: {@code start} is inclusive,
 * {@code end} exclusive, and {@code end} may be {@code -1L} ({@code ULONG_MAX}), which is how
 * {@code __mmu_notifier_release} spells "everything". The kernel does not require page alignment
 * here, so neither does this class.
 *
 * @param mm the address space, an opaque owner object ({@code range->mm})
 * @param start first address of the range
 * @param end first address past the range
 * @param event why the range is invalidated
 * @param flags {@link #MMU_NOTIFIER_RANGE_BLOCKABLE} or {@code 0}
 * @param owner who started it ({@code range->owner}, set for {@link MmuNotifierEvent#MIGRATE} and
 *     {@link MmuNotifierEvent#EXCLUSIVE} so a driver can skip its own invalidations); may be null
 */
@API(status = STABLE, since = "0.1.0")
public record MmuNotifierRange(
    Object mm, long start, long end, MmuNotifierEvent event, int flags, Object owner) {

  /** {@code MMU_NOTIFIER_RANGE_BLOCKABLE}: the callbacks may sleep. */
  public static final int MMU_NOTIFIER_RANGE_BLOCKABLE = 1;

  /**
   * Checks the range; a bad one is refused with {@code EINVAL}.
   *
   * @throws NotifierException {@code EINVAL} if {@code mm} or {@code event} is null, {@code start
   *     >= end} (unsigned), or {@code flags} has an unknown bit
   */
  public MmuNotifierRange {
    if (mm == null) {
      throw new NotifierException(NotifierErrno.EINVAL, "range without an mm");
    }
    if (event == null) {
      throw new NotifierException(NotifierErrno.EINVAL, "range without an event");
    }
    if (Long.compareUnsigned(start, end) >= 0) {
      throw new NotifierException(
          NotifierErrno.EINVAL,
          "empty range [0x" + Long.toHexString(start) + ", 0x" + Long.toHexString(end) + ")");
    }
    if ((flags & ~MMU_NOTIFIER_RANGE_BLOCKABLE) != 0) {
      throw new NotifierException(NotifierErrno.EINVAL, "unknown range flags 0x" + flags);
    }
  }

  /**
   * Builds a range without an owner, {@code mmu_notifier_range_init()}.
   *
   * @param event why
   * @param flags {@link #MMU_NOTIFIER_RANGE_BLOCKABLE} or {@code 0}
   * @param mm the address space
   * @param start first address
   * @param end first address past the range
   * @return the range
   */
  public static MmuNotifierRange init(
      MmuNotifierEvent event, int flags, Object mm, long start, long end) {
    return new MmuNotifierRange(mm, start, end, event, flags, null);
  }

  /**
   * Builds a range with an owner, {@code mmu_notifier_range_init_owner()}.
   *
   * @param event why
   * @param flags {@link #MMU_NOTIFIER_RANGE_BLOCKABLE} or {@code 0}
   * @param mm the address space
   * @param start first address
   * @param end first address past the range
   * @param owner the driver that starts the invalidation
   * @return the range
   */
  public static MmuNotifierRange initOwner(
      MmuNotifierEvent event, int flags, Object mm, long start, long end, Object owner) {
    return new MmuNotifierRange(mm, start, end, event, flags, owner);
  }

  /**
   * Whether callbacks may sleep, {@code mmu_notifier_range_blockable()}.
   *
   * @return true if {@link #MMU_NOTIFIER_RANGE_BLOCKABLE} is set
   */
  public boolean blockable() {
    return (flags & MMU_NOTIFIER_RANGE_BLOCKABLE) != 0;
  }

  /**
   * The same range with other flags; {@code mmu_notifier_invalidate_range_start_nonblock()} is
   * {@code start(range.withFlags(0))}.
   *
   * @param newFlags the flags
   * @return a copy
   */
  public MmuNotifierRange withFlags(int newFlags) {
    return new MmuNotifierRange(mm, start, end, event, newFlags, owner);
  }

  /**
   * Whether the range meets the closed interval {@code [first, last]}, the way the kernel's
   * interval tree is queried with {@code [start, end - 1]}.
   *
   * @param first first address of the interval
   * @param last last address of the interval, inclusive
   * @return true if they share an address
   */
  public boolean intersects(long first, long last) {
    return Long.compareUnsigned(first, end - 1) <= 0 && Long.compareUnsigned(start, last) <= 0;
  }

  @Override
  public String toString() {
    return "MmuNotifierRange{"
        + event
        + " [0x"
        + Long.toHexString(start)
        + ", 0x"
        + Long.toHexString(end)
        + ")"
        + (blockable() ? " blockable" : " nonblock")
        + (owner != null ? " owner=" + owner : "")
        + "}";
  }
}
