package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.notifier.MmuNotifierEvent;
import org.apiguardian.api.API;

/**
 * What {@code truncate_inode_pages_range()} ({@code mm/truncate.c}) does with a folio that {@code
 * folio_maybe_dma_pinned()} when it drops it: the one place where the {@code truncate.pinned}
 * policies will decide. {@link Truncate} asks it for exactly those folios, locked, after their
 * writeback and their unmapping, before they leave the page cache.
 */
@FunctionalInterface
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface PinnedTruncateDecision {
  /** What truncate does with the pinned folio. The coming policies add theirs with their code. */
  enum Action {
    /**
     * Remove it from the page cache anyway ({@code mapping == NULL}): the pin holder keeps it
     * alive, orphaned (mainline).
     */
    REMOVE,
    /**
     * Sleep without the folio lock until the pins drop, as DAX's {@code break_layouts} does, then
     * remove it.
     */
    WAIT
  }

  /** {@code truncate.pinned=orphan}: mainline waits for writeback, never for pins. */
  PinnedTruncateDecision ORPHAN = (mapping, head) -> Action.REMOVE;

  /** Decides for the folio {@code head} of {@code mapping}. Must not allocate. */
  Action pinnedFolio(AddressSpace mapping, long head);

  /**
   * The mmu notifier event {@code unmap_mapping_folio()} sends for the pinned folio {@code head},
   * asked before it is unmapped: {@code CLEAR} in mainline.
   */
  default MmuNotifierEvent unmapEvent(AddressSpace mapping, long head) {
    return MmuNotifierEvent.CLEAR;
  }

  /**
   * For {@link Action#WAIT}: sleeps until {@code head} is unpinned, killable. {@link Truncate}
   * calls it without the folio lock.
   *
   * @param fatalSignalPending the sleeping task's {@code fatal_signal_pending()}
   * @return false if a fatal signal ended the sleep with the folio still pinned
   */
  default boolean awaitUnpinned(
      AddressSpace mapping, long head, java.util.function.BooleanSupplier fatalSignalPending) {
    throw new dev.refkern.mm.KernelException(
        dev.refkern.mm.Errno.EINVAL, "a decision answering WAIT must wait");
  }

  /**
   * Whether this decision may answer {@link Action#WAIT}, so {@link Truncate#breakLayouts} must
   * wait for the range's pins before the filesystem changes anything. Asked without side effects.
   */
  default boolean waitsForPins() {
    return false;
  }
}
