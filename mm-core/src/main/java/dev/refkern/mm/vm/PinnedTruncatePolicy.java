package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.spi.Policy;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * A {@code truncate.pinned=} policy: what {@code truncate_inode_pages_range()} ({@code
 * mm/truncate.c}) does with a folio that {@code folio_maybe_dma_pinned()}. One class per policy,
 * carrying {@link dev.refkern.mm.PolicySpec} with {@code param = "truncate.pinned"} and a public
 * constructor taking a {@link PinnedPageCacheContext}; {@link OrphanPinnedTruncate} is the shortest
 * to copy.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public abstract class PinnedTruncatePolicy implements PinnedTruncateDecision, Policy {
  /** The kernel parameter choosing the policy. */
  public static final String PARAM = "truncate.pinned";

  /** The kernel services the policy may use. */
  protected final PinnedPageCacheContext context;

  private final AtomicLong orphaned = new AtomicLong();

  /** Binds the policy to a booted kernel. */
  protected PinnedTruncatePolicy(PinnedPageCacheContext context) {
    this.context = context;
  }

  @Override
  public final Action pinnedFolio(AddressSpace mapping, long head) {
    Action a = decide(mapping, head);
    if (a == Action.REMOVE) {
      orphaned.incrementAndGet(); // out of the cache, alive for its pin
    }
    return a;
  }

  /** The policy's answer; must not allocate. */
  protected abstract Action decide(AddressSpace mapping, long head);

  /** {@code orphaned} folios, and what {@link #addCounters} adds. */
  @Override
  public final PolicyStats stats() {
    Map<String, Long> c = new LinkedHashMap<>();
    c.put("orphaned", orphaned.get());
    addCounters(c);
    return new PolicyStats(PARAM, name(), c);
  }

  /** Adds this policy's own counters to its {@link #stats}. */
  protected void addCounters(Map<String, Long> counters) {}
}
