package dev.refkern.mm.internal.pageops;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.Memmap;
import org.apiguardian.api.API;

/**
 * The memmap's {@code struct page} with its writers: the atomic operations of {@code
 * include/linux/page_ref.h} and {@code page-flags.h} and the stores to a descriptor's fields. Only
 * mm-core's own code updates descriptors; the public {@link Memmap} is the read-only view.
 */
@API(status = INTERNAL, since = "0.1.0")
public interface MemmapOps extends Memmap {
  /** Atomically sets a flag ({@code set_bit}). */
  void setFlag(long pfn, int flag);

  /** Atomically clears a flag ({@code clear_bit}). */
  void clearFlag(long pfn, int flag);

  /** {@code test_and_set_bit}: returns the old value. */
  boolean testAndSetFlag(long pfn, int flag);

  /** {@code test_and_clear_bit}: returns the old value. */
  boolean testAndClearFlag(long pfn, int flag);

  /** {@code page_ref_add_return()}: atomically adds and returns the new count. */
  int refAdd(long pfn, int delta);

  /** {@code atomic_cmpxchg} on {@code _refcount}. */
  boolean refCompareAndSet(long pfn, int expect, int update);

  /**
   * {@code folio_ref_try_add()}: adds {@code delta} unless the count is zero (the folio is being
   * freed) or the add would overflow; returns whether it added.
   */
  default boolean refTryAdd(long pfn, int delta) {
    while (true) {
      int c = refcount(pfn);
      if (c <= 0 || c > Integer.MAX_VALUE - delta) {
        return false;
      }
      if (refCompareAndSet(pfn, c, c + delta)) {
        return true;
      }
    }
  }

  /** Sets {@code _refcount} ({@code set_page_count()}). */
  void setRefcount(long pfn, int value);

  int mapcountAdd(long pfn, int delta);

  int pincountAdd(long pfn, int delta);

  void setMapping(long pfn, long mapping);

  void setIndex(long pfn, long index);

  void setPrivateData(long pfn, long value);

  void setCompound(long pfn, int value);

  void setLruPrev(long pfn, long prev);

  void setLruNext(long pfn, long next);

  void setLruState(long pfn, int state);

  void setPgmap(long pfn, int id);

  int entireMapcountAdd(long head, int delta);

  /** Zeroes a descriptor (a frame's {@code struct page} reinitialised). */
  void clearDescriptor(long pfn);
}
