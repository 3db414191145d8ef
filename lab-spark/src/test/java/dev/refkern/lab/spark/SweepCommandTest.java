package dev.refkern.lab.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code refkern sweep} on the command line: bad input is one errno line, a run prints paths. */
class SweepCommandTest {
  @TempDir Path tmp;

  record Run(int exit, String out, String err) {}

  private static synchronized Run run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream oldOut = System.out;
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      PrintWriter e = new PrintWriter(err, true, StandardCharsets.UTF_8);
      int exit = executeWithErr(args, e);
      return new Run(
          exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
    }
  }

  private static int executeWithErr(String[] args, PrintWriter err) {
    PrintStream oldErr = System.err;
    try {
      System.setErr(
          new PrintStream(
              new java.io.OutputStream() {
                @Override
                public void write(int b) {
                  err.write(b);
                }
              },
              true,
              StandardCharsets.UTF_8));
      return SweepCommand.execute(
          new SweepCommand(TinyComparison.source(null), SweepReport.HTML), args);
    } finally {
      err.flush();
      System.setErr(oldErr);
    }
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--seeds 5..1|seeds 5..1",
        "--seeds lots|bad seeds",
        "--compare nope|unknown comparison 'nope'; known: tiny",
        "--fs zfs|unknown filesystem 'zfs'",
        "--master yarn-ish://x|bad master 'yarn-ish://x'",
        "--master local[0]|bad master",
        "--executors -2|--executors",
        "--conf novalue|bad --conf",
        "--bogus|Unknown option"
      })
  void badInputIsOneEinvalLine(String args, String message) {
    Run r = run((args + " --out " + tmp.resolve("o")).split(" "));
    assertEquals(22, r.exit(), r.err());
    List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
    assertEquals(1, lines.size(), "one line, no stack trace: " + r.err());
    assertTrue(lines.get(0).startsWith("refkern: EINVAL: "), lines.get(0));
    assertTrue(lines.get(0).contains(message), lines.get(0));
    assertFalse(Files.exists(tmp.resolve("o")), "bad input writes nothing");
  }

  @Test
  void aRunPrintsCountsAndPaths() throws Exception {
    Path out = tmp.resolve("ok");
    Run r =
        run(
            "--seeds",
            "1..2",
            "--fs",
            "ext4",
            "--executors",
            "1",
            "--out",
            out.toString(),
            "--no-progress");
    assertEquals(0, r.exit(), r.err());
    assertTrue(r.out().contains("sweep: 4 cells, 0 already done, 4 run now"), r.out());
    assertEquals(5, Files.readAllLines(out.resolve("rows.csv")).size());
    assertTrue(Files.size(out.resolve("rows.parquet")) > 0);
    String html = Files.readString(out.resolve("report.html"));
    assertTrue(html.contains("refkern sweep --seeds 1..2 --fs ext4"), "the reproducing command");
    assertTrue(r.out().contains("report: " + out.resolve("report.html")), r.out());
    Run again = run("--seeds", "1..2", "--fs", "ext4", "--out", out.toString(), "--no-progress");
    assertEquals(0, again.exit(), again.err());
    assertTrue(again.out().contains("sweep: 4 cells, 4 already done, 0 run now"), again.out());
  }
}
