package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import dev.refkern.mm.vm.Gup;
import org.apiguardian.api.API;

/**
 * {@code block.bio_pin_tracking=page_ptr_bit}: the pinned flag lives in the low bit of each {@code
 * bio_vec}'s page pointer; every use of the pointer must mask it off (seed 000).
 */
@PolicySpec(
    param = BioPinTracking.PARAM,
    name = "page_ptr_bit",
    mainline = false,
    proposal = "000_3af96859bc97389c.txt, 2019-04")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PagePtrBitPinTracking extends PerVectorFlagPinTracking {
  /** Binds the design to a booted kernel's GUP. */
  public PagePtrBitPinTracking(Gup gup) {
    super(gup);
  }

  @Override
  protected boolean flagInPointer() {
    return true;
  }
}
