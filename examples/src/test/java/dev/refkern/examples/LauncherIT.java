package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
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
 * The command line run the way {@code ./refkern} runs it: the packaged jar and its dependencies on
 * the module path, Chronicle's flags from {@code target/launcher/jvm.args}, in a separate process.
 * Proves the memmap works in that launch mode, including inspection of a live kernel and of one
 * killed with SIGKILL.
 */
class LauncherIT {
  @TempDir Path tmp;

  private static List<String> command(String... args) throws IOException {
    Path target = Path.of(System.getProperty("refkern.launcher.dir", "target"));
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd = new ArrayList<>();
    cmd.add(java);
    for (String a : Files.readString(target.resolve("launcher/jvm.args")).trim().split("\\s+")) {
      cmd.add(a);
    }
    cmd.add("-Djava.util.logging.config.file=" + target.resolve("launcher/logging.properties"));
    cmd.add("--module-path");
    cmd.add(target.resolve("lib") + File.pathSeparator + target.resolve("refkern-examples.jar"));
    cmd.add("--add-modules");
    cmd.add("ALL-MODULE-PATH");
    cmd.add("-m");
    cmd.add("dev.refkern.examples/dev.refkern.examples.cli.Main");
    cmd.addAll(List.of(args));
    return cmd;
  }

  private record Result(int exit, String out) {}

  /** The class-path launch mode that {@code ./refkern jmh} (and JMH's forks) use. */
  @Test
  void memmapWorksOnTheClassPathToo() throws Exception {
    List<String> cmd =
        command(
            "boot", "--cmdline", "mem=512M zone_device=0", "--state", tmp.resolve("cp").toString());
    Path target = Path.of(System.getProperty("refkern.launcher.dir", "target"));
    int mp = cmd.indexOf("--module-path");
    cmd.subList(mp, mp + 6).clear(); // --module-path X --add-modules Y -m Z
    cmd.replaceAll(a -> a.replaceAll("=ALL-UNNAMED,.*", "=ALL-UNNAMED")); // as ./refkern jmh does
    cmd.add(mp, "-cp");
    cmd.add(
        mp + 1,
        target.resolve("lib")
            + File.separator
            + "*"
            + File.pathSeparator
            + target.resolve("refkern-examples.jar"));
    cmd.add(mp + 2, "dev.refkern.examples.cli.Main");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), String.join(" ", cmd) + "\n" + out);
    assertTrue(out.contains("MemTotal:         524288 kB"), out);
    assertTrue(out.matches("(?s).*\\(64\\.[01] bytes/frame\\).*"), out);
    assertFalse(out.contains("Unknown module"), out);
  }

  private Result run(String... args) throws Exception {
    Process p = new ProcessBuilder(command(args)).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + String.join(" ", args));
    return new Result(p.exitValue(), out);
  }

  @Test
  void bootPrintsProcFiles() throws Exception {
    Result r =
        run(
            "boot",
            "--cmdline",
            "mem=256M movablecore=64M",
            "--state",
            tmp.resolve("s").toString());
    assertEquals(0, r.exit(), r.out());
    assertTrue(r.out().contains("MemTotal:         262144 kB"), r.out());
    assertTrue(r.out().contains("zone  Movable"), r.out());
    assertTrue(r.out().contains("nr_free_pages 65536"), r.out());
  }

  @Test
  void badCommandLineIsEinval() throws Exception {
    Result r = run("boot", "--cmdline", "mem=banana", "--state", tmp.resolve("s").toString());
    assertEquals(22, r.exit(), r.out());
    assertTrue(r.out().contains("EINVAL"), r.out());
  }

  @Test
  void inspectReadsALiveKernelThenAKilledOne() throws Exception {
    Path state = tmp.resolve("live");
    Process kernel =
        new ProcessBuilder(
                command("boot", "--cmdline", "mem=256M", "--state", state.toString(), "--hold"))
            .redirectErrorStream(true)
            .start();
    try {
      BufferedReader r =
          new BufferedReader(
              new InputStreamReader(kernel.getInputStream(), StandardCharsets.UTF_8));
      String line;
      boolean running = false;
      StringBuilder seen = new StringBuilder();
      while ((line = r.readLine()) != null) {
        seen.append(line).append('\n');
        if (line.startsWith("running, pid")) {
          running = true;
          break;
        }
      }
      assertTrue(running, seen.toString());

      Result live = run("inspect", "--state", state.toString());
      assertEquals(0, live.exit(), live.out());
      assertTrue(live.out().contains("kernel: RUNNING"), live.out());
      assertTrue(live.out().contains("buddy"), live.out());

      Result second = run("boot", "--cmdline", "mem=256M", "--state", state.toString(), "--reset");
      assertEquals(16, second.exit(), "EBUSY expected: " + second.out());

      kernel.destroyForcibly(); // kill -9: no shutdown hook, no status update
      assertTrue(kernel.waitFor(30, TimeUnit.SECONDS));
    } finally {
      kernel.destroyForcibly();
    }
    Result dead = run("inspect", "--state", state.toString());
    assertEquals(0, dead.exit(), dead.out());
    assertTrue(dead.out().contains("kernel: DIED"), dead.out());
    assertTrue(
        dead.out().matches("(?s).*total\\s+131072 .*"),
        "every frame (64Ki RAM + 64Ki ZONE_DEVICE) still described: " + dead.out());

    Result again = run("boot", "--cmdline", "mem=256M", "--state", state.toString());
    assertEquals(17, again.exit(), "EEXIST expected, never a silent reset: " + again.out());
    Result reset = run("boot", "--cmdline", "mem=256M", "--state", state.toString(), "--reset");
    assertEquals(0, reset.exit(), reset.out());
  }
}
