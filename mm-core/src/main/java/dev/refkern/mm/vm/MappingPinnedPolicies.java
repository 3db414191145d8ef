package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.internal.MmInternals;
import org.apiguardian.api.API;

/**
 * The per-{@code struct address_space} choice of the pinned page-cache policies: what a mount's
 * {@code pinned_writeback=} and {@code pinned_truncate=} options give every inode's mapping of the
 * superblock. A mapping without one (null) follows the booted {@code writeback.pinned=} / {@code
 * truncate.pinned=} policy. {@link PageWriteback} and {@link Truncate} ask the mapping's first.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class MappingPinnedPolicies {
  private MappingPinnedPolicies() {}

  /** Gives {@code mapping} its own writeback decision; null returns it to the booted policy. */
  public static void setPinnedWriteback(AddressSpace mapping, PinnedWritebackDecision decision) {
    MmInternals.state(mapping).pinnedWriteback = decision;
  }

  /** {@code mapping}'s own writeback decision, or null when it follows the booted policy. */
  public static PinnedWritebackDecision pinnedWriteback(AddressSpace mapping) {
    return (PinnedWritebackDecision) MmInternals.state(mapping).pinnedWriteback;
  }

  /** Gives {@code mapping} its own truncate decision; null returns it to the booted policy. */
  public static void setPinnedTruncate(AddressSpace mapping, PinnedTruncateDecision decision) {
    MmInternals.state(mapping).pinnedTruncate = decision;
  }

  /** {@code mapping}'s own truncate decision, or null when it follows the booted policy. */
  public static PinnedTruncateDecision pinnedTruncate(AddressSpace mapping) {
    return (PinnedTruncateDecision) MmInternals.state(mapping).pinnedTruncate;
  }
}
