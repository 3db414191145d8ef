package dev.refkern.examples.report.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabChart;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.examples.lab.LabStats;
import dev.refkern.examples.report.ReportTable;
import dev.refkern.mm.PolicyRegistry;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;
import org.apiguardian.api.API;

/**
 * One comparison's rows over any number of seeds, grouped by workload, policy and filesystem: the
 * table, the chart and the sentences of the report. Works from {@link LabRow}'s shared columns
 * only, so a comparison registered later needs nothing here.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class LabSummary {
  /** One numeric column of {@link LabRow}: its CSV name, its words, its unit. */
  public record Metric(String column, String label, String unit) {
    double of(LabRow r) {
      return LabStats.value(r, column);
    }
  }

  /** The numeric columns, in the order the report shows them (outcomes first, costs after). */
  public static final List<Metric> METRICS =
      List.of(
          new Metric("corrupted_blocks", "corrupted blocks", "blocks"),
          new Metric("bytes_lost", "bytes lost at the power cut", "bytes"),
          new Metric("fsck_errors", "fsck errors", "findings"),
          new Metric("bugs", "BUG hits", "hits"),
          new Metric("warns", "WARN hits", "hits"),
          new Metric("leaked_pins", "leaked pins", "pins"),
          new Metric("device_writes_lost", "device writes lost (orphaned page)", "writes"),
          new Metric("dummy_writes", "device writes to a dummy page", "writes"),
          new Metric("stall_p99_ns", "stall p99", "virtual ns"),
          new Metric("stall_max_ns", "stall max", "virtual ns"),
          new Metric("stall_p50_ns", "stall p50", "virtual ns"),
          new Metric("bytes_bounced", "bytes bounced", "bytes"),
          new Metric("migrations", "migrations", "pages"),
          new Metric("memory_overhead_bytes", "memory overhead", "bytes"),
          new Metric("ns_per_pin", "cost of a pin (wall clock)", "ns"));

  private LabSummary() {}

  /** The rows of one workload, policy and filesystem, over its seeds (the lab's aggregate). */
  public record Group(
      String workload, String policy, String fs, List<LabRow> rows, LabStats.Group lab) {
    /** The statistics of {@code m} over the seeds. */
    public LabStats.Stat stats(Metric m) {
      return lab.stat(m.column());
    }

    /** The errnos that refused the workload, or empty when every seed ran. */
    public String errnos() {
      TreeSet<String> e = new TreeSet<>();
      rows.forEach(r -> e.add(r.ran() ? "" : r.errno()));
      e.remove("");
      return String.join(",", e);
    }

    /** Rows that lost data beyond what the policy promises. */
    public long brokenPromises() {
      return rows.stream().filter(r -> r.bytesLost() > 0 && !r.lossWithinPromise()).count();
    }

    /** The category label: policy and filesystem (and workload when there are several). */
    public String label(boolean withWorkload) {
      return (withWorkload ? workload + " · " : "") + policy + " · " + fs;
    }
  }

  /** {@code rows} of comparison {@code c}, grouped, in the comparison's policy order. */
  public static List<Group> groups(Comparison c, List<LabRow> rows) {
    List<LabRow> mine = rows.stream().filter(r -> r.cell().comparison().equals(c.name())).toList();
    List<String> order = c.policies();
    List<Group> out = new ArrayList<>();
    for (LabStats.Group g : LabStats.aggregate(mine)) {
      LabCell k = g.cell();
      out.add(new Group(k.workload(), k.policy(), k.fs(), g.rows(), g));
    }
    out.sort(
        Comparator.comparing((Group g) -> g.workload())
            .thenComparingInt(
                g -> order.indexOf(g.policy()) < 0 ? Integer.MAX_VALUE : order.indexOf(g.policy()))
            .thenComparing(Group::fs));
    return out;
  }

  /** The metrics worth a column: those not zero in some row. */
  public static List<Metric> shown(List<Group> groups) {
    return METRICS.stream()
        .filter(m -> groups.stream().anyMatch(g -> g.rows().stream().anyMatch(r -> m.of(r) != 0)))
        .toList();
  }

  static boolean severalWorkloads(List<Group> groups) {
    return groups.stream().map(Group::workload).distinct().count() > 1;
  }

  /** The policy's name, marked when it is what mainline does. */
  static String policyLabel(String param, String policy) {
    PolicyRegistry reg = PolicyRegistry.global();
    boolean mainline = reg.hasParam(param) && policy.equals(reg.mainline(param));
    return mainline ? policy + " (mainline)" : policy;
  }

  /** The table: one row per group, mean ± 95% CI per shown metric. */
  public static ReportTable table(Comparison c, List<Group> groups) {
    boolean wl = severalWorkloads(groups);
    List<Metric> shown = shown(groups);
    List<String> headers = new ArrayList<>();
    if (wl) {
      headers.add("workload");
    }
    headers.addAll(List.of(c.policyParam(), "fs", "seeds", "refused"));
    shown.forEach(m -> headers.add(m.label() + " (" + m.unit() + ")"));
    boolean anyLoss =
        groups.stream().anyMatch(g -> g.rows().stream().anyMatch(r -> r.bytesLost() > 0));
    if (anyLoss) {
      headers.add("loss beyond promise (seeds)");
    }
    List<List<String>> rows = new ArrayList<>();
    for (Group g : groups) {
      List<String> r = new ArrayList<>();
      if (wl) {
        r.add(g.workload());
      }
      r.add(policyLabel(c.policyParam(), g.policy()));
      r.add(g.fs());
      r.add(Integer.toString(g.rows().size()));
      r.add(g.errnos().isEmpty() ? "no" : g.errnos());
      for (Metric m : shown) {
        LabStats.Stat s = g.stats(m);
        r.add(Fmt.meanCi(s.mean(), s.ci95()));
      }
      if (anyLoss) {
        r.add(Long.toString(g.brokenPromises()));
      }
      rows.add(r);
    }
    int seeds = groups.stream().mapToInt(g -> g.rows().size()).max().orElse(0);
    String caption =
        c.name()
            + ": mean"
            + (seeds > 1 ? " ± 95% CI over " + seeds + " seeds" : " of one seed")
            + " per "
            + c.policyParam()
            + " value and filesystem; stalls in virtual (simulated) time";
    return new ReportTable(caption, headers, rows);
  }

  /**
   * Sentences from the numbers: per metric that differs between policies, where it is lowest and
   * highest; per refused policy, the errno.
   */
  public static List<String> sentences(Comparison c, List<Group> groups) {
    List<String> out = new ArrayList<>();
    boolean wl = severalWorkloads(groups);
    for (Group g : groups) {
      if (!g.errnos().isEmpty()) {
        out.add(
            c.policyParam()
                + "="
                + g.policy()
                + " on "
                + g.fs()
                + " refused the workload with "
                + g.errnos()
                + ".");
      }
    }
    for (Metric m : shown(groups)) {
      if (m.column().equals("ns_per_pin")) {
        continue; // wall clock: not an outcome to rank in prose
      }
      Group lo = null;
      Group hi = null;
      for (Group g : groups) {
        double v = g.stats(m).mean();
        if (lo == null || v < lo.stats(m).mean()) {
          lo = g;
        }
        if (hi == null || v > hi.stats(m).mean()) {
          hi = g;
        }
      }
      if (lo == null || lo.stats(m).mean() == hi.stats(m).mean()) {
        continue;
      }
      out.add(
          capitalize(m.label())
              + ": most under "
              + hi.label(wl)
              + " ("
              + Fmt.meanCi(hi.stats(m).mean(), hi.stats(m).ci95())
              + " "
              + m.unit()
              + "), least under "
              + lo.label(wl)
              + " ("
              + Fmt.meanCi(lo.stats(m).mean(), lo.stats(m).ci95())
              + ").");
    }
    if (out.isEmpty() && !groups.isEmpty()) {
      out.add("Every " + c.policyParam() + " value measured the same on every column.");
    }
    return out;
  }

  /** The lab's chart of the comparison's rows (LabChart), as PNG bytes. */
  public static byte[] chart(Comparison c, List<Group> groups) {
    List<LabRow> rows = new ArrayList<>();
    groups.forEach(g -> rows.addAll(g.rows()));
    return LabChart.png(c.name() + ": " + c.question(), rows);
  }

  static String capitalize(String s) {
    return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1);
  }
}
