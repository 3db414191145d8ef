package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import dev.refkern.mm.vm.Gup;
import org.apiguardian.api.API;

/**
 * {@code block.bio_pin_tracking=bias_all}: every page of every bio holds a pin-style reference, so
 * completion is uniform, at the price of pinning pages on paths that never pinned (writeback),
 * which then look DMA-pinned while under I/O (seed 000, withdrawn in the thread).
 */
@PolicySpec(
    param = BioPinTracking.PARAM,
    name = "bias_all",
    mainline = false,
    proposal = "000_3af96859bc97389c.txt, 2019-04 (withdrawn)")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class BiasAllPinTracking extends BioPinTracking {
  /** Binds the design to a booted kernel's GUP. */
  public BiasAllPinTracking(Gup gup) {
    super(gup);
  }

  @Override
  public boolean addPage(Bio bio, long pfn, int offset, int len, boolean pinned) {
    if (!pinned) {
      // a path that never pinned must pin now; its reference becomes a pin
      gup.pinReferencedPage(pfn);
      extraPins.increment();
    }
    bio.setFlag(Bio.BIO_PAGE_PINNED);
    bio.addPage(pfn, offset, len);
    return true;
  }

  @Override
  public void releasePages(Bio bio) {
    for (int i = 0; i < bio.vecCount(); i++) {
      gup.unpinUserPage(bio.vecPfn(i));
    }
  }
}
