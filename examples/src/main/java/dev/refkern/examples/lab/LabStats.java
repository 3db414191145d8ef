package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apiguardian.api.API;

/**
 * Aggregation of {@link LabRow}s over seeds: per (comparison, workload, policy, fs), the mean and a
 * 95% confidence interval (Student's t) of every numeric column. The table, the chart, the HTML
 * report and the sweep share it so they agree on the numbers.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LabStats {
  /** The numeric columns of {@link LabRow#COLUMNS}, in that order (booleans count as 0/1). */
  public static final List<String> NUMERIC =
      LabRow.COLUMNS.subList(LabRow.COLUMNS.indexOf("corrupted_blocks"), LabRow.COLUMNS.size());

  // two-sided 95% t quantiles for 1..30 degrees of freedom; beyond, the normal's 1.96
  private static final double[] T95 = {
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042
  };

  private LabStats() {}

  /**
   * A column over seeds.
   *
   * @param mean the arithmetic mean
   * @param ci95 half-width of the 95% confidence interval of the mean (0 for one value)
   * @param n how many values
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public record Stat(double mean, double ci95, int n) {
    /** The interval's low end. */
    public double low() {
      return mean - ci95;
    }

    /** The interval's high end. */
    public double high() {
      return mean + ci95;
    }
  }

  /**
   * One (comparison, workload, policy, fs) over its seeds.
   *
   * @param cell the first row's cell (its seed is the first seed)
   * @param rows the rows aggregated, in input order
   * @param errno the errno every row shares, empty when they ran, {@code mixed} when they differ
   * @param stats per {@link #NUMERIC} column
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public record Group(LabCell cell, List<LabRow> rows, String errno, Map<String, Stat> stats) {
    /** The statistic of {@code column} (a {@link #NUMERIC} name). */
    public Stat stat(String column) {
      Stat s = stats.get(column);
      if (s == null) {
        throw new IllegalArgumentException("not a numeric column: " + column);
      }
      return s;
    }

    /** The seeds aggregated. */
    public int seeds() {
      return rows.size();
    }
  }

  /** Mean and 95% confidence interval of {@code values}. */
  public static Stat of(double[] values) {
    int n = values.length;
    if (n == 0) {
      return new Stat(0, 0, 0);
    }
    double sum = 0;
    for (double v : values) {
      sum += v;
    }
    double mean = sum / n;
    if (n == 1) {
      return new Stat(mean, 0, 1);
    }
    double ss = 0;
    for (double v : values) {
      ss += (v - mean) * (v - mean);
    }
    double sd = Math.sqrt(ss / (n - 1));
    double t = n - 1 <= T95.length ? T95[n - 2] : 1.96;
    return new Stat(mean, t * sd / Math.sqrt(n), n);
  }

  /** The value of numeric {@code column} in {@code row}. */
  public static double value(LabRow row, String column) {
    int i = LabRow.COLUMNS.indexOf(column);
    if (i < 0 || !NUMERIC.contains(column)) {
      throw new IllegalArgumentException("not a numeric column: " + column);
    }
    Object v = row.values().get(i);
    if (v instanceof Boolean b) {
      return b ? 1 : 0;
    }
    return ((Number) v).doubleValue();
  }

  /** How many distinct seeds {@code rows} hold. */
  public static int seeds(List<LabRow> rows) {
    TreeSet<Long> s = new TreeSet<>();
    rows.forEach(r -> s.add(r.cell().seed()));
    return s.size();
  }

  /** The rows grouped by (comparison, workload, policy, fs), in first-seen order. */
  public static List<Group> aggregate(List<LabRow> rows) {
    Map<String, List<LabRow>> by = new LinkedHashMap<>();
    for (LabRow r : rows) {
      LabCell c = r.cell();
      String k = c.comparison() + '\0' + c.workload() + '\0' + c.policy() + '\0' + c.fs();
      by.computeIfAbsent(k, x -> new ArrayList<>()).add(r);
    }
    List<Group> out = new ArrayList<>();
    for (List<LabRow> g : by.values()) {
      Map<String, Stat> stats = new LinkedHashMap<>();
      for (String col : NUMERIC) {
        double[] v = new double[g.size()];
        for (int i = 0; i < v.length; i++) {
          v[i] = value(g.get(i), col);
        }
        stats.put(col, of(v));
      }
      String errno = g.get(0).errno();
      for (LabRow r : g) {
        if (!r.errno().equals(errno)) {
          errno = "mixed";
        }
      }
      out.add(
          new Group(
              g.get(0).cell(),
              List.copyOf(g),
              errno,
              java.util.Collections.unmodifiableMap(stats)));
    }
    return out;
  }
}
