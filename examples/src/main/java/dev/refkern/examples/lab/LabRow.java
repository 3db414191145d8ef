package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.List;
import org.apiguardian.api.API;

/**
 * What one cell measured: the same columns for every comparison, so the table, the chart, the
 * report and the sweep's CSV and Parquet need no per-comparison code. Times are virtual (the seeded
 * scheduler's clock) and so deterministic for a seed, except {@link #nsPerPin}, which is wall-clock
 * and excluded from {@link #sameOutcome}.
 *
 * @param cell what ran
 * @param device the device model doing the DMA ({@code rdma-nic}, {@code gpu})
 * @param errno the errno that refused the workload's setup (e.g. {@code EFAULT} for a long-term pin
 *     under {@code gup.longterm_file=refuse}), or empty when it ran
 * @param corruptedBlocks blocks whose integrity tag mismatched, or whose on-disk content is older
 *     than the last DMA that completed before the data-integrity writeback that covered them
 * @param bytesLost bytes a power cut lost: acknowledged (fsync'd) data that a fresh mount did not
 *     read back
 * @param lossWithinPromise whether that loss is within what was promised: none lost, or the fsync
 *     that covered it returned an error (the application was told); every policy, mainline's {@code
 *     ignore} included, makes fsync's promise, as the power-cut matrix counts it
 * @param stallP50Ns median of the writeback, fsync and truncate stalls, virtual nanoseconds
 * @param stallP99Ns their 99th percentile
 * @param stallMaxNs their maximum
 * @param bytesBounced bytes written through a bounce copy
 * @param migrations pages migrated (to a device and back, or out for a long-term pin)
 * @param bugs BUG hits ({@code VM_BUG_ON} and the like)
 * @param warns WARN hits
 * @param leakedPins pins still held when the kernel shut down
 * @param deviceWritesLost device writes that landed in a page no file holds any more (orphaned)
 * @param dummyWrites device writes redirected to a dummy page after a revoke
 * @param fsckErrors findings of the filesystem's fsck on the image after the power cut
 * @param memoryOverheadBytes memory the policy costs beyond mainline (bounce pages, tracking)
 * @param nsPerPin wall-clock cost of one pin and unpin in this run (not deterministic)
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record LabRow(
    LabCell cell,
    String device,
    String errno,
    long corruptedBlocks,
    long bytesLost,
    boolean lossWithinPromise,
    long stallP50Ns,
    long stallP99Ns,
    long stallMaxNs,
    long bytesBounced,
    long migrations,
    long bugs,
    long warns,
    long leakedPins,
    long deviceWritesLost,
    long dummyWrites,
    long fsckErrors,
    long memoryOverheadBytes,
    double nsPerPin) {

  /** The column names, in record order, as CSV headers and Parquet fields use them. */
  public static final List<String> COLUMNS =
      List.of(
          "comparison",
          "workload",
          "policy",
          "fs",
          "seed",
          "device",
          "errno",
          "corrupted_blocks",
          "bytes_lost",
          "loss_within_promise",
          "stall_p50_ns",
          "stall_p99_ns",
          "stall_max_ns",
          "bytes_bounced",
          "migrations",
          "bugs",
          "warns",
          "leaked_pins",
          "device_writes_lost",
          "dummy_writes",
          "fsck_errors",
          "memory_overhead_bytes",
          "ns_per_pin");

  /** Whether the workload ran (its setup was not refused with an errno). */
  public boolean ran() {
    return errno.isEmpty();
  }

  /** Whether two rows agree on every deterministic column (all but {@link #nsPerPin}). */
  public boolean sameOutcome(LabRow o) {
    return withNsPerPin(0).equals(o.withNsPerPin(0));
  }

  /**
   * Whether two rows agree on every count: all columns but {@link #nsPerPin} and the three stall
   * columns. The pinned-file workloads' steps run on real threads, and their modelled stall counts
   * write bios whose number can differ by a few with thread timing (a truncate under {@code revoke}
   * or {@code wait}); every other column is the same for a seed.
   */
  public boolean sameCounts(LabRow o) {
    return counts().equals(o.counts());
  }

  /** {@link #values()} with the wall-clock and modelled-stall columns blanked. */
  private List<Object> counts() {
    List<Object> v = new java.util.ArrayList<>(values());
    for (int i = 0; i < COLUMNS.size(); i++) {
      if (COLUMNS.get(i).startsWith("stall_") || COLUMNS.get(i).equals("ns_per_pin")) {
        v.set(i, null);
      }
    }
    return v;
  }

  /** This row with {@code nsPerPin} replaced. */
  public LabRow withNsPerPin(double ns) {
    return new LabRow(
        cell,
        device,
        errno,
        corruptedBlocks,
        bytesLost,
        lossWithinPromise,
        stallP50Ns,
        stallP99Ns,
        stallMaxNs,
        bytesBounced,
        migrations,
        bugs,
        warns,
        leakedPins,
        deviceWritesLost,
        dummyWrites,
        fsckErrors,
        memoryOverheadBytes,
        ns);
  }

  /** The row's values in {@link #COLUMNS} order, as CSV and Parquet write them. */
  public List<Object> values() {
    return List.of(
        cell.comparison(),
        cell.workload(),
        cell.policy(),
        cell.fs(),
        cell.seed(),
        device,
        errno,
        corruptedBlocks,
        bytesLost,
        lossWithinPromise,
        stallP50Ns,
        stallP99Ns,
        stallMaxNs,
        bytesBounced,
        migrations,
        bugs,
        warns,
        leakedPins,
        deviceWritesLost,
        dummyWrites,
        fsckErrors,
        memoryOverheadBytes,
        nsPerPin);
  }
}
