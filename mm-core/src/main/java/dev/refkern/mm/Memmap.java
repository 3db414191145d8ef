package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * The memmap: one {@code struct page} per frame, reached by pfn in O(1) ({@code pfn_to_page()}),
 * with the atomic operations of {@code include/linux/page_ref.h} and {@code page-flags.h}.
 *
 * <p>Every accessor takes a pfn. These are the hot-path primitives: they allocate nothing and never
 * query the persistent map. They do not validate the pfn (the kernel's {@code pfn_to_page()} does
 * not either). The memmap {@link PhysicalMemory#memmap()} hands out checks every pfn with {@link
 * #checkPfn} (one unsigned compare); mm-core's own paths, whose pfns come from page tables and
 * folios, use the unchecked one.
 */
@API(status = STABLE, since = "0.1.0")
public interface Memmap {
  /** Frames described: RAM followed by the {@code ZONE_DEVICE} range. */
  long nrPfns();

  /** {@code pfn_valid()}: the frame has a descriptor. */
  boolean pfnValid(long pfn);

  /**
   * The check at every public entry that takes a pfn: one unsigned compare against {@link
   * #nrPfns()}.
   *
   * @throws KernelException {@code EINVAL} naming the pfn and the valid range
   */
  default void checkPfn(long pfn) {
    if (Long.compareUnsigned(pfn, nrPfns()) >= 0) {
      throw badPfn(pfn, nrPfns());
    }
  }

  /** The {@code EINVAL} for a pfn outside {@code [0, nrPfns)}. */
  static KernelException badPfn(long pfn, long nrPfns) {
    return new KernelException(
        Errno.EINVAL, "pfn " + pfn + " outside the valid range [0, " + nrPfns + ")");
  }

  /** The zone a frame belongs to ({@code page_zonenum()}). */
  ZoneType zone(long pfn);

  long flags(long pfn);

  boolean testFlag(long pfn, int flag);

  /** Atomically sets a flag ({@code set_bit}). */
  void setFlag(long pfn, int flag);

  /** Atomically clears a flag ({@code clear_bit}). */
  void clearFlag(long pfn, int flag);

  /** {@code test_and_set_bit}: returns the old value. */
  boolean testAndSetFlag(long pfn, int flag);

  /** {@code test_and_clear_bit}: returns the old value. */
  boolean testAndClearFlag(long pfn, int flag);

  /** {@code page_ref_count()}. */
  int refcount(long pfn);

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

  /** Number of page-table mappings ({@code page_mapcount()}). */
  int mapcount(long pfn);

  int mapcountAdd(long pfn, int delta);

  /** {@code _pincount} of a large folio head. */
  int pincount(long pfn);

  int pincountAdd(long pfn, int delta);

  /** The owning {@code address_space}'s id; 0 for none. */
  long mapping(long pfn);

  void setMapping(long pfn, long mapping);

  /** {@code page->index}. */
  long index(long pfn);

  void setIndex(long pfn, long index);

  /** {@code page->private}. */
  long privateData(long pfn);

  void setPrivateData(long pfn, long value);

  /** Head: the folio order; tail: pfn minus head pfn; 0 for a small page. */
  int compound(long pfn);

  void setCompound(long pfn, int value);

  /** {@code compound_head()}: the head pfn of the folio containing {@code pfn}. */
  long compoundHead(long pfn);

  /** {@code folio_order()} of the folio whose head is {@code head}. */
  int folioOrder(long head);

  /** Previous pfn on the page's list (LRU or free list), or -1. */
  long lruPrev(long pfn);

  long lruNext(long pfn);

  void setLruPrev(long pfn, long prev);

  void setLruNext(long pfn, long next);

  /** Which list a page is on (an {@code enum lru_list} ordinal plus one; 0 for none). */
  int lruState(long pfn);

  void setLruState(long pfn, int state);

  /** The {@code dev_pagemap} id of a {@code ZONE_DEVICE} frame ({@code page->pgmap}); 0 if none. */
  int pgmap(long pfn);

  void setPgmap(long pfn, int id);

  /**
   * {@code folio->_entire_mapcount}: PMD mappings of the large folio whose head is {@code head}.
   * Kept, as in the kernel, in a field of the first tail page.
   */
  int entireMapcount(long head);

  int entireMapcountAdd(long head, int delta);

  /** Zeroes a descriptor (a frame's {@code struct page} reinitialised). */
  void clearDescriptor(long pfn);
}
