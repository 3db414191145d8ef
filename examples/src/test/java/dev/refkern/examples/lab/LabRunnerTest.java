package dev.refkern.examples.lab;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runner, the table, the statistics and the chart, on rows made without a kernel. */
class LabRunnerTest {
  @TempDir Path tmp;

  /** A row whose numbers follow from the cell, so order and aggregation are checkable. */
  static LabRow row(LabCell c, Path scratch) {
    assertTrue(Files.isDirectory(scratch), "a scratch directory per cell");
    long v = c.seed() * 10 + c.policy().length();
    return new LabRow(
        c, "rdma-nic", "", v, 2 * v, true, 1, 2, 3, 4 * v, 0, 0, 0, v % 2, 0, 0, 0, 0, 1.5);
  }

  static List<LabCell> cells(int seeds) {
    List<LabCell> out = new ArrayList<>();
    for (long s = 1; s <= seeds; s++) {
      for (String p : List.of("ignore", "bounce")) {
        for (String fs : List.of("ext4", "xfs")) {
          out.add(new LabCell("t", "t", p, fs, s));
        }
      }
    }
    return out;
  }

  @Test
  void rowsComeBackInCellOrderWhateverTheJobsAndScratchIsDeleted() {
    List<LabCell> cells = cells(3);
    AtomicInteger told = new AtomicInteger();
    LabRunner.Result one =
        new LabRunner(tmp.resolve("a"), 1, () -> false)
            .run(cells, LabRunnerTest::row, (c, r, d, t) -> told.incrementAndGet());
    LabRunner.Result two =
        new LabRunner(tmp.resolve("b"), 2, () -> false)
            .run(cells, LabRunnerTest::row, LabRunner.Progress.NONE);
    assertEquals(cells, one.rows().stream().map(LabRow::cell).toList());
    assertEquals(one.rows(), two.rows());
    assertEquals(cells.size(), told.get());
    assertFalse(one.stopped());
    assertEquals(0, tmp.resolve("a").toFile().list().length, "scratch directories deleted");
    assertEquals(0, tmp.resolve("b").toFile().list().length, "scratch directories deleted");
  }

  @Test
  void aStopEndsTheRunWithTheRowsSoFar() {
    AtomicBoolean stop = new AtomicBoolean();
    LabRunner.Result r =
        new LabRunner(tmp, 1, stop::get)
            .run(
                cells(2),
                LabRunnerTest::row,
                (c, row, done, total) -> stop.set(done == 3)); // Ctrl-C after the third cell
    assertTrue(r.stopped());
    assertEquals(cells(2).subList(0, 3), r.rows().stream().map(LabRow::cell).toList());
  }

  @Test
  void aFailingCellIsReportedAndTheOthersRun() {
    LabRunner.Result r =
        new LabRunner(tmp, 2, () -> false)
            .run(
                cells(1),
                (c, d) -> {
                  if (c.policy().equals("bounce") && c.fs().equals("xfs")) {
                    throw new IllegalStateException("boom");
                  }
                  return row(c, d);
                },
                LabRunner.Progress.NONE);
    assertEquals(3, r.rows().size());
    assertEquals(1, r.failures().size());
    assertTrue(
        r.failures().get(0).contains("t.t.bounce.xfs.1") && r.failures().get(0).contains("boom"));
  }

  @Test
  void statsAreMeanAndStudentInterval() {
    LabStats.Stat s = LabStats.of(new double[] {1, 2, 3, 4});
    assertEquals(2.5, s.mean(), 1e-9);
    // sd = 1.29099, t(3) = 3.182: 3.182 * 1.29099 / 2
    assertEquals(2.0540, s.ci95(), 1e-3);
    assertEquals(0, LabStats.of(new double[] {7}).ci95());
    List<LabRow> rows = new ArrayList<>();
    for (LabCell c : cells(3)) {
      rows.add(row(c, tmp));
    }
    List<LabStats.Group> g = LabStats.aggregate(rows);
    assertEquals(4, g.size(), "one group per policy × fs");
    assertEquals(3, g.get(0).seeds());
    // ignore: seeds 1..3 give 16, 26, 36 corrupted blocks
    assertEquals(26, g.get(0).stat("corrupted_blocks").mean(), 1e-9);
    assertEquals(1.0, g.get(0).stat("loss_within_promise").mean(), 1e-9);
  }

  @Test
  void tableHasOneLinePerGroupAndChartIsAPng() throws Exception {
    List<LabRow> rows = new ArrayList<>();
    for (LabCell c : cells(1)) {
      rows.add(row(c, tmp));
    }
    String one = LabTable.render(rows);
    assertEquals(5, one.lines().count(), one);
    assertTrue(
        one.lines().skip(1).allMatch(l -> l.split("\\s+").length == LabTable.HEADERS.size()), one);
    assertTrue(one.contains("ignore/ext4"), one);
    rows.clear();
    for (LabCell c : cells(3)) {
      rows.add(row(c, tmp));
    }
    String many = LabTable.render(rows);
    assertEquals(5, many.lines().count(), many);
    assertTrue(many.contains("26.0±"), many);
    byte[] png = LabChart.png("test", rows);
    assertNotNull(ImageIO.read(new ByteArrayInputStream(png)), "a decodable PNG");
  }
}
