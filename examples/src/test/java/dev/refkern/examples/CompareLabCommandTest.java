package dev.refkern.examples;

import static dev.refkern.examples.CliRun.run;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code refkern compare <lab comparison>}: the table, the PNG and CSV, bad input, --jobs. */
class CompareLabCommandTest {
  @TempDir Path tmp;

  @Test
  void tableChartAndCsvAndJobsDoNotChangeRows() throws Exception {
    CliRun one =
        run(
            "compare",
            "longterm",
            "--fs",
            "xfs",
            "--seed",
            "3",
            "--out",
            tmp.resolve("a").toString());
    assertEquals(0, one.exit(), one.out() + one.err());
    Map<String, Map<String, String>> t = one.table("cell");
    assertEquals("EFAULT", t.get("writeback/refuse/xfs").get("errno"), "seed=3\n" + one.out());
    assertEquals("-", t.get("writeback/allow/xfs").get("errno"), "seed=3\n" + one.out());
    assertNotNull(ImageIO.read(tmp.resolve("a/longterm.png").toFile()), "a decodable PNG");
    List<String> csv1 = Files.readAllLines(tmp.resolve("a/longterm.csv"));
    assertEquals(5, csv1.size(), "seed=3: header and four rows\n" + csv1);

    CliRun two =
        run(
            "compare",
            "longterm",
            "--fs",
            "xfs",
            "--seed",
            "3",
            "--jobs",
            "2",
            "--out",
            tmp.resolve("b").toString());
    assertEquals(0, two.exit(), two.out() + two.err());
    List<String> csv2 = Files.readAllLines(tmp.resolve("b/longterm.csv"));
    assertEquals(withoutWallClock(csv1), withoutWallClock(csv2), "seed=3: --jobs 2 = --jobs 1");
  }

  private static List<String> withoutWallClock(List<String> csv) {
    return csv.stream().map(l -> l.substring(0, l.lastIndexOf(','))).toList();
  }

  @Test
  void badInputIsEinvalOneLine() {
    String out = tmp.toString();
    for (String[] args :
        List.of(
            new String[] {"compare", "writeback", "--fs", "btrfs", "--out", out},
            new String[] {"compare", "writeback", "--seeds", "5..1", "--out", out},
            new String[] {"compare", "writeback", "--seeds", "x", "--out", out},
            new String[] {"compare", "writeback", "--seed", "1", "--seeds", "1..2", "--out", out},
            new String[] {"compare", "writeback", "--jobs", "0", "--out", out},
            new String[] {"compare", "no-such-comparison"})) {
      CliRun r = run(args);
      String what = String.join(" ", args);
      assertEquals(22, r.exit(), what + "\n" + r.out() + r.err());
      List<String> lines = r.err().lines().toList();
      assertEquals(1, lines.size(), what + "\n" + r.err());
      assertTrue(lines.get(0).startsWith("refkern: EINVAL: "), what + "\n" + r.err());
    }
    assertTrue(
        run("compare", "no-such-comparison").err().contains("writeback"),
        "names the known comparisons");
    assertEquals(0, tmp.toFile().list().length, "nothing written");
  }
}
