package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code gup.pin_tracking=bias}: mainline's {@code GUP_PIN_COUNTING_BIAS} ({@code mm/gup.c}). A pin
 * adds 1024 to a small folio's refcount, or 1 to the refcount and 1 to the exact {@code _pincount}
 * of a large one. False positives (1024 plain references), never false negatives.
 */
@PolicySpec(
    param = PinTrackingPolicy.PARAM,
    name = "bias",
    mainline = true,
    proposal = "mainline GUP_PIN_COUNTING_BIAS (John Hubbard), v5.7, 2020-04")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class BiasPinTracking extends PinTrackingPolicy {
  /** Binds the policy to a booted kernel. */
  public BiasPinTracking(PinTrackingContext context) {
    super(context);
  }

  @Override
  public boolean fastPathAvailable() {
    return true;
  }

  @Override
  protected boolean dmaPinned(long pfn) {
    long head = memmap.compoundHead(pfn);
    if (memmap.folioOrder(head) > 0) {
      return memmap.pincount(head) > 0;
    }
    return memmap.refcount(head) >= Foll.GUP_PIN_COUNTING_BIAS;
  }

  @Override
  protected boolean grab(long head, int refs, boolean speculative) {
    boolean large = memmap.folioOrder(head) > 0;
    if (!context.refTryAdd(head, large ? refs : refs * Foll.GUP_PIN_COUNTING_BIAS)) {
      return false;
    }
    if (large) {
      context.pincountAdd(head, refs);
    }
    return true;
  }

  @Override
  protected int release(long head, int refs) {
    if (memmap.folioOrder(head) > 0) {
      if (memmap.pincount(head) < refs) {
        return -1;
      }
      context.pincountAdd(head, -refs);
      return refs;
    }
    return memmap.refcount(head) < Foll.GUP_PIN_COUNTING_BIAS * refs
        ? -1
        : refs * Foll.GUP_PIN_COUNTING_BIAS;
  }
}
