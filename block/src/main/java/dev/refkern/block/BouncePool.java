package dev.refkern.block;

import dev.refkern.mm.Gfp;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;

/**
 * The pages bounced writes are copied into ({@code page_pool} of {@code block/bounce.c}, a mempool
 * over the page allocator). Pages come from the machine's allocator without direct reclaim ({@code
 * GFP_NOIO}: reclaim could write through this very device) and are kept for reuse, up to {@link
 * #MAX_CACHED}, so a steady stream of bounced writes does not hit the buddy allocator per page.
 * Taking and returning a bio's pages is one lock round trip per bio.
 *
 * <p>Deviation: the kernel's {@code mempool_alloc()} sleeps until an element is freed when the
 * allocator fails; here {@link #take} reports failure and the bio fails with {@code -ENOMEM}.
 */
final class BouncePool {
  /** Pages kept for reuse, like the kernel's {@code POOL_SIZE} reserve (which is 64). */
  static final int MAX_CACHED = 1024;

  private final PageAllocator allocator;
  private final long[] free = new long[MAX_CACHED];
  private int nrFree;
  private long allocated;

  BouncePool(PhysicalMemory mem) {
    this.allocator = mem.allocator();
  }

  /** Fills {@code out[0..n)} with bounce pages; false (nothing taken) if memory ran out. */
  boolean take(long[] out, int n) {
    int got;
    synchronized (this) {
      got = Math.min(n, nrFree);
      nrFree -= got;
      System.arraycopy(free, nrFree, out, 0, got);
    }
    for (int i = got; i < n; i++) {
      long pfn = allocator.allocPages(Gfp.NOWARN, 0);
      if (pfn == PageAllocator.NO_PFN) {
        give(out, i);
        return false;
      }
      out[i] = pfn;
      synchronized (this) {
        allocated++;
      }
    }
    return true;
  }

  /** Returns {@code pfns[0..n)}: kept for reuse while there is room, else freed. */
  void give(long[] pfns, int n) {
    int kept;
    synchronized (this) {
      kept = Math.min(n, MAX_CACHED - nrFree);
      System.arraycopy(pfns, 0, free, nrFree, kept);
      nrFree += kept;
      allocated -= n - kept;
    }
    for (int i = kept; i < n; i++) {
      allocator.putPage(pfns[i]);
    }
  }

  /** Frees every cached page (device teardown); pages of bios in flight come back later. */
  void drain() {
    long[] out;
    int n;
    synchronized (this) {
      n = nrFree;
      out = java.util.Arrays.copyOf(free, n);
      nrFree = 0;
      allocated -= n;
    }
    for (int i = 0; i < n; i++) {
      allocator.putPage(out[i]);
    }
  }

  /** Pages taken from the allocator and not yet freed (cached or in flight). */
  synchronized long pages() {
    return allocated;
  }
}
