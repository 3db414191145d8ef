package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import dev.refkern.mm.vm.Gup;
import org.apiguardian.api.API;

/**
 * {@code block.bio_pin_tracking=bvec_pfn_flag}: {@code bio_vec} holds a pfn with a per-vector
 * pinned flag in {@code bv_pfn} (seed 000).
 */
@PolicySpec(
    param = BioPinTracking.PARAM,
    name = "bvec_pfn_flag",
    mainline = false,
    proposal = "000_3af96859bc97389c.txt, 2019-04")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class BvecPfnFlagPinTracking extends PerVectorFlagPinTracking {
  /** Binds the design to a booted kernel's GUP. */
  public BvecPfnFlagPinTracking(Gup gup) {
    super(gup);
  }

  @Override
  protected boolean flagInPointer() {
    return false;
  }
}
