package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * The memmap, read-only: one {@code struct page} per frame, reached by pfn in O(1) ({@code
 * pfn_to_page()}), as {@code /proc/kpageflags} and {@code page-types} see it: flags, refcount,
 * mapcount, pincount, mapping, index, compound and LRU fields.
 *
 * <p>Every accessor takes a pfn. These are the hot-path primitives: they allocate nothing and never
 * query the persistent map. They do not validate the pfn (the kernel's {@code pfn_to_page()} does
 * not either). The memmap {@link PhysicalMemory#memmap()} hands out checks every pfn with {@link
 * #checkPfn} (one unsigned compare). Only mm-core changes a descriptor, through the kernel's own
 * operations (GUP, the allocator, the page cache, {@link FolioOps}); the atomic updates of {@code
 * page_ref.h} and {@code page-flags.h} are internal to it.
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

  /** {@code page_ref_count()}. */
  int refcount(long pfn);

  /** Number of page-table mappings ({@code page_mapcount()}). */
  int mapcount(long pfn);

  /** {@code _pincount} of a large folio head. */
  int pincount(long pfn);

  /** The owning {@code address_space}'s id; 0 for none. */
  long mapping(long pfn);

  /** {@code page->index}. */
  long index(long pfn);

  /** {@code page->private}. */
  long privateData(long pfn);

  /** Head: the folio order; tail: pfn minus head pfn; 0 for a small page. */
  int compound(long pfn);

  /** {@code compound_head()}: the head pfn of the folio containing {@code pfn}. */
  long compoundHead(long pfn);

  /** {@code folio_order()} of the folio whose head is {@code head}. */
  int folioOrder(long head);

  /** Previous pfn on the page's list (LRU or free list), or -1. */
  long lruPrev(long pfn);

  long lruNext(long pfn);

  /** Which list a page is on (an {@code enum lru_list} ordinal plus one; 0 for none). */
  int lruState(long pfn);

  /** The {@code dev_pagemap} id of a {@code ZONE_DEVICE} frame ({@code page->pgmap}); 0 if none. */
  int pgmap(long pfn);

  /**
   * {@code folio->_entire_mapcount}: PMD mappings of the large folio whose head is {@code head}.
   * Kept, as in the kernel, in a field of the first tail page.
   */
  int entireMapcount(long head);
}
