package dev.refkern.mm.sched;

import static dev.refkern.mm.sched.SimScheduler.seedTag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * One seed, one interleaving: the parked-thread and the continuation implementations of the
 * simulated CPU pick the same tasks in the same order at the same jiffies. On a JDK without
 * continuations the continuation run happens in a child JVM of JDK 21+.
 */
class SimImplementationsTraceTest {
  private static final long SEED = 0x5eed;
  private static final Path JDK25 = Paths.get("/usr/lib/jvm/temurin-25-jdk-amd64");

  @Test
  @Timeout(value = 5, unit = TimeUnit.MINUTES)
  void parkedAndContinuationReplayTheSameInterleaving() throws Exception {
    List<String> parked = SimTraceWorkload.run(SEED, SimScheduler.Implementation.PARKED);
    // Nontrivial: every kthread and worker was picked many times and timers moved jiffies.
    assertTrue(parked.size() > 300, seedTag(SEED) + ": trace too short: " + parked.size());
    assertEquals(
        "end counter=100 jiffies=3", parked.get(parked.size() - 1), seedTag(SEED) + ": outcome");
    assertTrue(
        parked.stream().anyMatch(s -> s.startsWith("kworker/")),
        seedTag(SEED) + ": no worker picked");

    List<String> continuation;
    if (SimScheduler.Implementation.continuationsAvailable()) {
      continuation = SimTraceWorkload.run(SEED, SimScheduler.Implementation.CONTINUATION);
    } else {
      Optional<Path> java = jdk21OrNewer();
      assumeTrue(
          java.isPresent(),
          "continuations unavailable here ("
              + SimScheduler.Implementation.whyNoContinuations()
              + ") and no JDK 21+ found under /usr/lib/jvm to run them in a child JVM");
      continuation = childTrace(java.get());
    }
    assertEquals(
        parked,
        continuation,
        seedTag(SEED) + ": the continuation implementation picked differently from parked threads");
  }

  @Test
  void aSeedDifferentTraceIsSeen() {
    // Guards the comparison above: another seed gives another trace, so equality means something.
    List<String> a = SimTraceWorkload.run(SEED, SimScheduler.Implementation.PARKED);
    List<String> b = SimTraceWorkload.run(SEED + 1, SimScheduler.Implementation.PARKED);
    assertTrue(!a.equals(b), seedTag(SEED) + " and " + seedTag(SEED + 1) + " picked alike");
  }

  private static Optional<Path> jdk21OrNewer() throws IOException {
    List<Path> homes = new ArrayList<>();
    homes.add(JDK25);
    Path jvms = Paths.get("/usr/lib/jvm");
    if (Files.isDirectory(jvms)) {
      try (Stream<Path> s = Files.list(jvms)) {
        s.sorted().forEach(homes::add);
      }
    }
    for (Path home : homes) {
      Path java = home.resolve("bin/java");
      Path release = home.resolve("release");
      if (Files.isExecutable(java) && Files.isReadable(release) && feature(release) >= 21) {
        return Optional.of(java);
      }
    }
    return Optional.empty();
  }

  private static int feature(Path release) throws IOException {
    for (String line : Files.readAllLines(release, StandardCharsets.UTF_8)) {
      if (line.startsWith("JAVA_VERSION=")) {
        String v = line.substring("JAVA_VERSION=".length()).replace("\"", "");
        try {
          return Integer.parseInt(v.split("[.+-]")[0]);
        } catch (NumberFormatException e) {
          return 0;
        }
      }
    }
    return 0;
  }

  // Runs SimTraceWorkload on the class path of a JDK 21+ child with the project's sim flags.
  private static List<String> childTrace(Path java) throws Exception {
    Set<String> cp = new LinkedHashSet<>();
    cp.add(Paths.get("target/test-classes").toAbsolutePath().toString());
    cp.add(Paths.get("target/classes").toAbsolutePath().toString());
    for (String prop : new String[] {"jdk.module.path", "java.class.path"}) {
      String v = System.getProperty(prop);
      if (v != null && !v.isEmpty()) {
        for (String e : v.split(File.pathSeparator)) {
          cp.add(e);
        }
      }
    }
    Path out = Files.createTempFile("sim-trace", ".txt");
    try {
      Process p =
          new ProcessBuilder(
                  java.toString(),
                  "--add-exports=java.base/jdk.internal.vm=ALL-UNNAMED",
                  "--add-opens=java.base/java.lang=ALL-UNNAMED",
                  "-cp",
                  String.join(File.pathSeparator, cp),
                  SimTraceWorkload.class.getName(),
                  Long.toString(SEED),
                  "continuation")
              .redirectErrorStream(true)
              .redirectOutput(out.toFile())
              .start();
      assertTrue(p.waitFor(4, TimeUnit.MINUTES), seedTag(SEED) + ": child JVM did not finish");
      List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
      assertEquals(0, p.exitValue(), seedTag(SEED) + ": child JVM failed: " + lines);
      return lines;
    } finally {
      Files.deleteIfExists(out);
    }
  }
}
