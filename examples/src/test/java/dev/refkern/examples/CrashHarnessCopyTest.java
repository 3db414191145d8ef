package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * {@code refkern crashtest}'s harness is a copy of ext4's test harness (tests do not ship in the
 * launcher): the two must not drift apart.
 */
class CrashHarnessCopyTest {
  private static final Path EXT4 = Path.of("../fs-plugins/ext4/src/test/java/dev/refkern/fs/ext4");
  private static final Path CLI = Path.of("src/main/java/dev/refkern/examples/cli");

  private static String normalized(Path p) throws IOException {
    return Files.readString(p)
        .replaceFirst("package [\\w.]+;", "package X;")
        .replaceFirst("import dev\\.refkern\\.[\\w.]+\\.FsStress", "import X.FsStress")
        .replaceFirst(
            "\n \\*\n \\* <p>A copy of \\{@code fs-plugins/ext4\\}'s test class of the same name"
                + " \\(tests cannot ship in the\n \\* launcher\\); change both together\\.",
            "");
  }

  @Test
  void theCrashHarnessAndItsWorkloadAreTheSameAsExt4s() throws IOException {
    for (String f : new String[] {"CrashHarness.java", "FsStress.java"}) {
      assertEquals(normalized(EXT4.resolve(f)), normalized(CLI.resolve(f)), f);
    }
  }
}
