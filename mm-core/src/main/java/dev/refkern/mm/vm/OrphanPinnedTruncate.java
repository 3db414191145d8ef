package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code truncate.pinned=orphan}: mainline {@code truncate_inode_pages_range()} waits for
 * writeback, never for pins: the folio leaves the page cache ({@code mapping == NULL}) and the pin
 * holder keeps it alive, so the device's later writes go nowhere (the problem seed 001, 2018-12,
 * argues about).
 */
@PolicySpec(
    param = PinnedTruncatePolicy.PARAM,
    name = "orphan",
    mainline = true,
    proposal = "001_c473afd3af432c8a.txt, 2018-12 (the problem it states); mainline")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class OrphanPinnedTruncate extends PinnedTruncatePolicy {
  /** Binds the policy to a booted kernel. */
  public OrphanPinnedTruncate(PinnedPageCacheContext context) {
    super(context);
  }

  @Override
  protected Action decide(AddressSpace mapping, long head) {
    return Action.REMOVE;
  }
}
