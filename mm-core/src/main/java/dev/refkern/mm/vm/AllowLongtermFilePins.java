package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code gup.longterm_file=allow}: the kernel before 6.5, the seeds' era (001, 2018; 003, 2019): a
 * writable {@code FOLL_LONGTERM} pin of any shared file mapping succeeds, and what writeback then
 * does with the pinned folio is the {@code writeback.pinned=} policy's problem.
 */
@PolicySpec(
    param = LongtermFilePinPolicy.PARAM,
    name = "allow",
    mainline = false,
    proposal = "kernels before v6.5 (the seeds' era: 001, 2018-12; 003, 2019-11)")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class AllowLongtermFilePins extends LongtermFilePinPolicy {
  /** Binds the policy to a booted machine. */
  public AllowLongtermFilePins(PhysicalMemory mem) {
    super(mem);
  }

  @Override
  protected boolean decide(Vma vma) {
    return true;
  }
}
