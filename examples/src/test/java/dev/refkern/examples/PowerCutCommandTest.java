package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code refkern powercut}: bad input is one errno line; a small slice prints, writes CSV/PNG. */
class PowerCutCommandTest {
  private static final String SEEDS = "seeds 000/001/003 (pinned writeback and truncate)";

  @TempDir Path tmp;

  @Test
  void badInputIsOneEinvalLineAndNothingRuns() {
    String out = tmp.resolve("o").toString();
    for (String[] args :
        new String[][] {
          {"powercut", "--fs", "flatfs", "--out", out},
          {"powercut", "--fs", "nosuchfs", "--out", out},
          {"powercut", "--writeback", "nosuch", "--out", out},
          {"powercut", "--truncate", "nosuch", "--out", out},
          {"powercut", "--max-states", "-1", "--out", out},
          {"powercut", "--seed", "x", "--out", out},
          {"powercut", "--bogus"}
        }) {
      String what = String.join(" ", args);
      CliRun r = CliRun.run(args);
      List<String> lines = r.err().lines().toList();
      assertEquals(22, r.exit(), SEEDS + ": " + what + "\n" + r.out() + r.err());
      assertEquals(1, lines.size(), what + "\n" + r.err());
      assertTrue(lines.get(0).startsWith("refkern: EINVAL: "), what + "\n" + r.err());
      assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), what);
    }
    assertFalse(Files.exists(tmp.resolve("o")), "nothing written");
  }

  @Test
  void aSliceOfTheMatrixPrintsItsTableAndWritesCsvAndPng() throws Exception {
    Path out = tmp.resolve("out");
    CliRun r =
        CliRun.run(
            "powercut",
            "--fs",
            "xfs",
            "--writeback",
            "ignore,bounce",
            "--truncate",
            "orphan",
            "--seed",
            "1",
            "--max-states",
            "4",
            "--no-progress",
            "--out",
            out.toString());
    assertEquals(0, r.exit(), SEEDS + "\n" + r.out() + r.err());
    assertTrue(r.out().contains("metadata corrupt"), r.out());
    List<String> csv = Files.readAllLines(out.resolve("powercut.csv"));
    assertEquals(3, csv.size(), String.join("\n", csv));
    assertTrue(csv.get(1).startsWith("xfs,ignore,orphan,1,4,"), SEEDS + ": " + csv);
    assertTrue(csv.get(2).startsWith("xfs,bounce,orphan,1,4,4,0,0,"), SEEDS + ": " + csv);
    byte[] png = Files.readAllBytes(out.resolve("powercut.png"));
    assertTrue(png.length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G');
  }
}
