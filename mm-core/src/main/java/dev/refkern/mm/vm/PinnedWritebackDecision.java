package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import org.apiguardian.api.API;

/**
 * What {@code write_cache_pages()} ({@code mm/page-writeback.c}) does with a dirty folio that
 * {@code folio_maybe_dma_pinned()}: the one place where the {@code writeback.pinned} policies
 * (mount option {@code pinned_writeback}) will decide. {@link PageWriteback} asks it for exactly
 * those folios, locked and no longer under writeback, before {@code folio_clear_dirty_for_io()}.
 *
 * <p>The booted {@code writeback.pinned=} policy ({@link PinnedWritebackPolicy}) answers for a
 * mapping without its own decision ({@link MappingPinnedPolicies}, set by the mount option).
 */
@FunctionalInterface
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface PinnedWritebackDecision {
  /** What writeback does with the pinned folio. The coming policies add theirs with their code. */
  enum Action {
    /** Write it back as it is and mark it clean, while DMA may still change it (mainline). */
    WRITE,
    /** Leave it dirty and unwritten: a later pass (or the unpin) gets to it. */
    SKIP,
    /**
     * Write a copy taken now (a bounce folio, {@code ->writeFolioFrom}); the folio itself is
     * redirtied if it is still pinned once written, so a later pass writes the newer DMA data.
     */
    BOUNCE
  }

  /** {@code writeback.pinned=ignore}: mainline has no pinned-folio check in writeback. */
  PinnedWritebackDecision IGNORE = (mapping, head, mode) -> Action.WRITE;

  /**
   * Decides for the folio {@code head} of {@code mapping} in a pass of {@code mode}. Must not
   * allocate: writeback calls it per folio.
   */
  Action pinnedFolio(AddressSpace mapping, long head, WbSyncMode mode);

  /**
   * Told after {@link Action#BOUNCE} once the copy of {@code head} ({@code bytes} long) was written
   * from the bounce folio; not called when the filesystem could not write from one.
   */
  default void bounced(AddressSpace mapping, long head, int bytes) {}
}
