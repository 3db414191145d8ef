package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.mm.sched.SimScheduler.Implementation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code refkern schedbench}: scheduling points per second of the seeded simulated CPU, kthreads
 * looping on {@code cond_resched()}, for each implementation this JVM can run.
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "schedbench",
    description =
        "Simulated-CPU speed: scheduling points/s of kthreads looping on cond_resched(), parked"
            + " threads and (JDK 21+) continuations side by side.")
final class SchedBenchCommand implements Callable<Integer> {
  static final int MAX_THREADS = 1024;

  @Option(names = "--seed", defaultValue = "42", description = "Seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--threads",
      defaultValue = "4",
      description = "Kthreads looping on cond_resched() (default: ${DEFAULT-VALUE}).")
  int threads;

  @Option(
      names = "--points",
      defaultValue = "1000000",
      description = "Scheduling points per measurement (default: ${DEFAULT-VALUE}).")
  long points;

  @Option(
      names = "--progress",
      negatable = true,
      description = "Progress bar on stderr (default: when there is a console).")
  Boolean progress;

  @Override
  public Integer call() {
    if (threads < 1 || threads > MAX_THREADS) {
      throw new KernelException(
          Errno.EINVAL, "--threads " + threads + ": must be between 1 and " + MAX_THREADS);
    }
    if (points < 1 || points > Long.MAX_VALUE / 2) {
      throw new KernelException(Errno.EINVAL, "--points " + points + ": must be positive");
    }
    List<Implementation> impls = new ArrayList<>();
    impls.add(Implementation.PARKED);
    if (Implementation.continuationsAvailable()) {
      impls.add(Implementation.CONTINUATION);
    }
    System.out.printf(
        Locale.ROOT,
        "schedbench %s threads=%d points=%d: JDK %d, %d CPUs, load %s%n",
        SimScheduler.seedTag(seed),
        threads,
        points,
        Runtime.version().feature(),
        Runtime.getRuntime().availableProcessors(),
        loadAverage());
    System.out.printf(Locale.ROOT, "%-14s %14s %10s%n", "implementation", "points/s", "seconds");
    double[] rates = new double[impls.size()];
    try (ConsoleProgress bar =
        ConsoleProgress.open(
            ConsoleProgress.wanted(progress), "schedbench", points * impls.size())) {
      for (int i = 0; i < impls.size(); i++) {
        Implementation impl = impls.get(i);
        measure(impl, Math.max(1, points / 10), ConsoleProgress.OFF, 0); // warm-up
        long t0 = System.nanoTime();
        long done = measure(impl, points, bar, (long) i * points);
        double secs = (System.nanoTime() - t0) / 1e9;
        rates[i] = done / secs;
        System.out.printf(
            Locale.ROOT,
            "%-14s %14.0f %10.2f%n",
            impl.name().toLowerCase(Locale.ROOT),
            rates[i],
            secs);
      }
    }
    if (impls.size() > 1) {
      System.out.printf(Locale.ROOT, "speed-up: %.1fx%n", rates[1] / rates[0]);
    } else {
      System.out.println(
          "continuation: not available ("
              + Implementation.whyNoContinuations()
              + "); run on JDK 21+, e.g. JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64"
              + " ./refkern schedbench");
    }
    return 0;
  }

  // The 1-minute load average (Linux), as the numbers depend on it; "n/a" elsewhere.
  private static String loadAverage() {
    try {
      return Files.readString(Paths.get("/proc/loadavg")).trim().split("\\s+")[0];
    } catch (IOException | RuntimeException e) {
      return "n/a";
    }
  }

  // Runs the kthreads until the simulation has passed `target` scheduling points; returns them.
  private long measure(Implementation impl, long target, ConsoleProgress bar, long base) {
    SimScheduler sim = new SimScheduler(seed, impl);
    try {
      long[] loops = {0};
      for (int t = 0; t < threads; t++) {
        sim.kthreadRun(
            "loop" + t,
            () -> {
              while (loops[0] < target) {
                if ((++loops[0] & 0xffff) == 0) {
                  bar.stepTo(base + loops[0]);
                }
                sim.condResched();
              }
            });
      }
      sim.runUntilIdle();
      bar.stepTo(base + target);
      return sim.schedulingPoints();
    } finally {
      sim.shutdown();
    }
  }
}
