package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.spi.Policy;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * A {@code writeback.pinned=} policy: what {@code write_cache_pages()} ({@code
 * mm/page-writeback.c}) does with a dirty folio that {@code folio_maybe_dma_pinned()}. One class
 * per policy, carrying {@link dev.refkern.mm.PolicySpec} with {@code param = "writeback.pinned"}
 * and a public constructor taking a {@link PinnedPageCacheContext}; {@link IgnorePinnedWriteback}
 * is the shortest to copy.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public abstract class PinnedWritebackPolicy implements PinnedWritebackDecision, Policy {
  /** The kernel parameter choosing the policy. */
  public static final String PARAM = "writeback.pinned";

  /** The kernel services the policy may use. */
  protected final PinnedPageCacheContext context;

  private final AtomicLong asked = new AtomicLong();
  private final AtomicLong written = new AtomicLong();
  private final AtomicLong foliosBounced = new AtomicLong();
  private final AtomicLong bytesBounced = new AtomicLong();

  /** Binds the policy to a booted kernel. */
  protected PinnedWritebackPolicy(PinnedPageCacheContext context) {
    this.context = context;
  }

  @Override
  public final Action pinnedFolio(dev.refkern.mm.AddressSpace mapping, long head, WbSyncMode mode) {
    asked.incrementAndGet();
    Action a = decide(mapping, head, mode);
    if (a == Action.WRITE || a == Action.BOUNCE) {
      written.incrementAndGet(); // its data goes to disk in this pass, as it is or as a copy
    }
    return a;
  }

  @Override
  public final void bounced(dev.refkern.mm.AddressSpace mapping, long head, int bytes) {
    foliosBounced.incrementAndGet();
    bytesBounced.addAndGet(bytes);
  }

  /** The policy's answer; must not allocate. */
  protected abstract Action decide(dev.refkern.mm.AddressSpace mapping, long head, WbSyncMode mode);

  /**
   * {@code pinned_folios} asked about, {@code pinned_written} (written in place or bounced), {@code
   * folios_bounced} and {@code bytes_bounced} (copies written), and what {@link #addCounters} adds.
   */
  @Override
  public final PolicyStats stats() {
    Map<String, Long> c = new LinkedHashMap<>();
    c.put("pinned_folios", asked.get());
    c.put("pinned_written", written.get());
    c.put("folios_bounced", foliosBounced.get());
    c.put("bytes_bounced", bytesBounced.get());
    addCounters(c);
    return new PolicyStats(PARAM, name(), c);
  }

  /** Adds this policy's own counters to its {@link #stats}. */
  protected void addCounters(Map<String, Long> counters) {}
}
