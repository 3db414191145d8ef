package dev.refkern.lab.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sweep on embedded Spark against a plain loop over the same cells. */
class SparkSweepTest {
  @TempDir Path tmp;

  private static SparkSweep.Settings settings(String master, Path out, int limit) {
    return new SparkSweep.Settings(
        master, 0, out, Map.of(), List.of(), limit, false, "refkern sweep --seeds 1..4");
  }

  /** The single-threaded loop: each cell in its own fresh scratch directory, in order. */
  private static List<LabRow> loop(ComparisonSource source, List<LabCell> cells) {
    List<LabRow> rows = new ArrayList<>();
    for (LabCell c : cells) {
      rows.add(CellTask.run(source, c));
    }
    return rows;
  }

  private static void assertSameRows(List<LabRow> expected, List<LabRow> actual, String what) {
    Map<String, LabRow> byKey = new HashMap<>();
    for (LabRow r : actual) {
      assertEquals(null, byKey.put(r.cell().key(), r), what + ": two rows for " + r.cell());
    }
    assertEquals(expected.size(), actual.size(), what + ": one row per cell");
    for (LabRow e : expected) {
      LabRow a = byKey.get(e.cell().key());
      assertTrue(a != null && e.sameOutcome(a), what + ": cell " + e.cell() + " " + e + " vs " + a);
    }
  }

  @Test
  void rowsOnTwoSlotsEqualThePlainLoopAndLandInCsvAndParquet() throws Exception {
    ComparisonSource source = TinyComparison.source(null);
    SparkSweep sweep = new SparkSweep(source, SweepReport.NONE);
    List<LabCell> cells = sweep.cells(List.of("tiny"), List.of(), new SeedRange(1, 4));
    assertEquals(4 * 2 * 2, cells.size(), "seeds × policies × filesystems");
    Path out = tmp.resolve("out");

    SparkSweep.Result r = sweep.run(cells, settings("local[2]", out, -1));

    assertEquals(cells.size(), r.ran());
    assertSameRows(loop(source, cells), r.rows(), "sweep on local[2]");
    List<String> csv = Files.readAllLines(out.resolve("rows.csv"));
    assertEquals(String.join(",", LabRow.COLUMNS), csv.get(0));
    assertSameRows(
        r.rows(), csv.subList(1, csv.size()).stream().map(RowCodec::decode).toList(), "rows.csv");

    SparkSession spark =
        SparkSession.builder().master("local[1]").config("spark.ui.enabled", "false").getOrCreate();
    try {
      Dataset<Row> pq = spark.read().parquet(out.resolve("rows.parquet").toString());
      assertEquals(LabRow.COLUMNS, List.of(pq.columns()));
      List<LabRow> fromParquet = new ArrayList<>();
      for (Row row : pq.collectAsList()) {
        fromParquet.add(RowCodec.decode(String.join(",", toStrings(row))));
      }
      assertSameRows(r.rows(), fromParquet, "rows.parquet");
    } finally {
      spark.stop();
    }
  }

  private static List<String> toStrings(Row row) {
    List<String> s = new ArrayList<>();
    for (int i = 0; i < row.length(); i++) {
      s.add(String.valueOf(row.get(i)));
    }
    return s;
  }

  @Test
  void aFailedSweepResumesWithExactlyOneRowPerCell() throws Exception {
    SparkSweep probe = new SparkSweep(TinyComparison.source(null), SweepReport.NONE);
    List<LabCell> cells = probe.cells(List.of("tiny"), List.of("ext4"), new SeedRange(1, 5));
    Path out = tmp.resolve("resume");

    // first run: a limited part of the cells, then a failure in the middle of the rest
    SparkSweep.Result part = probe.run(cells, settings("local[1]", out, 3));
    assertEquals(3, part.ran());
    assertEquals(3, part.rows().size());
    String failKey = cells.get(6).key();
    KernelException ex =
        assertThrows(
            KernelException.class,
            () ->
                new SparkSweep(TinyComparison.source(failKey), SweepReport.NONE)
                    .run(cells, settings("local[1]", out, -1)));
    assertEquals(Errno.EIO, ex.errno());
    assertTrue(ex.getMessage().contains(failKey), ex.getMessage());
    int stored = new CellStore(out).all().size();
    assertTrue(stored >= 3 && stored < cells.size(), "stored " + stored + " before the failure");

    // rerun: only the missing cells run, and every cell has exactly one row
    int before = TinyComparison.RUNS.get();
    SparkSweep.Result rest = probe.run(cells, settings("local[2]", out, -1));
    assertEquals(stored, rest.resumed());
    assertEquals(cells.size() - stored, rest.ran());
    assertEquals(cells.size() - stored, TinyComparison.RUNS.get() - before, "cells run again");
    assertSameRows(loop(TinyComparison.source(null), cells), rest.rows(), "resumed sweep");
    List<String> csv = Files.readAllLines(out.resolve("rows.csv"));
    assertEquals(cells.size() + 1, csv.size(), "header and one line per cell");

    // a third run finds nothing to do and starts no Spark job
    SparkSweep.Result none = probe.run(cells, settings("local[1]", out, -1));
    assertEquals(0, none.ran());
    assertEquals(cells.size(), none.resumed());
    assertFalse(Files.exists(out.resolve("cells").resolve(".tmp")));
  }

  @Test
  void cellsAreSeedMajorAndFilteredByFilesystem() {
    SparkSweep sweep = new SparkSweep(TinyComparison.source(null), SweepReport.NONE);
    List<LabCell> cells = sweep.cells(List.of(), List.of("xfs"), new SeedRange(7, 8));
    assertEquals(
        List.of(
            "tiny.tiny.alpha.xfs.7",
            "tiny.tiny.beta.xfs.7",
            "tiny.tiny.alpha.xfs.8",
            "tiny.tiny.beta.xfs.8"),
        cells.stream().map(LabCell::key).toList());
  }
}
