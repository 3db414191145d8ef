package dev.refkern.examples.report;

import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.examples.lab.PowerCutRow;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Report data built from fake comparisons, for tests that must not wait for real ones: a comparison
 * over {@code writeback.pinned} (argued by seeds 001 and 003), one over a parameter no seed argues,
 * a power-cut matrix and one extra section.
 */
final class FakeReportData {
  private FakeReportData() {}

  /** A comparison of fixed policies whose rows come from a formula of the seed. */
  record Fake(String name, String policyParam, List<String> policies) implements Comparison {
    @Override
    public String question() {
      return "Does " + name + " lose data?";
    }

    @Override
    public LabRow run(LabCell cell, Path scratch) {
      int p = policies.indexOf(cell.policy());
      long s = cell.seed();
      boolean refused = cell.policy().equals("refused");
      return new LabRow(
          cell,
          "rdma-nic",
          refused ? "EFAULT" : "",
          p == 0 ? 3 + s % 3 : 0,
          p == 1 ? 4096 * (1 + s % 2) : 0,
          p != 1,
          1000 * (p + 1),
          5000 * (p + 1) + s,
          9000 * (p + 1),
          p == 2 ? 8192 : 0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          p * 64L,
          10.0 + p);
    }
  }

  static final Fake WRITEBACK =
      new Fake("writeback", "writeback.pinned", List.of("ignore", "wait", "bounce", "skip"));
  static final Fake ORPHAN = new Fake("unargued", "nobody.argues", List.of("a", "refused"));

  static final List<String> COMMANDS =
      List.of(
          "./refkern compare writeback --seeds 1..3",
          "./refkern compare unargued --seeds 1..3",
          "./refkern powercut --seeds 1..3",
          "./refkern compare pin-tracking --seed 1 --pages 512");

  static ReportData data() {
    List<LabRow> rows = new ArrayList<>();
    for (Comparison c : List.of(WRITEBACK, ORPHAN)) {
      for (long seed = 1; seed <= 3; seed++) {
        for (LabCell cell : c.cells(seed)) {
          rows.add(c.run(cell, Path.of("unused")));
        }
      }
    }
    List<PowerCutRow> pc = new ArrayList<>();
    for (long seed = 1; seed <= 3; seed++) {
      pc.add(
          new PowerCutRow("ext4", "ignore", "orphan", seed, 12, 10, 2, 0, "entry 7: stale data"));
      pc.add(new PowerCutRow("xfs", "bounce", "revoke", seed, 12, 12, 0, 0, ""));
    }
    ReportSection extra =
        new ReportSection(
            "pin-tracking",
            "compare pin-tracking",
            "Which design misses pins?",
            List.of("gup.pin_tracking"),
            COMMANDS.get(3),
            List.of("bias missed 0 pins."),
            List.of(
                new ReportTable(
                    "pins",
                    List.of("policy", "missed"),
                    List.of(List.of("bias", "0"), List.of("page_flag", "3")))),
            List.of(ReportChart.png("a 1x1 PNG", TINY_PNG)));
    return new ReportData(
        new ReportHeader(
            "test machine", "test JDK", "2026-01-01T00:00:00Z", "1..3", "refkern 0.1.0"),
        SeedThreads.ALL,
        List.of(WRITEBACK, ORPHAN),
        rows,
        pc,
        List.of(extra),
        Map.of(
            "writeback",
            COMMANDS.get(0),
            "unargued",
            COMMANDS.get(1),
            ReportData.POWER_CUT,
            COMMANDS.get(2)));
  }

  /** A valid 1×1 PNG. */
  static final byte[] TINY_PNG =
      java.util.Base64.getDecoder()
          .decode(
              "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");
}
