package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code writeback.pinned=ignore}: mainline {@code write_cache_pages()} has no pinned-folio check,
 * so the folio is written and cleaned while DMA may still change it; a DMA write after that is lost
 * unless the driver's {@code unpin_user_pages_dirty_lock()} redirties it (the problem seed 000,
 * 2019-04, set out to fix).
 */
@PolicySpec(
    param = PinnedWritebackPolicy.PARAM,
    name = "ignore",
    mainline = true,
    proposal = "000_3af96859bc97389c.txt, 2019-04 (the problem it states); mainline")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class IgnorePinnedWriteback extends PinnedWritebackPolicy {
  /** Binds the policy to a booted kernel. */
  public IgnorePinnedWriteback(PinnedPageCacheContext context) {
    super(context);
  }

  @Override
  protected Action decide(AddressSpace mapping, long head, WbSyncMode mode) {
    return Action.WRITE;
  }
}
