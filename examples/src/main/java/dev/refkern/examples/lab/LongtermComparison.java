package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.lab.internal.PinnedFileCells;
import dev.refkern.mm.vm.LongtermFilePinPolicy;
import java.nio.file.Path;
import java.util.List;
import org.apiguardian.api.API;

/**
 * {@code refkern compare longterm}: {@code gup.longterm_file=refuse} (mainline since 6.5: the NIC's
 * registration is {@code EFAULT}, nothing is pinned) against {@code allow} (before 6.5), on the
 * writeback and truncate workloads with the filesystems' own default policies.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LongtermComparison implements Comparison {
  @Override
  public String name() {
    return "longterm";
  }

  @Override
  public String question() {
    return "Should a device be allowed to long-term-pin file pages at all?";
  }

  @Override
  public String policyParam() {
    return LongtermFilePinPolicy.PARAM;
  }

  @Override
  public List<String> workloads() {
    return List.of("writeback", "truncate");
  }

  @Override
  public LabRow run(LabCell cell, Path scratch) {
    return PinnedFileCells.run(cell, scratch, null, null, cell.policy());
  }
}
