package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code dio.stable_bounce=off}: kernels before 7.0: direct I/O always writes from the user's
 * pinned pages, even on a stable-writes mapping, so a user change after submission can reach the
 * device and fail its checksum.
 */
@PolicySpec(
    param = DioStableBouncePolicy.PARAM,
    name = "off",
    mainline = false,
    proposal = "kernels before v7.0 (zero-copy direct I/O on stable-writes devices)")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class DioStableBounceOff extends DioStableBouncePolicy {
  /** Binds the policy to a booted machine. */
  public DioStableBounceOff(PhysicalMemory mem) {
    super(mem);
  }

  @Override
  protected boolean decide(AddressSpace mapping) {
    return false;
  }
}
