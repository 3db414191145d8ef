package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import dev.refkern.mm.vm.Gup;
import org.apiguardian.api.API;

/**
 * {@code block.bio_pin_tracking=bio_flag}: mainline's {@code BIO_PAGE_PINNED}, one flag per bio. A
 * bio cannot mix pinned pages with pages it merely references, so mixing costs a split.
 */
@PolicySpec(
    param = BioPinTracking.PARAM,
    name = "bio_flag",
    mainline = true,
    proposal = "000_3af96859bc97389c.txt, 2019-04; mainline BIO_PAGE_PINNED, v6.5, 2023")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class BioFlagPinTracking extends BioPinTracking {
  /** Binds the design to a booted kernel's GUP. */
  public BioFlagPinTracking(Gup gup) {
    super(gup);
  }

  @Override
  public boolean addPage(Bio bio, long pfn, int offset, int len, boolean pinned) {
    if (bio.vecCount() > 0 && bio.flagged(Bio.BIO_PAGE_PINNED) != pinned) {
      splits.increment();
      return false; // one flag cannot describe both kinds
    }
    if (pinned) {
      bio.setFlag(Bio.BIO_PAGE_PINNED);
    }
    bio.addPage(pfn, offset, len);
    return true;
  }

  @Override
  public void releasePages(Bio bio) {
    boolean pinned = bio.flagged(Bio.BIO_PAGE_PINNED);
    for (int i = 0; i < bio.vecCount(); i++) {
      if (pinned) {
        gup.unpinUserPage(bio.vecPfn(i));
      } else {
        gup.putPage(bio.vecPfn(i));
      }
    }
  }
}
