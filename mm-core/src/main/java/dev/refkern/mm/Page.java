package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * {@code PAGE_SHIFT}, {@code PAGE_SIZE}, {@code PAGE_MASK}: the base page geometry, as in the
 * kernel's {@code include/asm-generic/page.h} (x86: {@code arch/x86/include/asm/page_types.h}).
 *
 * <p>The one home of these constants; refkern's pages are always 4 KiB.
 */
@API(status = STABLE, since = "0.1.0")
public final class Page {
  /** {@code PAGE_SHIFT}: log2 of the page size. */
  public static final int PAGE_SHIFT = 12;

  /** {@code PAGE_SIZE}: bytes in a base page. An {@code int}: widen before multiplying. */
  public static final int PAGE_SIZE = 1 << PAGE_SHIFT;

  /** {@code PAGE_MASK}: clears the offset within a page ({@code addr & PAGE_MASK}). */
  public static final long PAGE_MASK = ~((long) PAGE_SIZE - 1);

  private Page() {}
}
