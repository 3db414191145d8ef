package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * {@code struct mm_walk_ops} ({@code include/linux/pagewalk.h}): the callbacks {@link
 * PageWalk#walkPageRange} calls; a null callback is not set. Each returns 0 to go on, anything else
 * ends the walk and is what the walk returns.
 *
 * @param pmdEntry called for each non-empty PMD entry, under the page-table lock
 * @param pteEntry called for each pte (empty ones included) under the page-table lock; setting it
 *     makes the walk split a huge PMD it descends into, as the kernel does
 * @param pteHole called for each range without a page table or without a VMA
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record MmWalkOps(PmdEntry pmdEntry, PteEntry pteEntry, PteHole pteHole) {

  /** {@code pmd_entry}. */
  @FunctionalInterface
  public interface PmdEntry {
    /**
     * Visits the PMD covering {@code [addr, next)}: {@code pmd} is the huge entry mapping a whole
     * THP ({@link Pte#huge}), or 0 if the PMD points to a pte table. {@link
     * PageWalk.MmWalk#setAction} with {@code ACTION_CONTINUE} skips the ptes below it.
     */
    int apply(long pmd, long addr, long next, PageWalk.MmWalk walk);
  }

  /** {@code pte_entry}. */
  @FunctionalInterface
  public interface PteEntry {
    /** Visits the pte for {@code [addr, next)}; {@link PageWalk.MmWalk#setPte} changes it. */
    int apply(long pte, long addr, long next, PageWalk.MmWalk walk);
  }

  /** {@code pte_hole}. */
  @FunctionalInterface
  public interface PteHole {
    /**
     * Visits {@code [addr, next)}, which has no pte table ({@code depth} 3), no PMD table ({@code
     * depth} 2) or no VMA ({@code depth} -1).
     */
    int apply(long addr, long next, int depth, PageWalk.MmWalk walk);
  }
}
