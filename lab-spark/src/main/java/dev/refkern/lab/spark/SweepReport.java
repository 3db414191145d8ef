package dev.refkern.lab.spark;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.examples.report.LabReport;
import dev.refkern.examples.report.ReportData;
import dev.refkern.examples.report.ReportHeader;
import dev.refkern.examples.report.SeedThreads;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * Renders a sweep's rows as the lab's HTML report (means with 95% confidence intervals over the
 * seeds) into the output directory. The sweep calls it once, after the tables.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
@FunctionalInterface
public interface SweepReport {
  /**
   * Writes the report of {@code rows} (of {@code comparisons}) under {@code out} and returns the
   * file it wrote, or {@code null} if it wrote none.
   */
  Path write(Path out, List<Comparison> comparisons, List<LabRow> rows, String command);

  /** No report. */
  SweepReport NONE = (out, comparisons, rows, command) -> null;

  /** The lab's HTML report ({@code report.html}), the sweep's command reproducing every number. */
  SweepReport HTML =
      (out, comparisons, rows, command) -> {
        long first = rows.stream().mapToLong(r -> r.cell().seed()).min().orElse(0);
        long last = rows.stream().mapToLong(r -> r.cell().seed()).max().orElse(0);
        Map<String, String> commands = new LinkedHashMap<>();
        comparisons.forEach(c -> commands.put(c.name(), command));
        try {
          return LabReport.write(
              out,
              new ReportData(
                  ReportHeader.here(first + ".." + last, "refkern 0.1.0"),
                  SeedThreads.ALL,
                  comparisons,
                  rows,
                  List.of(),
                  List.of(),
                  commands));
        } catch (IOException e) {
          throw new UncheckedIOException("cannot write the report under " + out, e);
        }
      };
}
