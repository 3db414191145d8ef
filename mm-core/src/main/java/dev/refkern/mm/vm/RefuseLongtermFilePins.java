package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicySpec;
import org.apiguardian.api.API;

/**
 * {@code gup.longterm_file=refuse}: mainline since 6.5 ({@code writable_file_mapping_allowed()},
 * Lorenzo Stoakes): a writable {@code FOLL_LONGTERM} pin of a shared file mapping whose filesystem
 * tracks dirty pages is {@code -EFAULT}, since writeback cannot see the device's writes; shmem,
 * memfd and hugetlbfs mappings are still allowed.
 */
@PolicySpec(
    param = LongtermFilePinPolicy.PARAM,
    name = "refuse",
    mainline = true,
    proposal = "mainline v6.5, 2023-06 (writable_file_mapping_allowed); seeds 001, 003 predate it")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class RefuseLongtermFilePins extends LongtermFilePinPolicy {
  /** Binds the policy to a booted machine. */
  public RefuseLongtermFilePins(PhysicalMemory mem) {
    super(mem);
  }

  @Override
  protected boolean decide(Vma vma) {
    return false;
  }
}
