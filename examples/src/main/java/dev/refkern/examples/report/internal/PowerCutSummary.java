package dev.refkern.examples.report.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.examples.lab.PowerCutRow;
import dev.refkern.examples.report.ReportTable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/** The power-cut matrix over any number of seeds: crash states summed per configuration. */
@API(status = INTERNAL, since = "0.1.0")
public final class PowerCutSummary {
  private PowerCutSummary() {}

  /** One configuration's crash states, summed over its seeds, and its first bad state. */
  public record Cell(
      String fs,
      String writeback,
      String truncate,
      int seeds,
      long states,
      long consistent,
      long dataLost,
      long metadataCorrupt,
      String firstBad) {
    String label() {
      return fs + " · " + writeback + " · " + truncate;
    }
  }

  /** The rows summed per filesystem, writeback and truncate policy, in first-seen order. */
  public static List<Cell> cells(List<PowerCutRow> rows) {
    Map<List<String>, List<PowerCutRow>> by = new LinkedHashMap<>();
    for (PowerCutRow r : rows) {
      by.computeIfAbsent(List.of(r.fs(), r.writeback(), r.truncate()), k -> new ArrayList<>())
          .add(r);
    }
    List<Cell> out = new ArrayList<>();
    by.forEach(
        (k, v) -> {
          String bad =
              v.stream()
                  .filter(r -> !r.firstBad().isEmpty())
                  .map(r -> "seed " + Long.toUnsignedString(r.seed()) + ": " + r.firstBad())
                  .findFirst()
                  .orElse("");
          out.add(
              new Cell(
                  k.get(0),
                  k.get(1),
                  k.get(2),
                  v.size(),
                  v.stream().mapToLong(PowerCutRow::states).sum(),
                  v.stream().mapToLong(PowerCutRow::consistent).sum(),
                  v.stream().mapToLong(PowerCutRow::dataLost).sum(),
                  v.stream().mapToLong(PowerCutRow::metadataCorrupt).sum(),
                  bad));
        });
    return out;
  }

  /** The table. */
  public static ReportTable table(List<Cell> cells) {
    List<List<String>> rows = new ArrayList<>();
    for (Cell c : cells) {
      rows.add(
          List.of(
              c.fs(),
              c.writeback(),
              c.truncate(),
              Integer.toString(c.seeds()),
              Long.toString(c.states()),
              Long.toString(c.consistent()),
              Long.toString(c.dataLost()),
              Long.toString(c.metadataCorrupt()),
              c.firstBad().isEmpty() ? "—" : c.firstBad()));
    }
    return new ReportTable(
        "Crash states replayed to every FLUSH/FUA point, recovered and fsck'd, summed over the"
            + " seeds",
        List.of(
            "fs",
            "writeback.pinned",
            "truncate.pinned",
            "seeds",
            "states",
            "consistent",
            "data lost",
            "metadata corrupt",
            "first bad state"),
        rows);
  }

  /** A stacked bar per configuration: consistent, data lost, metadata corrupt. */
  public static String chart(List<Cell> cells) {
    List<String> cats = cells.stream().map(Cell::label).toList();
    SvgBars.Panel p =
        new SvgBars.Panel(
            "Crash states by outcome",
            "states",
            cats,
            List.of(
                new SvgBars.Series(
                    "consistent",
                    "#009E73",
                    cells.stream().mapToDouble(Cell::consistent).toArray(),
                    null),
                new SvgBars.Series(
                    "data lost",
                    "#E69F00",
                    cells.stream().mapToDouble(Cell::dataLost).toArray(),
                    null),
                new SvgBars.Series(
                    "metadata corrupt",
                    "#D55E00",
                    cells.stream().mapToDouble(Cell::metadataCorrupt).toArray(),
                    null)),
            true);
    return SvgBars.render("power-cut matrix: crash states by outcome", List.of(p));
  }

  /** Sentences from the numbers: which configurations lost data or corrupted metadata. */
  public static List<String> sentences(List<Cell> cells) {
    List<String> out = new ArrayList<>();
    long states = cells.stream().mapToLong(Cell::states).sum();
    List<String> lost = new ArrayList<>();
    List<String> corrupt = new ArrayList<>();
    for (Cell c : cells) {
      if (c.dataLost() > 0) {
        lost.add(c.label() + " (" + c.dataLost() + "/" + c.states() + ")");
      }
      if (c.metadataCorrupt() > 0) {
        corrupt.add(c.label() + " (" + c.metadataCorrupt() + "/" + c.states() + ")");
      }
    }
    out.add(
        states
            + " crash states over "
            + cells.size()
            + " configurations (fs · writeback · truncate).");
    out.add(
        lost.isEmpty()
            ? "No configuration lost data it promised to keep."
            : "Lost promised data: " + String.join(", ", lost) + ".");
    out.add(
        corrupt.isEmpty()
            ? "No state had corrupt metadata."
            : "Metadata corrupt: " + String.join(", ", corrupt) + ".");
    return out;
  }
}
