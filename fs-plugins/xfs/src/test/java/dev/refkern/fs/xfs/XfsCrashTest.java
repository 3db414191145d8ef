package dev.refkern.fs.xfs;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.crash.CrashHarness;
import dev.refkern.fs.crash.CrashHarness.Replay;
import dev.refkern.fs.crash.CrashHarness.Result;
import dev.refkern.fs.crash.CrashHarness.Violation;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash consistency of xfs measured like fstests' generic/482: a seeded fsstress-like workload
 * recorded by dm-log-writes, every FLUSH/FUA point replayed, mounted, fsck'd and compared with the
 * fsync'd oracle. One kernel per test, clean at the end.
 */
class XfsCrashTest {
  private static final int SEEDS = 25;
  private static final int OPS = 120;

  @TempDir Path dir;
  private int kernels;

  private List<Result> run(long firstSeed, int seeds, int ops, Replay replay) {
    CrashHarness h = new CrashHarness("xfs", dir.resolve("kernel" + kernels++));
    List<Result> results = new ArrayList<>();
    try {
      for (long s = firstSeed; s < firstSeed + seeds; s++) {
        results.add(h.run(s, ops, replay, () -> false, () -> {}));
      }
    } finally {
      assertEquals(List.of(), h.close(), "kernel after the crash states");
    }
    return results;
  }

  /**
   * The property the log must give: no crash state of any seed, exact or torn, has an fsck problem
   * or an fsync'd file that lost its content.
   */
  @Test
  @Tag("crash")
  void everyCrashStateIsCleanAndKeepsFsyncedFiles() {
    long t0 = System.nanoTime(); // boot included
    List<Result> results = run(1, SEEDS, OPS, Replay.TORN);
    String report = CrashHarness.summary(results, System.nanoTime() - t0);
    System.out.println("generic/482-style xfs: " + report);
    assertTrue(results.stream().mapToInt(Result::states).sum() >= 1500, report);
    assertTrue(results.stream().allMatch(r -> r.violations().isEmpty()), report);
  }

  /**
   * A device whose FLUSH makes nothing durable loses what fsync wrote: the harness must say so,
   * with the seed, the log entry and the file.
   */
  @Test
  void aLyingFlushIsFoundWithSeedEntryAndFile() {
    List<Result> results = run(1, 2, 40, Replay.LYING_FLUSH);
    List<Violation> vs = results.stream().flatMap(r -> r.violations().stream()).toList();
    assertFalse(vs.isEmpty(), "no violation found");
    Violation v =
        vs.stream()
            .filter(x -> x.file() != null)
            .findFirst()
            .orElseThrow(() -> new AssertionError("no file violation in " + vs));
    assertTrue(v.seed() == 1 || v.seed() == 2, v.toString());
    assertTrue(
        v.entry() >= 0 && v.entry() < results.get((int) v.seed() - 1).entries(), v.toString());
    assertTrue(
        v.toString().startsWith("seed " + v.seed() + " entry " + v.entry() + " /"), v.toString());
  }

  /** The same seed records the same workload and log: a violation can be replayed from its seed. */
  @Test
  void aSeedIsReproducible() {
    List<Result> a = run(7, 1, 30, Replay.EXACT);
    List<Result> b = run(7, 1, 30, Replay.EXACT);
    assertEquals(a.get(0).entries(), b.get(0).entries());
    assertEquals(a.get(0).states(), b.get(0).states());
    assertEquals(a.get(0).violations(), b.get(0).violations());
  }
}
