package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code writeback.pinned=bounce}: writeback of a pinned folio writes a copy taken at submission (a
 * bounce folio, {@code ->writeFolioFrom}), so DMA never changes data under the write; the folio
 * stays dirty while pinned, so the next pass writes the device's newer data (Jérôme Glisse, seed
 * 003, November 2019: "mimics ... regular write-back just as if the write protection window ... was
 * infinitely short"). Costs a page and a copy per pinned folio per pass: {@code folios_bounced},
 * {@code bytes_bounced}.
 */
@PolicySpec(
    param = PinnedWritebackPolicy.PARAM,
    name = "bounce",
    mainline = false,
    proposal = "003_6adb35f4f25c0f96.txt, 2019-11 (bounce page for GUP'd pages in writeback)")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class BouncePinnedWriteback extends PinnedWritebackPolicy {
  /** Binds the policy to a booted kernel. */
  public BouncePinnedWriteback(PinnedPageCacheContext context) {
    super(context);
  }

  @Override
  protected Action decide(AddressSpace mapping, long head, WbSyncMode mode) {
    return Action.BOUNCE;
  }
}
