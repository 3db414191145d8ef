package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.Objects;
import org.apiguardian.api.API;

/**
 * One cell of a comparison: one seeded workload under one policy value on one filesystem. A cell is
 * the unit of work of a sweep and the key of its results: the same cell always gives the same row
 * (but for the wall-clock column {@link LabRow#nsPerPin}).
 *
 * @param comparison the comparison's name ({@code writeback}, {@code truncate}, ...)
 * @param workload the workload run; the comparison's own name but for {@code longterm}, which runs
 *     the other comparisons' workloads
 * @param policy the value of the comparison's policy parameter
 * @param fs the filesystem type ({@code ext4}, {@code xfs})
 * @param seed seeds the workload, the simulated scheduler and the power-cut point
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record LabCell(String comparison, String workload, String policy, String fs, long seed) {
  public LabCell {
    Objects.requireNonNull(comparison, "comparison");
    Objects.requireNonNull(workload, "workload");
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(fs, "fs");
  }

  /** A stable, file-name-safe key: {@code writeback.writeback.bounce.ext4.42}. */
  public String key() {
    return comparison
        + "."
        + workload
        + "."
        + policy
        + "."
        + fs
        + "."
        + Long.toUnsignedString(seed);
  }

  @Override
  public String toString() {
    return key();
  }
}
