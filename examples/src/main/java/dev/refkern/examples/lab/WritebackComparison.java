package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.lab.internal.PinnedFileCells;
import dev.refkern.mm.vm.PinnedWritebackPolicy;
import java.nio.file.Path;
import org.apiguardian.api.API;

/**
 * {@code refkern compare writeback}: every {@code writeback.pinned=} policy on one workload. An
 * RDMA NIC long-term-pins a page of a file ({@code gup.longterm_file=allow}) and DMAs into it, once
 * while its first write is in flight; a background writeback pass, more DMA, fsync, a power cut, a
 * remount in a fresh kernel and fsck. The mount chooses the policy ({@code -o pinned_writeback=}).
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
