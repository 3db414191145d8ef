package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.List;
import org.apiguardian.api.API;

/**
 * The buddy page allocator ({@code mm/page_alloc.c}) and page reference counting ({@code
 * get_page}/{@code put_page}/{@code folio_put}, {@code include/linux/mm.h}).
 *
 * <p>Orders 0 to {@value #MAX_ORDER} ({@code MAX_PAGE_ORDER}); per-zone free lists kept in the
 * memmap itself (the kernel's {@code page->buddy_list}), watermarks as {@code
 * __setup_per_zone_wmarks()} computes them. Pages are identified by pfn; {@link #NO_PFN} stands for
 * {@code NULL}.
 */
@API(status = STABLE, since = "0.1.0")
public interface PageAllocator {
  int MAX_ORDER = 10;
  long NO_PFN = -1;

  /**
   * {@code alloc_pages(gfp, order)}: a block of {@code 1 << order} frames with refcount 1, a large
   * folio if {@code gfp} has {@link Gfp#COMP}. Returns {@link #NO_PFN} when no zone the flags allow
   * has the memory above its watermark; an order above {@value #MAX_ORDER} also returns {@code
   * NO_PFN} and {@code WARN}s, as the kernel does.
   */
  long allocPages(int gfp, int order);

  /** {@code folio_alloc()}: {@code allocPages(gfp | COMP, order)}. */
  default long folioAlloc(int gfp, int order) {
    return allocPages(gfp | Gfp.COMP, order);
  }

  /**
   * {@code __free_pages(page, order)}: drops the caller's reference and frees the block when it was
   * the last. An unaligned pfn or a page with no reference is a {@code BUG} ({@code
   * VM_BUG_ON_PAGE}); an invalid pfn is {@code -EINVAL}.
   */
  void freePages(long pfn, int order);

  /** {@code get_page()}: a reference on the folio. A free page is a {@code BUG}. */
  void getPage(long pfn);

  /** {@code try_get_page()}: false (and a {@code WARN}) if the page has no reference. */
  boolean tryGetPage(long pfn);

  /**
   * {@code put_page()} / {@code folio_put()}: drops a reference on the folio containing {@code
   * pfn}; at zero the folio is freed ({@code ZONE_DEVICE} pages go back to their {@code
   * dev_pagemap}). Dropping a reference the page does not have is a {@code BUG}.
   */
  void putPage(long pfn);

  /** Free pages in all buddy zones. */
  long nrFreePages();

  /** A snapshot of every zone, in {@code NORMAL}, {@code MOVABLE}, {@code DEVICE} order. */
  List<ZoneInfo> zones();
}
