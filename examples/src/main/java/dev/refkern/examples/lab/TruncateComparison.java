package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.lab.internal.PinnedFileCells;
import dev.refkern.mm.vm.PinnedTruncatePolicy;
import java.nio.file.Path;
import org.apiguardian.api.API;

/**
 * {@code refkern compare truncate}: every {@code truncate.pinned=} policy on one workload. The
 * writeback workload ({@code pinned_writeback=bounce}, so the pin survives writeback), then {@code
 * ftruncate(0)} under the NIC's pins while it goes on DMAing, fsync, a power cut (always after the
 * truncate), remount and fsck.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class TruncateComparison implements Comparison {
  @Override
  public String name() {
    return "truncate";
  }

  @Override
  public String question() {
    return "What should truncate do with a file page a device has pinned and still DMAs into?";
  }

  @Override
  public String policyParam() {
    return PinnedTruncatePolicy.PARAM;
  }

  @Override
  public LabRow run(LabCell cell, Path scratch) {
    return PinnedFileCells.run(cell, scratch, "bounce", cell.policy(), "allow");
  }
}
