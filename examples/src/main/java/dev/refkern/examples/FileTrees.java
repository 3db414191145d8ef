package dev.refkern.examples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** {@code rm -rf}: removes the scratch directories the commands and benchmarks boot kernels in. */
public final class FileTrees {
  private FileTrees() {}

  /** Deletes {@code dir} and everything under it; a missing {@code dir} is not an error. */
  public static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
