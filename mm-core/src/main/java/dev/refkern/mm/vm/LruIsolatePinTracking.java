package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code gup.pin_tracking=lru_isolate}: a pinned folio is taken off the LRU and kept off it, its
 * pin count kept in the list links it no longer uses (seed 002: Matthew Wilcox's idea, John
 * Hubbard's analysis of the {@code SetPageLRU()} call sites, June 2018). Reclaim and compaction
 * never see it. Every path that puts a folio on the LRU must check for it; a first pin of a folio
 * still in a per-CPU batch needs {@code lru_add_drain_all()}, so {@code gup_fast} falls back for
 * it.
 */
@PolicySpec(
    param = PinTrackingPolicy.PARAM,
    name = "lru_isolate",
    mainline = false,
    proposal = "002_997caa3756ff82e7.txt, 2018-06")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LruIsolatePinTracking extends PinTrackingPolicy {
  /** Binds the policy to a booted kernel. */
  public LruIsolatePinTracking(PinTrackingContext context) {
    super(context);
  }

  @Override
  public boolean fastPathAvailable() {
    return true;
  }

  @Override
  protected boolean dmaPinned(long pfn) {
    return context.lruPinIsolated(memmap.compoundHead(pfn));
  }

  @Override
  protected boolean grab(long head, int refs, boolean speculative) {
    if (!context.refTryAdd(head, refs)) {
      return false;
    }
    if (!context.lruPinIsolate(head, refs, speculative)) {
      context.refAdd(head, -refs); // cannot be the last: the caller's mapping holds one
      return false;
    }
    return true;
  }

  @Override
  protected int release(long head, int refs) {
    return context.lruPinRelease(head, refs) ? refs : -1;
  }
}
