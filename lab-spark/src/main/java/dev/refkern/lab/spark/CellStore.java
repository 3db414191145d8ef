package dev.refkern.lab.spark;

import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The finished cells of a sweep under {@code OUT/cells/}: one small file per cell, named by {@link
 * LabCell#key()} and written by the driver with an atomic rename, so a sweep stopped at any point
 * leaves only whole rows and a rerun skips exactly the cells that have one.
 */
final class CellStore {
  private static final String SUFFIX = ".csv";
  private final Path dir;

  CellStore(Path out) {
    this.dir = out.resolve("cells");
  }

  Path dir() {
    return dir;
  }

  /** Where a cell's row lives: a folder per comparison and thousand seeds keeps folders small. */
  Path file(LabCell c) {
    return dir.resolve(c.comparison())
        .resolve(Long.toUnsignedString(c.seed() / 1000))
        .resolve(c.key() + SUFFIX);
  }

  boolean done(LabCell c) {
    return Files.isRegularFile(file(c));
  }

  /** Writes a row's file: temp file then rename, so a reader never sees half a row. */
  void put(LabRow row) {
    Path f = file(row.cell());
    try {
      Files.createDirectories(f.getParent());
      // one writer per cell (the driver), so a fixed name; createTempFile would make it 0600
      Path tmp = f.resolveSibling("." + f.getFileName() + ".tmp");
      Files.writeString(tmp, RowCodec.encode(row) + "\n", StandardCharsets.UTF_8);
      try {
        Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + f, e);
    }
  }

  /** Every finished row, in key order (comparison, workload, policy, fs, then seed). */
  List<LabRow> all() {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    List<LabRow> rows = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        String name = f.getFileName().toString();
        if (!name.endsWith(SUFFIX) || !Files.isRegularFile(f)) {
          continue; // a .tmp left by a killed driver is not a row
        }
        LabRow row = RowCodec.decode(Files.readString(f, StandardCharsets.UTF_8).strip());
        if (seen.add(row.cell().key())) {
          rows.add(row);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + dir, e);
    }
    rows.sort(ORDER);
    return rows;
  }

  static final Comparator<LabRow> ORDER =
      Comparator.comparing((LabRow r) -> r.cell().comparison())
          .thenComparing(r -> r.cell().workload())
          .thenComparing(r -> r.cell().policy())
          .thenComparing(r -> r.cell().fs())
          .thenComparing(r -> r.cell().seed(), Long::compareUnsigned);
}
