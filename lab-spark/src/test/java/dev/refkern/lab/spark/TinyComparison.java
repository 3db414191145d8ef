package dev.refkern.lab.spark;

import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A cheap stand-in comparison: a row that is a pure function of the cell (but for nsPerPin), two
 * policies on ext4 and xfs, and an injectable failure, so the sweep's plumbing is tested without
 * booting kernels.
 */
final class TinyComparison implements Comparison {
  /** Cells run in this JVM (local mode runs tasks here). */
  static final AtomicInteger RUNS = new AtomicInteger();

  private final String failKey;

  TinyComparison(String failKey) {
    this.failKey = failKey;
  }

  /** A source of one tiny comparison that fails on {@code failKey} (null: never). */
  static ComparisonSource source(String failKey) {
    return () -> List.of(new TinyComparison(failKey));
  }

  @Override
  public String name() {
    return "tiny";
  }

  @Override
  public String question() {
    return "Does the sweep carry rows faithfully?";
  }

  @Override
  public String policyParam() {
    return "writeback.pinned";
  }

  @Override
  public List<String> policies() {
    return List.of("alpha", "beta");
  }

  @Override
  public LabRow run(LabCell cell, Path scratch) {
    RUNS.incrementAndGet();
    try (Stream<Path> s = Files.list(scratch)) {
      if (s.findAny().isPresent()) {
        throw new IllegalStateException("scratch " + scratch + " is not fresh");
      }
      Files.writeString(scratch.resolve("disk.img"), cell.key());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (cell.key().equals(failKey)) {
      throw new KernelException(Errno.EIO, "injected failure");
    }
    SplittableRandom r = new SplittableRandom(cell.key().hashCode() * 31L + cell.seed());
    return new LabRow(
        cell,
        "rdma-nic",
        cell.policy().equals("beta") && cell.seed() % 3 == 0 ? "EFAULT" : "",
        r.nextInt(5),
        r.nextInt(1 << 20),
        r.nextBoolean(),
        r.nextInt(1000),
        1000 + r.nextInt(1000),
        2000 + r.nextInt(1000),
        r.nextInt(1 << 16),
        r.nextInt(10),
        0,
        r.nextInt(2),
        0,
        r.nextInt(3),
        r.nextInt(3),
        r.nextInt(2),
        r.nextInt(1 << 12),
        System.nanoTime() % 1000 / 10.0);
  }
}
