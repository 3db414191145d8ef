package dev.refkern.lab.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledForJreRange;
import org.junit.jupiter.api.condition.JRE;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real standalone Spark cluster on the loopback address: a master and two workers, each its own
 * JVM, whose class path is Spark alone; refkern reaches the executors only as shipped jars. Every
 * row of a small sweep must equal the row of a plain single-threaded run of the same cell.
 */
class SweepClusterIT {
  private static final long WAIT_MS = 120_000;

  @TempDir Path tmp;

  private static final Path TARGET =
      Path.of(System.getProperty("refkern.lab.spark.target", "target"));

  /** SPARK_HOME/jars for the cluster: Spark and the libraries, but none of refkern's own jars. */
  private Path sparkHome() throws IOException {
    Path jars = Files.createDirectories(tmp.resolve("spark-home/jars"));
    for (String dir : List.of("spark", "lib")) {
      try (Stream<Path> s = Files.list(TARGET.resolve(dir))) {
        for (Path j : s.toList()) {
          if (!j.getFileName().toString().startsWith("refkern-")) {
            Files.createSymbolicLink(jars.resolve(j.getFileName()), j.toAbsolutePath());
          }
        }
      }
    }
    return jars.getParent();
  }

  private Process start(Path home, String name, List<String> args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.addAll(List.of(SparkSweep.jvmArgs().split("\\s+")));
    cmd.add("-Xmx512m");
    cmd.add("-cp");
    cmd.add(home.resolve("jars") + File.separator + "*");
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("SPARK_HOME", home.toString());
    pb.environment().put("SPARK_SCALA_VERSION", "2.13");
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    pb.redirectErrorStream(true).redirectOutput(tmp.resolve(name + ".log").toFile());
    return pb.start();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private void awaitLog(String name, String needle, int times) throws Exception {
    long end = System.currentTimeMillis() + WAIT_MS;
    Path log = tmp.resolve(name + ".log");
    while (System.currentTimeMillis() < end) {
      String text = Files.exists(log) ? Files.readString(log) : "";
      if (text.split(java.util.regex.Pattern.quote(needle), -1).length - 1 >= times) {
        return;
      }
      Thread.sleep(250);
    }
    throw new AssertionError(
        "no '" + needle + "' x" + times + " in " + name + " log:\n" + Files.readString(log));
  }

  /** The test's classes as a jar, shipped like a user's own comparison would be. */
  private Path testJar() throws IOException {
    Path classes =
        Path.of(TinyComparison.class.getProtectionDomain().getCodeSource().getLocation().getPath());
    Path jar = tmp.resolve("tests.jar");
    try (OutputStream o = Files.newOutputStream(jar);
        JarOutputStream j = new JarOutputStream(o);
        Stream<Path> s = Files.walk(classes)) {
      for (Path f : s.filter(Files::isRegularFile).toList()) {
        j.putNextEntry(
            new JarEntry(classes.relativize(f).toString().replace(File.separatorChar, '/')));
        Files.copy(f, j);
        j.closeEntry();
      }
    }
    return jar;
  }

  /** Spark 4.0's Hadoop client needs Subject.getSubject, which Java 24 removed. */
  @Test
  @EnabledForJreRange(min = JRE.JAVA_24)
  void onJava24AndLaterTheSweepSaysItCannotRunSpark() {
    KernelException e = assertThrows(KernelException.class, SparkSweep::checkJava);
    assertEquals(Errno.EOPNOTSUPP, e.errno());
    assertTrue(e.getMessage().contains("Java 17 to 23"), e.getMessage());
  }

  @Test
  @EnabledForJreRange(max = JRE.JAVA_23)
  void aSweepOnTwoLoopbackWorkersEqualsTheLocalSingleThreadedRun() throws Exception {
    Path home = sparkHome();
    int port = freePort();
    String master = "spark://127.0.0.1:" + port;
    List<Process> procs = new ArrayList<>();
    try {
      procs.add(
          start(
              home,
              "master",
              List.of(
                  "org.apache.spark.deploy.master.Master",
                  "--host",
                  "127.0.0.1",
                  "--port",
                  Integer.toString(port),
                  "--webui-port",
                  "0")));
      awaitLog("master", "I have been elected leader", 1);
      for (int w = 1; w <= 2; w++) {
        procs.add(
            start(
                home,
                "worker" + w,
                List.of(
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--webui-port",
                    "0",
                    "--cores",
                    "1",
                    "--memory",
                    "1500m",
                    "--work-dir",
                    tmp.resolve("work" + w).toString(),
                    master)));
      }
      awaitLog("master", "Registering worker", 2);

      // the real comparisons on one seed and the tiny one on three, both on ext4
      SparkSweep real = new SparkSweep(ComparisonSource.REGISTRY, SweepReport.NONE);
      List<LabCell> cells =
          new ArrayList<>(
              real.cells(List.of("writeback", "truncate"), List.of("ext4"), new SeedRange(1, 1)));
      List<LabCell> tinyCells =
          new SparkSweep(TinyComparison.source(null), SweepReport.NONE)
              .cells(List.of("tiny"), List.of("ext4"), new SeedRange(1, 2));
      ComparisonSource both =
          () -> {
            List<dev.refkern.examples.lab.Comparison> all =
                new ArrayList<>(ComparisonSource.REGISTRY.all());
            all.addAll(TinyComparison.source(null).all());
            return all;
          };
      cells.addAll(tinyCells);
      Path out = tmp.resolve("out");
      long t0 = System.nanoTime();
      SparkSweep.Result r =
          new SparkSweep(both, SweepReport.NONE)
              .run(
                  cells,
                  new SparkSweep.Settings(
                      master,
                      0,
                      out,
                      Map.of("spark.executor.memory", "1g"),
                      List.of(testJar()),
                      -1,
                      false,
                      "refkern sweep"));
      double secs = (System.nanoTime() - t0) / 1e9;
      System.out.printf(
          Locale.ROOT,
          "cluster sweep: %d cells in %.1f s (job %.1f s)%n",
          r.ran(),
          secs,
          r.jobNanos() / 1e9);

      assertEquals(cells.size(), r.ran(), "every cell ran on the cluster");
      Map<String, LabRow> byKey = new HashMap<>();
      r.rows().forEach(row -> byKey.put(row.cell().key(), row));
      assertEquals(cells.size(), byKey.size());
      for (LabCell c : cells) {
        LabRow local = CellTask.run(both, c);
        LabRow remote = byKey.get(c.key());
        assertTrue(
            remote != null && local.sameCounts(remote), // stalls: see LabRow.sameCounts
            "seed "
                + c.seed()
                + ": cell "
                + c
                + " on the cluster "
                + remote
                + " vs local "
                + local);
      }
      for (int w = 1; w <= 2; w++) {
        String log = Files.readString(tmp.resolve("worker" + w + ".log"));
        assertTrue(
            log.contains("Asked to launch executor"), "worker " + w + " ran an executor:\n" + log);
      }
    } finally {
      for (Process p : procs) {
        p.destroy();
      }
      for (Process p : procs) {
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
          p.destroyForcibly().waitFor(20, TimeUnit.SECONDS);
        }
      }
      // the links point at target/: remove them before JUnit cleans the temp dir (it warns)
      try (Stream<Path> links = Files.list(home.resolve("jars"))) {
        for (Path l : links.toList()) {
          Files.delete(l);
        }
      }
    }
  }
}
