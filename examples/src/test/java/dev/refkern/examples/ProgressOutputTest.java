package dev.refkern.examples;

import static dev.refkern.examples.CliRun.run;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Progress bars go to stderr only when asked; stdout never carries one. */
class ProgressOutputTest {
  /** What the progressbar library draws: its unicode blocks and its carriage-return redraws. */
  private static final String BAR_CHARS = "█▏▎▍▌▋▊▉\r";

  @TempDir Path tmp;

  private static boolean hasBar(String s) {
    return s.chars().anyMatch(c -> BAR_CHARS.indexOf(c) >= 0);
  }

  private String[] boot(String progress) {
    return new String[] {
      "boot", "--cmdline", "mem=256M", "--state", tmp.toString(), "--reset", progress
    };
  }

  @Test
  void noProgressDrawsNoBar() {
    CliRun b = run(boot("--no-progress"));
    assertEquals(0, b.exit(), b.out() + b.err());
    assertFalse(hasBar(b.err()), b.err());
    assertFalse(hasBar(b.out()), b.out());
    CliRun i = run("inspect", "--state", tmp.toString(), "--no-progress");
    assertEquals(0, i.exit(), i.out() + i.err());
    assertFalse(hasBar(i.err()), i.err());
    assertFalse(hasBar(i.out()), i.out());
  }

  @Test
  void withoutAConsoleTheDefaultIsNoBar() {
    // surefire's forked JVM has no console, like CI and a pipe
    CliRun b = run("boot", "--cmdline", "mem=256M", "--state", tmp.toString(), "--reset");
    assertEquals(0, b.exit(), b.out() + b.err());
    assertFalse(hasBar(b.err()), b.err());
  }

  @Test
  void progressDrawsABarOnStderrOnly() {
    CliRun b = run(boot("--progress"));
    assertEquals(0, b.exit(), b.out() + b.err());
    assertTrue(hasBar(b.err()), "a bar on stderr: " + b.err());
    assertTrue(b.err().contains("boot 100%"), "the bar ends full: " + b.err());
    assertFalse(hasBar(b.out()), b.out());
    CliRun i = run("inspect", "--state", tmp.toString(), "--progress");
    assertEquals(0, i.exit(), i.out() + i.err());
    assertTrue(i.err().contains("inspect 100%"), i.err());
    assertFalse(hasBar(i.out()), i.out());
  }
}
