package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.vm.Gup;
import org.apiguardian.api.API;

/**
 * Seed 000's per-vector designs: a pinned flag per {@code bio_vec}, wherever the design keeps it
 * ({@link BvecPfnFlagPinTracking}, {@link PagePtrBitPinTracking}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public abstract class PerVectorFlagPinTracking extends BioPinTracking {
  /** Binds the design to a booted kernel's GUP. */
  protected PerVectorFlagPinTracking(Gup gup) {
    super(gup);
  }

  /** Whether each use of a vector's page must first mask the flag off the pointer. */
  protected abstract boolean flagInPointer();

  @Override
  public boolean addPage(Bio bio, long pfn, int offset, int len, boolean pinned) {
    if (pinned) {
      bio.markVec(bio.vecCount());
    }
    bio.addPage(pfn, offset, len);
    return true;
  }

  @Override
  public void releasePages(Bio bio) {
    for (int i = 0; i < bio.vecCount(); i++) {
      if (flagInPointer()) {
        maskOps.increment(); // bv_page & ~1 before the page can be used
      }
      long pfn = bio.vecPfn(i);
      if (bio.vecMarked(i)) {
        gup.unpinUserPage(pfn);
      } else {
        gup.putPage(pfn);
      }
    }
  }
}
