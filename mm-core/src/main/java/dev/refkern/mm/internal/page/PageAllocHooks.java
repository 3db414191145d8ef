package dev.refkern.mm.internal.page;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.PageReclaim;
import org.apiguardian.api.API;

/**
 * What {@code mm/page_alloc.c} calls outside itself: {@code __page_cache_release()} (mm/swap.c),
 * {@code free_zone_device_folio()} (mm/memremap.c) and the node's reclaim (mm/vmscan.c). The node
 * gives it to the {@link BuddyAllocator} at construction; none of these is called during it.
 */
@API(status = INTERNAL, since = "0.1.0")
public interface PageAllocHooks {
  /** {@code __page_cache_release()}: a folio whose last reference dropped leaves the LRU. */
  void pageCacheRelease(long pfn);

  /** {@code free_zone_device_folio()}: a {@code ZONE_DEVICE} page goes back to its driver. */
  void freeZoneDevicePage(long pfn);

  /** The node's reclaim, resolved at each use (it is built after the allocator). */
  PageReclaim reclaim();
}
