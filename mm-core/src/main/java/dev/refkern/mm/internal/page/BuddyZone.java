package dev.refkern.mm.internal.page;

import static dev.refkern.mm.PageAllocator.MAX_ORDER;

import dev.refkern.mm.PageFlags;
import dev.refkern.mm.ZoneInfo;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.internal.pageops.MemmapOps;

/**
 * One zone's free areas ({@code struct zone::free_area[]}): doubly linked free lists threaded
 * through the memmap's list links, a free block's order in {@code page->private} and {@code
 * PG_buddy} on its head, as {@code mm/page_alloc.c} keeps them. Callers hold {@link #lock}.
 */
final class BuddyZone {
  final ZoneType type;
  final long startPfn;
  final long endPfn;
  final Object lock = new Object();
  private final MemmapOps memmap;
  private final long[] head = new long[MAX_ORDER + 1];
  private final long[] nrFree = new long[MAX_ORDER + 1];
  private volatile long freePages;
  long wmarkMin;
  long wmarkLow;
  long wmarkHigh;

  BuddyZone(ZoneType type, long startPfn, long endPfn, MemmapOps memmap) {
    this.type = type;
    this.startPfn = startPfn;
    this.endPfn = endPfn;
    this.memmap = memmap;
    java.util.Arrays.fill(head, -1);
  }

  long managedPages() {
    return endPfn - startPfn;
  }

  long freePages() {
    return freePages;
  }

  boolean contains(long pfn) {
    return pfn >= startPfn && pfn < endPfn;
  }

  /** {@code __add_to_free_list()} plus {@code set_buddy_order()}. */
  void addToFreeList(long pfn, int order) {
    memmap.setPrivateData(pfn, order);
    memmap.setFlag(pfn, PageFlags.PG_BUDDY);
    long first = head[order];
    memmap.setLruPrev(pfn, -1);
    memmap.setLruNext(pfn, first);
    if (first >= 0) {
      memmap.setLruPrev(first, pfn);
    }
    head[order] = pfn;
    nrFree[order]++;
    freePages += 1L << order;
  }

  /** {@code del_page_from_free_list()}. */
  void delFromFreeList(long pfn, int order) {
    long prev = memmap.lruPrev(pfn);
    long next = memmap.lruNext(pfn);
    if (prev >= 0) {
      memmap.setLruNext(prev, next);
    } else {
      head[order] = next;
    }
    if (next >= 0) {
      memmap.setLruPrev(next, prev);
    }
    memmap.setLruPrev(pfn, -1);
    memmap.setLruNext(pfn, -1);
    memmap.clearFlag(pfn, PageFlags.PG_BUDDY);
    memmap.setPrivateData(pfn, 0);
    nrFree[order]--;
    freePages -= 1L << order;
  }

  /** {@code __rmqueue_smallest()} with {@code expand()}: returns a block or -1. */
  long rmqueue(int order) {
    for (int o = order; o <= MAX_ORDER; o++) {
      long pfn = head[o];
      if (pfn < 0) {
        continue;
      }
      delFromFreeList(pfn, o);
      // expand(): give the upper halves back
      for (int cur = o; cur > order; cur--) {
        int half = cur - 1;
        addToFreeList(pfn + (1L << half), half);
      }
      return pfn;
    }
    return -1;
  }

  /** {@code __free_one_page()}: merges with free buddies and queues the result. */
  void freeOne(long pfn, int order) {
    while (order < MAX_ORDER) {
      long buddy = pfn ^ (1L << order);
      if (!contains(buddy)
          || !memmap.testFlag(buddy, PageFlags.PG_BUDDY)
          || memmap.privateData(buddy) != order) {
        break;
      }
      delFromFreeList(buddy, order);
      pfn = Math.min(pfn, buddy);
      order++;
    }
    addToFreeList(pfn, order);
  }

  /** {@code __zone_watermark_ok()} (without lowmem_reserve, which refkern does not model). */
  boolean watermarkOk(int order, long mark, boolean high) {
    long min = mark;
    if (high) {
      min -= min / 2;
    }
    long free = freePages - ((1L << order) - 1);
    if (free <= min) {
      return false;
    }
    if (order == 0) {
      return true;
    }
    for (int o = order; o <= MAX_ORDER; o++) {
      if (nrFree[o] > 0) {
        return true;
      }
    }
    return false;
  }

  /** Walks the free list of {@code order}; for the invariant checker. */
  long[] freeList(int order) {
    long[] out = new long[(int) nrFree[order]];
    long pfn = head[order];
    int i = 0;
    while (pfn >= 0 && i < out.length) {
      out[i++] = pfn;
      pfn = memmap.lruNext(pfn);
    }
    if (pfn >= 0 || i != out.length) {
      return null; // list and count disagree
    }
    return out;
  }

  long nrFree(int order) {
    return nrFree[order];
  }

  ZoneInfo info() {
    synchronized (lock) {
      return new ZoneInfo(
          type,
          startPfn,
          endPfn - startPfn,
          endPfn - startPfn,
          managedPages(),
          freePages,
          wmarkMin,
          wmarkLow,
          wmarkHigh,
          nrFree.clone());
    }
  }
}
