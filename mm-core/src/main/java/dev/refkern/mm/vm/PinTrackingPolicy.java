package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Memmap;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.spi.Policy;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * How a page remembers that {@code pin_user_pages()} handed it to DMA: the design the seeds argue
 * about, chosen at boot with {@code gup.pin_tracking=} through {@link
 * dev.refkern.mm.PolicyRegistry}. GUP asks the policy to take and drop a pin, and fork and
 * migration ask it whether a folio may be pinned.
 *
 * <p>A policy is one class carrying {@link dev.refkern.mm.PolicySpec} with {@code param =
 * "gup.pin_tracking"} and a public constructor taking a {@link PinTrackingContext}; {@link
 * PageFlagPinTracking} is the shortest to copy.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public abstract class PinTrackingPolicy implements Policy {
  /** The kernel parameter choosing the policy. */
  public static final String PARAM = "gup.pin_tracking";

  /** The memmap the policy keeps its state in. */
  protected final Memmap memmap;

  /** The kernel services the policy may use. */
  protected final PinTrackingContext context;

  /** Binds the policy to a booted kernel's memmap and LRU. */
  protected PinTrackingPolicy(PinTrackingContext context) {
    this.context = context;
    this.memmap = context.memmap();
  }

  /**
   * Whether {@code gup_fast} may pin under this policy (it takes no locks and allocates nothing).
   */
  public abstract boolean fastPathAvailable();

  /**
   * {@code folio_maybe_dma_pinned()} as this policy can answer it.
   *
   * @throws dev.refkern.mm.KernelException {@code EINVAL} for a pfn outside the memmap
   */
  public final boolean maybeDmaPinned(long pfn) {
    memmap.checkPfn(pfn);
    return dmaPinned(pfn);
  }

  /** {@link #maybeDmaPinned} without the pfn check, for pfns from page tables. */
  protected abstract boolean dmaPinned(long pfn);

  /** Bytes this policy holds for the pins outstanding now (beyond the memmap). */
  public long overheadBytes() {
    return 0;
  }

  /**
   * Takes {@code refs} pins on the folio whose head is {@code head}, speculatively if {@code
   * speculative} (gup_fast: a free folio is refused). Returns false, changing nothing, for a free
   * folio or a refcount that would overflow. Must not allocate when {@link #fastPathAvailable}.
   */
  protected abstract boolean grab(long head, int refs, boolean speculative);

  /**
   * Drops {@code refs} pins; returns how many references the caller must still put, or -1 if the
   * folio shows no pin (a {@code BUG} for the caller).
   */
  protected abstract int release(long head, int refs);

  /** {@code overhead_bytes} and what {@link #addCounters} adds. */
  @Override
  public final PolicyStats stats() {
    Map<String, Long> c = new LinkedHashMap<>();
    c.put("overhead_bytes", overheadBytes());
    addCounters(c);
    return new PolicyStats(PARAM, name(), c);
  }

  /** Adds this policy's own counters to its {@link #stats}. */
  protected void addCounters(Map<String, Long> counters) {}
}
