package dev.refkern.lab.spark;

import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import scala.collection.Iterator;
import scala.runtime.AbstractFunction1;

/**
 * What one Spark task does on an executor: runs each cell of its partition in a fresh temporary
 * directory (deleted afterwards) and returns the rows as CSV lines, which the driver stores.
 */
final class CellTask extends AbstractFunction1<Iterator<String>, String[]> implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Marks a cell's failure in the task's exception, for the driver's one-line message. */
  static final String FAILED = "refkern cell ";

  private final ComparisonSource source;

  CellTask(ComparisonSource source) {
    this.source = source;
  }

  @Override
  public String[] apply(Iterator<String> cells) {
    List<String> rows = new ArrayList<>();
    while (cells.hasNext()) {
      rows.add(RowCodec.encode(run(source, RowCodec.decodeCell(cells.next()))));
    }
    return rows.toArray(String[]::new);
  }

  /** One cell in a fresh scratch directory; the same call the single-threaded loop makes. */
  static LabRow run(ComparisonSource source, LabCell cell) {
    Path scratch = null;
    try {
      Comparison c = find(source, cell.comparison());
      scratch = Files.createTempDirectory("refkern-cell-");
      return c.run(cell, scratch);
    } catch (IOException | RuntimeException e) {
      // the executor's stack means nothing to the user; the driver prints this line
      throw new IllegalStateException(FAILED + cell.key() + " failed: " + describe(e), e);
    } finally {
      if (scratch != null) {
        delete(scratch);
      }
    }
  }

  static Comparison find(ComparisonSource source, String name) {
    for (Comparison c : source.all()) {
      if (c.name().equals(name)) {
        return c;
      }
    }
    throw new IllegalArgumentException("no comparison '" + name + "' on this executor");
  }

  private static String describe(Exception e) {
    if (e instanceof KernelException) {
      return e.getMessage();
    }
    return e.getClass().getSimpleName() + ": " + e.getMessage();
  }

  private static void delete(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete scratch " + dir, e);
    }
  }
}
