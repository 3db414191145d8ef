package dev.refkern.mm.vm;

import static dev.refkern.mm.PageFlags.PG_DMA_PINNED;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code gup.pin_tracking=page_flag}: {@code PG_dma_pinned} set on pin and cleared on unpin, with
 * an ordinary reference for each pin (seed 002, John Hubbard, June 2018). One bit cannot count:
 * when one of two pins is released the flag goes, and the page looks unpinned while DMA still runs
 * into it.
 */
@PolicySpec(
    param = PinTrackingPolicy.PARAM,
    name = "page_flag",
    mainline = false,
    proposal = "002_997caa3756ff82e7.txt, 2018-06")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PageFlagPinTracking extends PinTrackingPolicy {
  /** Binds the policy to a booted kernel. */
  public PageFlagPinTracking(PinTrackingContext context) {
    super(context);
  }

  @Override
  public boolean fastPathAvailable() {
    return true;
  }

  @Override
  protected boolean dmaPinned(long pfn) {
    return memmap.testFlag(memmap.compoundHead(pfn), PG_DMA_PINNED);
  }

  @Override
  protected boolean grab(long head, int refs, boolean speculative) {
    if (!context.refTryAdd(head, refs)) {
      return false;
    }
    context.setFlag(head, PG_DMA_PINNED);
    return true;
  }

  @Override
  protected int release(long head, int refs) {
    // the flag says nothing about how many pins remain: clearing it loses the others
    context.clearFlag(head, PG_DMA_PINNED);
    return refs;
  }
}
