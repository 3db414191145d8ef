package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicySpec;
import dev.refkern.notifier.MmuNotifierEvent;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * {@code truncate.pinned=revoke}: truncate unmaps a pinned folio with {@code MMU_NOTIFY_TRUNCATE}
 * instead of {@code CLEAR} to every address space mapping it, so a GUP user that registered an mmu
 * notifier knows the pages are revoked, not just unmapped, and can redirect its DMA and unpin
 * (Jerome Glisse, seed 001, December 2018). The folio then leaves the cache as in mainline.
 */
@PolicySpec(
    param = PinnedTruncatePolicy.PARAM,
    name = "revoke",
    mainline = false,
    proposal = "001_c473afd3af432c8a.txt, 2018-12")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class RevokePinnedTruncate extends PinnedTruncatePolicy {
  private final AtomicLong revoked = new AtomicLong();

  /** Binds the policy to a booted kernel. */
  public RevokePinnedTruncate(PinnedPageCacheContext context) {
    super(context);
  }

  @Override
  public MmuNotifierEvent unmapEvent(AddressSpace mapping, long head) {
    revoked.incrementAndGet();
    return MmuNotifierEvent.TRUNCATE;
  }

  @Override
  protected Action decide(AddressSpace mapping, long head) {
    return Action.REMOVE;
  }

  @Override
  protected void addCounters(Map<String, Long> counters) {
    counters.put("revoked", revoked.get());
  }
}
