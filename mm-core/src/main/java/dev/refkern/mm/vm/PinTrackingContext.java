package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.LruVec;
import dev.refkern.mm.Memmap;
import org.apiguardian.api.API;

/**
 * What a {@code gup.pin_tracking=} policy may touch of the kernel: the memmap (the {@code struct
 * page} array) and the LRU's pin isolation. Given to a policy at construction, so a policy from
 * another module needs no other internals.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PinTrackingContext {
  private final Memmap memmap;
  private final LruVec lru;

  PinTrackingContext(Memmap memmap, LruVec lru) {
    this.memmap = memmap;
    this.lru = lru;
  }

  /** The memmap the policy keeps its state in. */
  public Memmap memmap() {
    return memmap;
  }

  /** Whether the folio at {@code head} is off the LRU because it is pinned. */
  public boolean lruPinIsolated(long head) {
    return lru.pinIsolated(head);
  }

  /**
   * Takes the folio at {@code head} off the LRU for {@code refs} pins (or counts them if it is
   * already off); false, changing nothing, if that cannot be done now ({@code speculative}: a folio
   * still in a per-CPU batch).
   */
  public boolean lruPinIsolate(long head, int refs, boolean speculative) {
    return lru.pinIsolate(head, refs, speculative);
  }

  /** Drops {@code refs} pin-isolation counts; false if the folio shows fewer. */
  public boolean lruPinRelease(long head, int refs) {
    return lru.pinRelease(head, refs);
  }
}
