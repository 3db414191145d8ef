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
    return command(List.of(), args);
  }

  private static List<String> command(List<String> jvmOptions, String... args) throws IOException {
    Path target = Path.of(System.getProperty("refkern.launcher.dir", "target"));
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd = new ArrayList<>();
    cmd.add(java);
    cmd.addAll(jvmOptions);
    for (String a : Files.readString(target.resolve("launcher/jvm.args")).trim().split("\\s+")) {
      cmd.add(a);
    }
    if (Runtime.version().feature() >= 24) { // as ./refkern grants them there
      cmd.add("--enable-native-access=ALL-UNNAMED,org.jnrproject.jffi,com.sun.jna");
      cmd.add("--sun-misc-unsafe-memory-access=allow");
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
  void aReaderThatGoesAwayEndsTheCommandQuietlyAsSigpipe() throws Exception {
    ProcessBuilder pb =
        new ProcessBuilder(
            command("boot", "--cmdline", "mem=64M", "--state", tmp.resolve("s").toString()));
    pb.redirectError(tmp.resolve("err.txt").toFile());
    Process p = pb.start();
    p.getInputStream().close(); // like `| head -0`: the next write finds a broken pipe
    assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "still running");
    String err = Files.readString(tmp.resolve("err.txt"));
    assertEquals(141, p.exitValue(), err);
    assertFalse(err.contains("refkern:"), err);
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

  /** Starts {@code boot --hold} and waits until the kernel runs. */
  private Process startHeld(Path state) throws Exception {
    Process kernel =
        new ProcessBuilder(
                command("boot", "--cmdline", "mem=256M", "--state", state.toString(), "--hold"))
            .redirectErrorStream(true)
            .start();
    waitForLine(kernel, "running, pid");
    return kernel;
  }

  /** Reads the process's output until a line starts with {@code prefix}; fails at end of output. */
  private static String waitForLine(Process p, String prefix) throws IOException {
    BufferedReader r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    StringBuilder seen = new StringBuilder();
    String line;
    while ((line = r.readLine()) != null) {
      seen.append(line).append('\n');
      if (line.startsWith(prefix)) {
        // keep draining so the child never blocks on a full pipe
        Thread drain =
            new Thread(
                () -> {
                  try {
                    while (r.readLine() != null) {
                      // discard
                    }
                  } catch (IOException ignored) {
                    // child gone
                  }
                });
        drain.setDaemon(true);
        drain.start();
        return seen.toString();
      }
    }
    throw new AssertionError("no line starting with '" + prefix + "' in:\n" + seen);
  }

  /**
   * Starts a long command in {@code wd} with its temporary directories under {@code javaTmp}, waits
   * for its first output, signals it and checks what the issue asked for: the signal's exit status,
   * no hs_err file, no temporary directory left.
   */
  private void signalDuringRun(String signal, int expectExit, String firstLine, String... args)
      throws Exception {
    Path wd = Files.createDirectories(tmp.resolve("wd-" + args[0]));
    Path javaTmp = Files.createDirectories(tmp.resolve("javatmp-" + args[0]));
    Process p =
        new ProcessBuilder(command(List.of("-Djava.io.tmpdir=" + javaTmp), args))
            .directory(wd.toFile())
            .redirectErrorStream(true)
            .start();
    try {
      waitForLine(p, firstLine);
      if (signal.equals("TERM")) {
        p.destroy(); // SIGTERM on Linux
      } else {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start();
        assertTrue(kill.waitFor(60, TimeUnit.SECONDS));
      }
      assertTrue(p.waitFor(120, TimeUnit.SECONDS), "still running after SIG" + signal);
    } finally {
      p.destroyForcibly();
    }
    assertEquals(expectExit, p.exitValue(), String.join(" ", args));
    try (var s = Files.list(wd)) {
      assertEquals(
          List.of(), s.filter(f -> f.getFileName().toString().startsWith("hs_err")).toList());
    }
    try (var s = Files.list(javaTmp)) {
      assertEquals(
          List.of(),
          s.filter(f -> f.getFileName().toString().startsWith("refkern")).toList(),
          "temporary state directories left behind");
    }
  }

  @Test
  void sigtermDuringGupTestStopsWorkersThenTheMemmap() throws Exception {
    signalDuringRun(
        "TERM", 143, "TAP version", "gup-test", "-m", "128", "-r", "1000000", "-j", "2");
  }

  @Test
  void sigintDuringBenchIs130AndCleansUp() throws Exception {
    signalDuringRun("INT", 130, "boot mem=", "bench", "--mem", "1G", "--ops", "2000000000");
  }

  @Test
  void sigtermDuringRunDioLeavesAStoppedKernel() throws Exception {
    Path state = tmp.resolve("dio");
    signalDuringRun(
        "TERM", 143, "run dio: write", "run", "dio", "--mb", "20000", "--state", state.toString());
    Result in = run("inspect", "--state", state.resolve("kernel").toString());
    assertEquals(0, in.exit(), in.out());
    assertTrue(in.out().contains("kernel: STOPPED"), in.out());
    assertTrue(in.out().contains("CRC32C"), in.out());
  }

  @Test
  void gupTestNeverReplacesADeadKernelsMemmapWithoutReset() throws Exception {
    Path state = tmp.resolve("died");
    Process kernel = startHeld(state);
    kernel.destroyForcibly();
    assertTrue(kernel.waitFor(60, TimeUnit.SECONDS));
    Path map = state.resolve("memmap.cmap");
    byte[] before = Files.readAllBytes(state.resolve("kernel.properties"));
    long size = Files.size(map);

    for (String[] cmd :
        new String[][] {
          {"gup-test", "-m", "16", "--state", state.toString()},
          {"run", "dio", "--mb", "4", "--state", tmp.toString()},
        }) {
      Result r = run(cmd);
      assertEquals(17, r.exit(), "EEXIST expected: " + r.out());
      assertTrue(r.out().contains("--reset"), r.out());
    }
    assertArrayEquals(before, Files.readAllBytes(state.resolve("kernel.properties")));
    assertEquals(size, Files.size(map));
    Result dead = run("inspect", "--state", state.toString());
    assertTrue(dead.out().contains("kernel: DIED"), dead.out());
    assertTrue(dead.out().contains("checksums not verifiable"), dead.out());
    assertEquals(0, dead.exit(), dead.out());

    Result reset = run("gup-test", "-m", "16", "--state", state.toString(), "--reset");
    assertEquals(0, reset.exit(), reset.out());
  }

  @Test
  void deletingTheLockFileDoesNotLetBootResetALiveKernel() throws Exception {
    Path state = tmp.resolve("live");
    Process kernel = startHeld(state);
    try {
      String pid = Long.toString(kernel.pid());
      Files.delete(state.resolve("lock"));
      Result second = run("boot", "--cmdline", "mem=256M", "--state", state.toString(), "--reset");
      assertEquals(16, second.exit(), "EBUSY expected: " + second.out());
      Result live = run("inspect", "--state", state.toString());
      assertEquals(0, live.exit(), live.out());
      assertTrue(live.out().contains("kernel: RUNNING (pid " + pid + ","), live.out());
      kernel.getOutputStream().close(); // shut down cleanly
      assertTrue(kernel.waitFor(60, TimeUnit.SECONDS));
      assertEquals(0, kernel.exitValue());
    } finally {
      kernel.destroyForcibly();
    }
    Result stopped = run("inspect", "--state", state.toString());
    assertEquals(0, stopped.exit(), stopped.out());
    assertTrue(stopped.out().contains("kernel: STOPPED"), stopped.out());
  }

  @Test
  void flippedBytesInAStoppedMemmapAreEuclean() throws Exception {
    Path state = tmp.resolve("flip");
    Result boot = run("boot", "--cmdline", "mem=512M zone_device=0", "--state", state.toString());
    assertEquals(0, boot.exit(), boot.out());
    java.util.Properties p = new java.util.Properties();
    try (var in = Files.newInputStream(state.resolve("kernel.properties"))) {
      p.load(in);
    }
    String[] off = p.getProperty("section_offsets").split("\\+");
    long section3 = Long.parseLong(off[0]) + 3 * Long.parseLong(off[1]);
    java.util.Random r = new java.util.Random(7);
    try (var ch =
        java.nio.channels.FileChannel.open(
            state.resolve("memmap.cmap"), java.nio.file.StandardOpenOption.WRITE)) {
      for (int i = 0; i < 1000; i++) {
        ch.write(
            java.nio.ByteBuffer.wrap(new byte[] {(byte) (1 + r.nextInt(255))}),
            section3 + r.nextInt(2 << 20));
      }
    }
    Result in = run("inspect", "--state", state.toString());
    assertEquals(117, in.exit(), in.out());
    assertTrue(in.out().contains("EUCLEAN: memmap section 3 "), in.out());
    assertFalse(in.out().contains("total"), "no table from a corrupt memmap: " + in.out());
  }

  @Test
  void badStateDirectoriesAreOneLineErrnos() throws Exception {
    Path file = Files.writeString(tmp.resolve("a-file"), "x");
    String[][] commands = {
      {"boot", "--cmdline", "mem=64M"},
      {"gup-test", "-m", "4"},
      {"run", "dio", "--mb", "4"},
      {"inspect"},
    };
    for (String[] c : commands) {
      for (String[] stateAndErrno : new String[][] {{"", "2"}, {file.toString(), "20"}}) {
        List<String> args = new ArrayList<>(List.of(c));
        args.add("--state");
        args.add(stateAndErrno[0]);
        Result r = run(args.toArray(String[]::new));
        assertEquals(Integer.parseInt(stateAndErrno[1]), r.exit(), args + ": " + r.out());
        assertEquals(1, r.out().strip().lines().count(), args + ": " + r.out());
      }
    }
    Path state = tmp.resolve("corrupt");
    assertEquals(0, run("boot", "--cmdline", "mem=64M", "--state", state.toString()).exit());
    Path props = state.resolve("kernel.properties");
    Files.writeString(
        props, Files.readString(props).replaceAll("(?m)^ram_pfns=.*$", "ram_pfns=abc"));
    Result r = run("inspect", "--state", state.toString());
    assertEquals(22, r.exit(), r.out());
    assertEquals(
        "refkern: EINVAL: corrupt state: ram_pfns=abc in " + props, r.out().strip(), r.out());
  }
}
