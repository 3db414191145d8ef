package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.apiguardian.api.API;

/**
 * Runs cells, each in a fresh scratch directory under one parent (deleted afterwards), on one or
 * more threads. Rows come back in cell order whatever the number of threads; a stop request
 * (Ctrl-C) or an interrupt ends the run after the cells in flight, returning the rows done so far.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LabRunner {
  /** Told after each cell, from the thread that ran it (calls are serialized). */
  @FunctionalInterface
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public interface Progress {
    /** Nothing. */
    Progress NONE = (cell, row, done, total) -> {};

    /**
     * Cell {@code cell} finished: {@code row}, or null if it failed; {@code done} of {@code total}.
     */
    void cellDone(LabCell cell, LabRow row, int done, int total);
  }

  /**
   * What a run produced.
   *
   * @param rows the rows of the cells that finished, in cell order
   * @param failures one line per cell that threw: its key and the error
   * @param stopped whether a stop request or an interrupt ended it before every cell ran
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public record Result(List<LabRow> rows, List<String> failures, boolean stopped) {}

  private final Path parent;
  private final int jobs;
  private final BooleanSupplier stop;

  /**
   * A runner making scratch directories under {@code parent}, running {@code jobs} cells at once,
   * asking {@code stop} before each cell.
   */
  public LabRunner(Path parent, int jobs, BooleanSupplier stop) {
    if (jobs < 1) {
      throw new IllegalArgumentException("jobs must be at least 1: " + jobs);
    }
    this.parent = Objects.requireNonNull(parent, "parent");
    this.jobs = jobs;
    this.stop = Objects.requireNonNull(stop, "stop");
  }

  /** Runs {@code cells}, each by the comparison its {@link LabCell#comparison()} names. */
  public Result run(List<LabCell> cells, Progress progress) {
    return run(
        cells, (cell, dir) -> Comparisons.byName(cell.comparison()).run(cell, dir), progress);
  }

  /** Runs {@code cells} with {@code comparison}. */
  public Result run(Comparison comparison, List<LabCell> cells, Progress progress) {
    return run(cells, comparison::run, progress);
  }

  /** Runs {@code cells} with {@code body} (a cell and its scratch directory to a row). */
  public Result run(
      List<LabCell> cells, BiFunction<LabCell, Path, LabRow> body, Progress progress) {
    int n = cells.size();
    LabRow[] rows = new LabRow[n];
    String[] failed = new String[n];
    AtomicInteger next = new AtomicInteger();
    AtomicInteger done = new AtomicInteger();
    Object tell = new Object();
    try {
      Files.createDirectories(parent);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Runnable worker =
        () -> {
          for (int i; !stopping() && (i = next.getAndIncrement()) < n; ) {
            LabCell cell = cells.get(i);
            try {
              rows[i] = runOne(cell, body);
            } catch (RuntimeException | Error e) {
              if (stopping()) {
                return; // the cell in flight at Ctrl-C: dropped, not a failure
              }
              failed[i] = cell.key() + ": " + e;
            }
            synchronized (tell) {
              progress.cellDone(cell, rows[i], done.incrementAndGet(), n);
            }
          }
        };
    boolean interrupted = false;
    if (jobs == 1) {
      worker.run();
      interrupted = Thread.currentThread().isInterrupted();
    } else {
      ExecutorService pool = Executors.newFixedThreadPool(Math.min(jobs, Math.max(1, n)), daemon());
      List<Future<?>> fs = new ArrayList<>();
      for (int j = 0; j < Math.min(jobs, n); j++) {
        fs.add(pool.submit(worker));
      }
      pool.shutdown();
      try {
        for (Future<?> f : fs) {
          f.get();
        }
      } catch (InterruptedException e) {
        interrupted = true;
        next.set(n); // no new cells; the ones in flight finish or fail
        pool.shutdownNow();
        awaitQuietly(pool);
        Thread.currentThread().interrupt();
      } catch (java.util.concurrent.ExecutionException e) {
        throw new IllegalStateException("lab worker failed", e.getCause());
      }
    }
    List<LabRow> out = new ArrayList<>();
    List<String> failures = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      if (rows[i] != null) {
        out.add(rows[i]);
      }
      if (failed[i] != null) {
        failures.add(failed[i]);
      }
    }
    boolean stopped = out.size() + failures.size() < n;
    return new Result(List.copyOf(out), List.copyOf(failures), stopped || interrupted);
  }

  private boolean stopping() {
    return stop.getAsBoolean() || Thread.currentThread().isInterrupted();
  }

  private LabRow runOne(LabCell cell, BiFunction<LabCell, Path, LabRow> body) {
    Path scratch;
    try {
      scratch = Files.createTempDirectory(parent, cell.key() + "-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try {
      LabRow row = body.apply(cell, scratch);
      if (!row.cell().equals(cell)) {
        throw new IllegalStateException("row of " + row.cell() + " for cell " + cell);
      }
      return row;
    } finally {
      delete(scratch);
    }
  }

  /** Deletes {@code dir} and everything under it, quietly (a kernel may still hold a file). */
  static void delete(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder())
          .forEach(
              p -> {
                try {
                  Files.deleteIfExists(p);
                } catch (IOException e) {
                  // left for the parent's owner
                }
              });
    } catch (IOException e) {
      // left for the parent's owner
    }
  }

  private static void awaitQuietly(ExecutorService pool) {
    try {
      pool.awaitTermination(60, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static java.util.concurrent.ThreadFactory daemon() {
    AtomicInteger id = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, "lab-" + id.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
