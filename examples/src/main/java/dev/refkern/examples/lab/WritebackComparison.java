package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.lab.internal.PinnedFileCells;
import dev.refkern.mm.vm.PinnedWritebackPolicy;
import java.nio.file.Path;
import org.apiguardian.api.API;

/**
 * {@code refkern compare writeback}: every {@code writeback.pinned=} policy on one workload. An
 * RDMA NIC long-term-pins a seeded range of a file ({@code gup.longterm_file=allow}) and DMAs into
 * seeded pages of it, some while their write is in flight, as the application writes other pages; a
 * background writeback pass, fsync, a power cut at a seeded point, a remount in a fresh kernel and
 * fsck ({@link dev.refkern.examples.fs.PinnedFileScenario.Workload#seeded}). The mount chooses the
 * policy ({@code -o pinned_writeback=}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class WritebackComparison implements Comparison {
  @Override
  public String name() {
    return "writeback";
  }

  @Override
  public String question() {
    return "What should writeback do with a file page a device has pinned and may DMA into?";
  }

  @Override
  public String policyParam() {
    return PinnedWritebackPolicy.PARAM;
  }

  @Override
  public LabRow run(LabCell cell, Path scratch) {
    return PinnedFileCells.run(cell, scratch, cell.policy(), "orphan", "allow");
  }
}
