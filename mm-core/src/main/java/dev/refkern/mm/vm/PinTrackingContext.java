package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.LruVec;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.internal.pageops.MemmapOps;
import org.apiguardian.api.API;

/**
 * What a {@code gup.pin_tracking=} policy may touch of the kernel: the memmap (the {@code struct
 * page} array: read-only, plus the few atomic updates a pin design makes) and the LRU's pin
 * isolation. Given to a policy at construction, so a policy from another module needs no other
 * internals. The pfns are the policy's folio heads, from page tables: unchecked.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PinTrackingContext {
  private final MemmapOps memmap;
  private final LruVec lru;

  PinTrackingContext(MemmapOps memmap, LruVec lru) {
    this.memmap = memmap;
    this.lru = lru;
  }

  /** The memmap the policy keeps its state in, read-only. */
  public Memmap memmap() {
    return memmap;
  }

  /**
   * {@code folio_ref_try_add()}: adds {@code delta} to the refcount unless it is zero (being freed)
   * or would overflow; returns whether it added.
   */
  public boolean refTryAdd(long head, int delta) {
    return memmap.refTryAdd(head, delta);
  }

  /** {@code folio_ref_add()} / {@code folio_ref_sub()}: returns the new refcount. */
  public int refAdd(long head, int delta) {
    return memmap.refAdd(head, delta);
  }

  /** {@code atomic_add()} on a large folio's {@code _pincount}: returns the new count. */
  public int pincountAdd(long head, int delta) {
    return memmap.pincountAdd(head, delta);
  }

  /** {@code atomic_add()} on {@code _mapcount}: returns the new count. */
  public int mapcountAdd(long pfn, int delta) {
    return memmap.mapcountAdd(pfn, delta);
  }

  /** {@code set_bit()} of a page flag (e.g. {@code PG_dma_pinned}). */
  public void setFlag(long pfn, int flag) {
    memmap.setFlag(pfn, flag);
  }

  /** {@code clear_bit()} of a page flag. */
  public void clearFlag(long pfn, int flag) {
    memmap.clearFlag(pfn, flag);
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
