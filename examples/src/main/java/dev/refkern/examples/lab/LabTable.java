package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.TextTable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apiguardian.api.API;

/**
 * The lab's rows as a text table, the same columns for every comparison. One seed: a line per row.
 * Several: a line per (workload, policy, fs) with {@code mean±ci95} over the seeds ({@link
 * LabStats}). The first column names the cell ({@code policy/fs}, or {@code workload/policy/fs}
 * when the rows hold several workloads); cells hold no spaces, so scripts split on whitespace.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LabTable {
  /** The headers: the cell, then one per column of {@link LabRow} but the cell's own. */
  public static final List<String> HEADERS =
      List.of(
          "cell",
          "seeds",
          "device",
          "errno",
          "corrupt",
          "lost-B",
          "in-promise",
          "stall-p50-ns",
          "stall-p99-ns",
          "stall-max-ns",
          "bounced-B",
          "migr",
          "bugs",
          "warns",
          "leaked",
          "dev-lost",
          "dummy",
          "fsck",
          "overhead-B",
          "ns/pin");

  private LabTable() {}

  /** The rows rendered; aggregated over seeds when they hold more than one. */
  public static String render(List<LabRow> rows) {
    boolean manyWorkloads = rows.stream().map(r -> r.cell().workload()).distinct().count() > 1;
    List<String[]> lines = new ArrayList<>();
    lines.add(HEADERS.toArray(String[]::new));
    for (LabStats.Group g : LabStats.aggregate(rows)) {
      List<String> cells = new ArrayList<>();
      LabCell c = g.cell();
      cells.add((manyWorkloads ? c.workload() + "/" : "") + c.policy() + "/" + c.fs());
      cells.add(Integer.toString(g.seeds()));
      cells.add(g.rows().get(0).device());
      cells.add(g.errno().isEmpty() ? "-" : g.errno());
      for (String col : LabStats.NUMERIC) {
        cells.add(format(col, g.stat(col)));
      }
      lines.add(cells.toArray(String[]::new));
    }
    return TextTable.render(lines);
  }

  /**
   * One statistic: an integer for one seed, {@code mean±ci} for several; a fraction for booleans.
   */
  static String format(String column, LabStats.Stat s) {
    if (column.equals("loss_within_promise")) {
      return s.n() == 1 ? (s.mean() > 0.5 ? "yes" : "no") : pct(s.mean());
    }
    boolean decimals = column.equals("ns_per_pin");
    if (s.n() <= 1) {
      return decimals
          ? String.format(Locale.ROOT, "%.1f", s.mean())
          : Long.toString(Math.round(s.mean()));
    }
    return String.format(Locale.ROOT, decimals ? "%.1f±%.1f" : "%.1f±%.1f", s.mean(), s.ci95());
  }

  private static String pct(double fraction) {
    return Math.round(fraction * 100) + "%";
  }
}
