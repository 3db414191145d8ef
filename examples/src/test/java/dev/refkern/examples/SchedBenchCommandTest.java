package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.mm.sched.SimScheduler;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code refkern schedbench} in process, tiny: its output's shape, not its speed. */
class SchedBenchCommandTest {
  @Test
  void printsOneRatePerImplementationThisJvmCanRun() {
    CliRun r = CliRun.run("schedbench", "--points", "2000", "--threads", "3", "--no-progress");
    assertEquals(0, r.exit(), r.out() + r.err());
    List<String> lines = r.out().lines().toList();
    assertTrue(lines.get(0).startsWith("schedbench seed=0x2a threads=3 points=2000"), r.out());
    assertTrue(lines.get(1).startsWith("implementation"), r.out());
    assertTrue(Double.parseDouble(rate(lines, "parked")) > 0, r.out());
    if (SimScheduler.Implementation.continuationsAvailable()) {
      assertTrue(Double.parseDouble(rate(lines, "continuation")) > 0, r.out());
      assertTrue(lines.stream().anyMatch(l -> l.startsWith("speed-up: ")), r.out());
    } else {
      assertTrue(
          lines.stream()
              .anyMatch(
                  l -> l.startsWith("continuation: not available") && l.contains("JAVA_HOME")),
          r.out());
    }
  }

  @Test
  void badCountsAreEinval() {
    for (String[] args :
        new String[][] {{"schedbench", "--threads", "0"}, {"schedbench", "--points", "-1"}}) {
      CliRun r = CliRun.run(args);
      assertEquals(22, r.exit(), String.join(" ", args) + ": " + r.err());
      assertTrue(r.err().contains("EINVAL"), r.err());
      assertTrue(!r.err().contains("\tat "), "no stack trace: " + r.err());
    }
  }

  private static String rate(List<String> lines, String impl) {
    return lines.stream()
        .filter(l -> l.startsWith(impl + " "))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no row for " + impl + " in " + lines))
        .trim()
        .split("\\s+")[1];
  }
}
