package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code refkern pinbench} run the way {@code ./refkern} runs it (the packaged jar on the module
 * path, in a separate process): SIGINT stops it between rounds, it prints the table of what ran,
 * says it was interrupted, exits with the signal's status and leaves no temporary state.
 */
class PinBenchCommandIT {
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

  @Test
  void sigintStopsBetweenRoundsAndPrintsWhatRan() throws Exception {
    Process p =
        new ProcessBuilder(
                command("pinbench", "--pages", "16", "--pinned", "4", "--rounds", "100000"))
            .start();
    StringBuilder out = new StringBuilder();
    try {
      p.getOutputStream().close();
      BufferedReader r =
          new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      String first = r.readLine();
      assertNotNull(first);
      assertTrue(first.startsWith("pinbench: flatfs,ext4; 16 pages, 4 pinned"), first);
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
    assertTrue(out.toString().startsWith("fs "), "the table's header first: " + out);
    assertTrue(out.toString().contains("interrupted"), out.toString());
    assertTrue(Files.list(tmp).noneMatch(f -> f.getFileName().toString().startsWith("refkern")));
  }
}
