package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicySpec;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * {@code writeback.pinned=wait}: stable pages for pins. Writeback of a pinned folio waits, with no
 * time bound, until the last pin is dropped, then writes what the device left (the stable-page
 * option a filesystem may choose; no seed names it). Data never changes under the write, but a
 * long-term pin stalls writeback and {@code fsync} for as long as it is held: {@code waits} counts
 * the stalls, {@code waiting} the writers stalled now.
 *
 * <p>It waits holding the folio lock, as {@code folio_wait_stable()} does: the folio is dirty, so
 * {@code unpin_user_pages_dirty_lock()} does not need the lock to release its pin.
 */
@PolicySpec(
    param = PinnedWritebackPolicy.PARAM,
    name = "wait",
    mainline = false,
    proposal = "stable pages (folio_wait_stable) for pins (no seed file)")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class WaitPinnedWriteback extends PinnedWritebackPolicy {
  private final AtomicLong waits = new AtomicLong();
  private final AtomicLong waiting = new AtomicLong();

  /** Binds the policy to a booted kernel. */
  public WaitPinnedWriteback(PinnedPageCacheContext context) {
    super(context);
  }

  @Override
  protected Action decide(AddressSpace mapping, long head, WbSyncMode mode) {
    waits.incrementAndGet();
    waiting.incrementAndGet();
    try {
      context.pinWait().awaitUnpinned(head, context.maybeDmaPinned());
    } finally {
      waiting.decrementAndGet();
    }
    return Action.WRITE;
  }

  @Override
  protected void addCounters(Map<String, Long> counters) {
    counters.put("waits", waits.get());
    counters.put("waiting", waiting.get());
  }
}
