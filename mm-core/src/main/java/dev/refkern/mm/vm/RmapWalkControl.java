package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * {@code struct rmap_walk_control} ({@code include/linux/rmap.h}): what {@link Rmap#rmapWalk} calls
 * for each place a folio is mapped. {@code rmap_one} is the one required callback; {@code
 * invalid_vma} and {@code done} default to "never".
 *
 * <p>Deviations: {@code rmap_one} is called per mapped page (the walk has already checked the pte,
 * as {@code page_vma_mapped_walk()} would), not once per VMA; there is no {@code anon_lock} because
 * the anon_vma's VMA list is a copy-on-write list that needs no lock to walk.
 */
@FunctionalInterface
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface RmapWalkControl {
  /** {@code rmap_one}: {@code address} in {@code vma} maps the folio; false stops the walk. */
  boolean rmapOne(Vma vma, long address);

  /** {@code invalid_vma}: true skips {@code vma} (e.g. {@code invalid_mkclean_vma()}). */
  default boolean invalidVma(Vma vma) {
    return false;
  }

  /** {@code done}: checked after each {@code rmap_one}; true ends the walk. */
  default boolean done(long pfn) {
    return false;
  }
}
