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
 * Data-integrity writeback ({@code WB_SYNC_ALL}: {@code fsync}, {@code sync}) must write it: it
 * writes a bounce copy, as the RFC does, and the folio stays dirty while pinned ({@code
 * folios_bounced}).
 */
@PolicySpec(
    param = PinnedWritebackPolicy.PARAM,
    name = "skip",
    mainline = false,
    proposal =
        "Jan Kara RFC, 2023-02 (no seed file): skip for WB_SYNC_NONE, bounce for WB_SYNC_ALL")
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
      return Action.BOUNCE; // integrity: fsync must not wait for the pin nor write moving data
    }
    skipped.incrementAndGet();
    return Action.SKIP;
  }

  @Override
  protected void addCounters(Map<String, Long> counters) {
    counters.put("skipped", skipped.get());
  }
}
