package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.examples.fs.PinnedRangeWorkload;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code refkern pinbench} in process, tiny: one row per registered {@code pinned_writeback=}
 * value, the CSV of {@code --out}, and bad input as one errno line.
 */
class PinBenchCommandTest {
  @TempDir Path tmp;

  @Test
  void aTinyRunPrintsOneRowPerPolicyAndTheSameCsv() throws Exception {
    Path csv = tmp.resolve("out/pinbench.csv");
    CliRun r =
        CliRun.run(
            "pinbench",
            "--fs",
            "flatfs",
            "--pages",
            "16",
            "--pinned",
            "4",
            "--rounds",
            "2",
            "--seed",
            "7",
            "--out",
            csv.toString(),
            "--no-progress");
    assertEquals(0, r.exit(), r.out() + r.err());
    assertEquals("", r.err());
    Map<String, Map<String, String>> rows = byPolicy(r.out());
    assertEquals(
        Set.copyOf(PinnedRangeWorkload.policies()),
        rows.keySet(),
        "one row per policy: " + r.out());
    for (Map<String, String> row : rows.values()) {
      assertEquals("flatfs", row.get("fs"), r.out());
      assertEquals("2", row.get("rounds"), r.out());
      assertEquals("0", row.get("lost-B"), r.out());
    }
    assertTrue(Long.parseLong(rows.get("ignore").get("mismatches")) > 0, r.out());
    assertEquals("0", rows.get("bounce").get("mismatches"), r.out());
    assertTrue(Long.parseLong(rows.get("bounce").get("bounced-B")) > 0, r.out());
    assertEquals("2", rows.get("wait").get("stalls"), r.out());
    List<String> lines = Files.readAllLines(csv);
    assertEquals(1 + rows.size(), lines.size(), String.join("\n", lines));
    assertTrue(lines.get(0).startsWith("fs,policy,rounds,written-B,"), lines.get(0));
  }

  /** The table's rows by their policy cell (one filesystem ran). */
  private static Map<String, Map<String, String>> byPolicy(String out) {
    List<String> lines = out.lines().toList();
    int h = 0;
    while (h < lines.size() && !lines.get(h).startsWith("fs ")) {
      h++;
    }
    assertTrue(h < lines.size(), "no table in:\n" + out);
    String[] headers = lines.get(h).trim().split("\\s+");
    Map<String, Map<String, String>> rows = new HashMap<>();
    for (String line : lines.subList(h + 1, lines.size())) {
      String[] cells = line.trim().split("\\s+");
      if (cells.length == headers.length) {
        Map<String, String> row = new HashMap<>();
        for (int i = 0; i < cells.length; i++) {
          row.put(headers[i], cells[i]);
        }
        rows.put(cells[1], row);
      }
    }
    return rows;
  }

  @Test
  void badInputIsOneErrnoLine() {
    CliRun u = CliRun.run("pinbench", "--fs", "nosuchfs");
    assertEquals(19, u.exit(), u.out() + u.err());
    assertTrue(u.err().startsWith("refkern: ENODEV: unknown filesystem type 'nosuchfs'"), u.err());
    assertEquals(1, u.err().lines().count(), u.err());
    CliRun t = CliRun.run("pinbench", "--fs", "tmpfs");
    assertEquals(22, t.exit(), t.out() + t.err());
    assertEquals("refkern: EINVAL: tmpfs: not a filesystem on a device\n", t.err());
    CliRun p = CliRun.run("pinbench", "--pages", "8", "--pinned", "9");
    assertEquals(22, p.exit(), p.out() + p.err());
    assertEquals("refkern: EINVAL: --pinned 9: must be 1 to --pages\n", p.err());
    CliRun n = CliRun.run("pinbench", "--rounds", "0");
    assertEquals(22, n.exit(), n.out() + n.err());
    assertEquals("", n.out());
  }
}
