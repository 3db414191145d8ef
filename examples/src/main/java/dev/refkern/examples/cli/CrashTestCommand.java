package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.TextTable;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.crash.CrashHarness;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code refkern crashtest}: fstests' generic/482 on a filesystem of refkern, for many seeds (see
 * {@link CrashHarness}): every FLUSH/FUA point of each seed's dm-log-writes log replayed, mounted,
 * fsck'd and compared with the fsync'd oracle. Prints a summary table and every violation with its
 * seed and log entry; exits 1 if there was one. Ctrl-C stops between two crash states and still
 * prints what was checked.
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "crashtest",
    description =
        "Crash consistency like fstests' generic/482: a seeded fsstress-like workload recorded by"
            + " dm-log-writes, every FLUSH/FUA point replayed, mounted, fsck'd and checked against"
            + " what was fsync'd. Exit 1 if a crash state was wrong.")
final class CrashTestCommand implements Callable<Integer> {
  /** Exit status when a crash state was wrong (the test failed). */
  static final int VIOLATIONS = 1;

  @Option(
      names = "--fs",
      defaultValue = "ext4",
      description = "Filesystem type, one needing a device (default: ${DEFAULT-VALUE}).")
  String fs;

  @Option(
      names = "--seeds",
      defaultValue = "20",
      description = "How many seeds, from --seed on (default: ${DEFAULT-VALUE}).")
  int seeds;

  @Option(
      names = "--seed",
      defaultValue = "1",
      description = "The first seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--ops",
      defaultValue = "100",
      description = "Workload ops per seed (default: ${DEFAULT-VALUE}).")
  int ops;

  @Option(
      names = "--torn",
      description = "Also replay, at each point, the last write before it torn at a sector.")
  boolean torn;

  @Option(
      names = "--progress",
      negatable = true,
      description = "Progress bar on stderr (default: when there is a console).")
  Boolean progress;

  @Override
  public Integer call() {
    if (seeds < 1 || seeds > 1_000_000) {
      throw new KernelException(Errno.EINVAL, "--seeds " + seeds + ": must be 1 to 1000000");
    }
    if (ops < 1 || ops > 100_000) {
      throw new KernelException(Errno.EINVAL, "--ops " + ops + ": must be 1 to 100000");
    }
    if (!FileSystems.standard().get(fs).requiresDev()) {
      throw new KernelException(Errno.EINVAL, "--fs " + fs + ": not a filesystem on a device");
    }
    CrashHarness.Replay replay = torn ? CrashHarness.Replay.TORN : CrashHarness.Replay.EXACT;
    Path dir = KernelSession.stateDir(null, "refkern-crashtest");
    List<CrashHarness.Violation> violations = new ArrayList<>();
    long states = 0;
    long entries = 0;
    int seedsDone = 0;
    try {
      CrashHarness h = new CrashHarness(fs, dir.resolve("kernel"));
      System.out.printf(
          "crashtest %s: seeds %d..%d, %d ops each, %s replay at every FLUSH/FUA point%n",
          fs, seed, seed + seeds - 1, ops, torn ? "exact and torn" : "exact");
      long t0 = System.nanoTime(); // after boot: states/s is the harness's rate
      List<String> kernel;
      try (ConsoleProgress bar =
          ConsoleProgress.open(ConsoleProgress.wanted(progress), "crashtest " + fs, -1)) {
        long[] done = {0};
        for (long s = seed; s < seed + seeds && !KernelSession.exiting(); s++) {
          bar.message("seed " + s);
          CrashHarness.Result r =
              h.run(s, ops, replay, KernelSession::exiting, () -> bar.stepTo(++done[0]));
          states += r.states();
          entries += r.entries();
          violations.addAll(r.violations());
          if (!KernelSession.exiting()) {
            seedsDone++;
            bar.maxHint(states * seeds / seedsDone); // the states of a seed vary with its log
          }
        }
      } catch (KernelException e) {
        if (!KernelSession.exiting()) {
          throw e;
        }
        // Ctrl-C inside a state: that state is dropped, what came before is reported
      } finally {
        kernel = h.close();
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      List<String[]> rows = new ArrayList<>();
      rows.add(
          new String[] {
            "fs", "replay", "seeds", "ops", "entries", "states", "violations", "seconds", "states/s"
          });
      rows.add(
          new String[] {
            fs,
            torn ? "torn" : "exact",
            Integer.toString(seedsDone),
            Integer.toString(ops),
            Long.toString(entries),
            Long.toString(states),
            Integer.toString(violations.size()),
            String.format(Locale.ROOT, "%.1f", secs),
            String.format(Locale.ROOT, "%.0f", states / Math.max(secs, 1e-9))
          });
      System.out.print(TextTable.render(rows));
      if (KernelSession.exiting()) {
        System.out.println("interrupted: the summary covers the states checked before Ctrl-C");
      }
      for (CrashHarness.Violation v : violations) {
        System.out.println(v);
      }
      for (String k : kernel) {
        System.err.println("refkern: kernel after the crash states: " + k);
      }
      if (!kernel.isEmpty()) {
        return Errno.EIO.number();
      }
      return violations.isEmpty() ? 0 : VIOLATIONS;
    } finally {
      KernelSession.release(dir);
    }
  }
}
