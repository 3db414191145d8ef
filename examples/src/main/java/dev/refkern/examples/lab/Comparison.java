package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicyRegistry;
import java.nio.file.Path;
import java.util.List;
import org.apiguardian.api.API;

/**
 * One comparison of the lab: a seeded workload run under every registered value of one policy
 * parameter, on each filesystem, reporting {@link LabRow}s. A policy registered later (another
 * module, a user's jar) appears in {@link #policies()} with no code change here.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface Comparison {
  /** Its name on the command line: {@code refkern compare <name>}. */
  String name();

  /** One line for people: the question it answers. */
  String question();

  /** The kernel parameter it varies ({@code writeback.pinned}, ...). */
  String policyParam();

  /** Every value of {@link #policyParam()} in the global registry, in registry order. */
  default List<String> policies() {
    return policies(PolicyRegistry.global());
  }

  /** Every value of {@link #policyParam()} in {@code registry}, in registry order. */
  default List<String> policies(PolicyRegistry registry) {
    return registry.names(policyParam());
  }

  /** The workloads a cell may name; one, its own name, unless it runs others' workloads. */
  default List<String> workloads() {
    return List.of(name());
  }

  /** The filesystems it runs on. */
  default List<String> filesystems() {
    return List.of("ext4", "xfs");
  }

  /** The cells of one seed: every workload × policy × filesystem. */
  default List<LabCell> cells(long seed) {
    var out = new java.util.ArrayList<LabCell>();
    for (String w : workloads()) {
      for (String p : policies()) {
        for (String fs : filesystems()) {
          out.add(new LabCell(name(), w, p, fs, seed));
        }
      }
    }
    return out;
  }

  /**
   * Runs one cell in fresh kernels whose state and disk image live under {@code scratch} (an empty
   * directory the caller owns and deletes). Deterministic for the cell but for {@code nsPerPin}.
   */
  LabRow run(LabCell cell, Path scratch);
}
