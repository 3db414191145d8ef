package dev.refkern.lab.spark;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.lab.LabRow;
import java.nio.file.Path;
import java.util.List;
import org.apiguardian.api.API;

/**
 * Renders a sweep's rows as the lab's HTML report (means with 95% confidence intervals over the
 * seeds) into the output directory. The sweep calls it once, after the tables.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
@FunctionalInterface
public interface SweepReport {
  /**
   * Writes the report for {@code rows} under {@code out} and returns the file it wrote, or {@code
   * null} if it wrote none.
   */
  Path write(Path out, List<LabRow> rows, String command);

  /** No report: this build has no renderer yet (the lab's HTML report is not merged). */
  SweepReport NONE = (out, rows, command) -> null;
}
