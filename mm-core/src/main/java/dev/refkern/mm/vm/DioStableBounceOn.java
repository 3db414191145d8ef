package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code dio.stable_bounce=on}: Linux 7.0 ({@code IOMAP_DIO_BOUNCE}, Christoph Hellwig, January
 * 2026): direct I/O to a mapping with {@code AS_STABLE_WRITES} bounces, so checksums and parity
 * match the data written; others stay zero-copy.
 */
@PolicySpec(
    param = DioStableBouncePolicy.PARAM,
    name = "on",
    mainline = true,
    proposal = "mainline v7.0, 2026-01 (IOMAP_DIO_BOUNCE for mapping_stable_writes)")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class DioStableBounceOn extends DioStableBouncePolicy {
  /** Binds the policy to a booted machine. */
  public DioStableBounceOn(PhysicalMemory mem) {
    super(mem);
  }

  @Override
  protected boolean decide(AddressSpace mapping) {
    return mapping.stableWrites();
  }
}
