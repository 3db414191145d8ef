package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * Allocation flags ({@code gfp_t}, {@code include/linux/gfp_types.h}): the subset refkern models.
 */
@API(status = STABLE, since = "0.1.0")
public final class Gfp {
  /** {@code __GFP_HIGH}: may dip into half of the min watermark reserve. */
  public static final int HIGH = 1;

  /** {@code __GFP_MOVABLE}: may be placed in {@code ZONE_MOVABLE}. */
  public static final int MOVABLE = 1 << 1;

  /** {@code __GFP_ZERO}: return zeroed memory. */
  public static final int ZERO = 1 << 2;

  /** {@code __GFP_COMP}: make a compound page (large folio) for order &gt; 0. */
  public static final int COMP = 1 << 3;

  /** {@code __GFP_NOWARN}: do not report an allocation failure. */
  public static final int NOWARN = 1 << 4;

  /** {@code __GFP_DIRECT_RECLAIM}: the caller may sleep to reclaim (reclaim arrives later). */
  public static final int DIRECT_RECLAIM = 1 << 5;

  /** {@code GFP_KERNEL}. */
  public static final int KERNEL = DIRECT_RECLAIM;

  /** {@code GFP_ATOMIC}: may not sleep, may use reserves. */
  public static final int ATOMIC = HIGH;

  /** {@code GFP_HIGHUSER_MOVABLE}: user pages. */
  public static final int HIGHUSER_MOVABLE = KERNEL | MOVABLE;

  private static final int ALL = HIGH | MOVABLE | ZERO | COMP | NOWARN | DIRECT_RECLAIM;

  private Gfp() {}

  /** True when {@code gfp} holds only flags this model knows. */
  public static boolean valid(int gfp) {
    return (gfp & ~ALL) == 0;
  }
}
