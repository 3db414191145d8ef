package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicySpec;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * {@code writeback.pinned=skip}: background writeback ({@code WB_SYNC_NONE}) skips a pinned folio
 * and keeps it dirty, so it is written once the pin is gone (Jan Kara's RFC, February 2023).
 * Data-integrity writeback ({@code WB_SYNC_ALL}: {@code fsync}) must write it: the RFC bounces it;
 * refkern has no bounce yet, so it writes it as {@code ignore} does.
 */
@PolicySpec(
    param = PinnedWritebackPolicy.PARAM,
    name = "skip",
    mainline = false,
    proposal = "Jan Kara RFC, 2023-02 (no seed file); bounce for WB_SYNC_ALL not modelled")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class SkipPinnedWriteback extends PinnedWritebackPolicy {
  private final AtomicLong skipped = new AtomicLong();

  /** Binds the policy to a booted kernel. */
  public SkipPinnedWriteback(PinnedPageCacheContext context) {
    super(context);
  }

  @Override
  protected Action decide(AddressSpace mapping, long head, WbSyncMode mode) {
    if (mode == WbSyncMode.ALL) {
      return Action.WRITE; // integrity: the RFC's bounce, written in place here
    }
    skipped.incrementAndGet();
    return Action.SKIP;
  }

  @Override
  protected void addCounters(Map<String, Long> counters) {
    counters.put("skipped", skipped.get());
  }
}
