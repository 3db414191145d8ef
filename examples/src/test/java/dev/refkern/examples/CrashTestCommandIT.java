package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code refkern crashtest} run the way {@code ./refkern} runs it (the packaged jar on the module
 * path, in a separate process), with tiny numbers: its summary table, its violation lines, a bad
 * option's one line, and SIGINT's clean stop with a summary of what was checked.
 */
class CrashTestCommandIT {
  @TempDir Path tmp;

  private List<String> command(String... args) throws Exception {
    Path target = Path.of(System.getProperty("refkern.launcher.dir", "target"));
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    for (String a : Files.readString(target.resolve("launcher/jvm.args")).trim().split("\\s+")) {
      cmd.add(a);
    }
    cmd.add("-Djava.util.logging.config.file=" + target.resolve("launcher/logging.properties"));
    cmd.add("-Djava.io.tmpdir=" + tmp);
    cmd.add("--module-path");
    cmd.add(target.resolve("lib") + File.pathSeparator + target.resolve("refkern-examples.jar"));
    cmd.addAll(List.of("--add-modules", "ALL-MODULE-PATH"));
    cmd.addAll(List.of("-m", "dev.refkern.examples/dev.refkern.examples.cli.Main"));
    cmd.addAll(List.of(args));
    return cmd;
  }

  private CliRun run(String... args) throws Exception {
    Path err = Files.createTempFile(tmp, "err", ".txt");
    Process p = new ProcessBuilder(command(args)).redirectError(err.toFile()).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(300, TimeUnit.SECONDS), "timed out: " + String.join(" ", args));
    StringBuilder e = new StringBuilder();
    for (String line : Files.readString(err).split("\n", -1)) {
      if (!line.startsWith("WARNING: ") && !line.isEmpty()) {
        e.append(line).append('\n'); // JDK 24+ warns about native access on stderr
      }
    }
    return new CliRun(p.exitValue(), out, e.toString());
  }

  @Test
  void aTinyRunPrintsItsTableAndEachViolationWithSeedAndEntry() throws Exception {
    CliRun r = run("crashtest", "--seeds", "2", "--seed", "5", "--ops", "12", "--torn");
    assertTrue(r.exit() == 0 || r.exit() == 1, "0 clean, 1 violations: " + r.out() + r.err());
    assertEquals("", r.err());
    Map<String, String> row = r.table("fs").get("ext4");
    assertEquals("torn", row.get("replay"));
    assertEquals("2", row.get("seeds"));
    assertEquals("12", row.get("ops"));
    long states = Long.parseLong(row.get("states"));
    assertTrue(states > 2, r.out());
    long violations = Long.parseLong(row.get("violations"));
    assertEquals(
        violations,
        r.out().lines().filter(l -> l.matches("seed [56] entry \\d+( \\(torn\\))?[ :].*")).count(),
        r.out());
    assertEquals(violations == 0 ? 0 : 1, r.exit(), r.out());
    assertTrue(Files.list(tmp).noneMatch(f -> f.getFileName().toString().startsWith("refkern")));
  }

  @Test
  void badNumbersAreEinvalInOneLine() throws Exception {
    CliRun r = run("crashtest", "--seeds", "0");
    assertEquals(22, r.exit(), r.out() + r.err());
    assertEquals("refkern: EINVAL: --seeds 0: must be 1 to 1000000\n", r.err());
    CliRun t = run("crashtest", "--fs", "tmpfs");
    assertEquals(22, t.exit(), t.out() + t.err());
    assertEquals("refkern: EINVAL: --fs tmpfs: not a filesystem on a device\n", t.err());
  }

  @Test
  void sigintStopsBetweenStatesAndSummarizesWhatWasChecked() throws Exception {
    Process p = new ProcessBuilder(command("crashtest", "--seeds", "100000")).start();
    StringBuilder out = new StringBuilder();
    try {
      p.getOutputStream().close();
      BufferedReader r =
          new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      String first = r.readLine();
      assertNotNull(first);
      assertTrue(first.startsWith("crashtest ext4: seeds 1..100000"), first);
      Process kill = new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start();
      assertTrue(kill.waitFor(60, TimeUnit.SECONDS));
      for (String l; (l = r.readLine()) != null; ) {
        out.append(l).append('\n');
      }
      assertTrue(p.waitFor(120, TimeUnit.SECONDS), "still running after SIGINT");
    } finally {
      p.destroyForcibly();
    }
    assertEquals(130, p.exitValue(), out.toString());
    CliRun r = new CliRun(130, out.toString(), "");
    assertTrue(r.table("fs").containsKey("ext4"), out.toString());
    assertTrue(out.toString().contains("interrupted"), out.toString());
    assertTrue(Files.list(tmp).noneMatch(f -> f.getFileName().toString().startsWith("refkern")));
  }
}
