package dev.refkern.examples.bench;

import static dev.refkern.mm.Page.*;

import dev.refkern.examples.FileTrees;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH benchmarks of GUP, per page, in batches of {@value #BATCH} (what {@code gup_test -n 512}
 * does): {@code pin_user_pages_fast()} and {@code pin_user_pages(FOLL_LONGTERM)}, each with {@code
 * unpin_user_pages()}, over 1 GiB of faulted-in private anonymous memory mapped with small pages
 * ({@code pages=4k}) or with THP ({@code pages=thp}, {@code MADV_HUGEPAGE}: one 2 MiB folio per
 * batch).
 *
 * <p>The pairs ({@code *Unpin}) run in average-time mode, batch after batch through the region. The
 * get and put sides alone cannot be separated per invocation without an unpin or a pin in a
 * per-invocation fixture; instead they run as single shots over the whole region ({@value
 * #REGION_PAGES} pages, {@value #BATCH} per call), the pins taken by a shot released (or, for
 * {@link #unpinOnly}, taken) in an untimed per-iteration fixture.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GupBenchmark {
  static final int BATCH = 512;
  static final long REGION = 1L << 30;
  static final int REGION_PAGES = (int) (REGION >>> PAGE_SHIFT);
  static final int NR_BATCHES = REGION_PAGES / BATCH;
  static final int FLAGS = Foll.FOLL_WRITE;
  static final int LONGTERM = Foll.FOLL_WRITE | Foll.FOLL_LONGTERM;

  /** A booted machine with one task and its 1 GiB region, faulted in for writing. */
  @State(Scope.Thread)
  public static class Machine {
    @Param({"4k", "thp"})
    public String pages;

    Path dir;
    PhysicalMemory mem;
    Gup gup;
    Task task;
    long addr;
    int cursor;
    final long[] batch = new long[BATCH];

    @Setup(Level.Trial)
    public void boot() throws IOException {
      dir = Files.createTempDirectory("refkern-jmh-gup");
      VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=2G zone_device=0"), dir, true);
      mem = vm.physicalMemory();
      gup = vm.gup();
      task = vm.createTask("gup_bench");
      addr =
          task.mmap(
              0,
              REGION,
              Mman.PROT_READ | Mman.PROT_WRITE,
              Mman.MAP_PRIVATE | Mman.MAP_ANONYMOUS,
              null,
              0);
      task.madvise(addr, REGION, "thp".equals(pages) ? Mman.MADV_HUGEPAGE : Mman.MADV_NOHUGEPAGE);
      // write faults for every page, as gup_test's p[0] = 0 loop (MADV_POPULATE_WRITE's path)
      for (long done = 0; done < REGION_PAGES; ) {
        done +=
            gup.getUserPages(task, addr + (done << PAGE_SHIFT), REGION_PAGES - done, FLAGS, null);
      }
    }

    /** The next batch's address, cycling through the region. */
    long next() {
      long a = addr + ((long) cursor * BATCH << PAGE_SHIFT);
      cursor = cursor + 1 == NR_BATCHES ? 0 : cursor + 1;
      return a;
    }

    @TearDown(Level.Trial)
    public void shutdown() throws IOException {
      try {
        long acquired = mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
        long released = mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED);
        task.exit();
        List<String> problems = mem.debugVm().check();
        if (acquired != released || !problems.isEmpty()) {
          throw new IllegalStateException(
              "pins acquired " + acquired + ", released " + released + "; debug_vm " + problems);
        }
      } finally {
        mem.close();
        FileTrees.deleteTree(dir);
      }
    }
  }

  /**
   * Every batch of the region, pinned or to be pinned; one array per call. It holds its {@link
   * Machine} itself: a benchmark that took both would get a second machine, JMH giving fixture
   * methods their own instance of an injected state.
   */
  abstract static class Held {
    Machine m;
    final long[][] batches = new long[NR_BATCHES][BATCH];
    boolean pinned;

    void pinAll(int flags, boolean fast) {
      for (int b = 0; b < NR_BATCHES; b++) {
        long a = m.addr + ((long) b * BATCH << PAGE_SHIFT);
        check(
            fast
                ? m.gup.pinUserPagesFast(m.task, a, BATCH, flags, batches[b])
                : m.gup.pinUserPages(m.task, a, BATCH, flags, batches[b]));
      }
      pinned = true;
    }

    void unpinAll() {
      for (long[] b : batches) {
        m.gup.unpinUserPages(b, BATCH);
      }
      pinned = false;
    }
  }

  /** Pins a shot takes, released after the iteration. */
  @State(Scope.Thread)
  public static class ToRelease extends Held {
    @Setup(Level.Trial)
    public void attach(Machine machine) {
      m = machine;
    }

    @TearDown(Level.Iteration)
    public void release() {
      if (pinned) {
        unpinAll();
      }
    }
  }

  /** Pins taken before the iteration, for a shot to release. */
  @State(Scope.Thread)
  public static class PrePinned extends Held {
    @Setup(Level.Trial)
    public void attach(Machine machine) {
      m = machine;
    }

    @Setup(Level.Iteration)
    public void pin() {
      pinAll(FLAGS, true);
    }

    @TearDown(Level.Iteration)
    public void leftovers() {
      if (pinned) {
        unpinAll(); // only if the shot failed
      }
    }
  }

  static long check(long n) {
    if (n != BATCH) {
      throw new IllegalStateException("took " + n + " of " + BATCH + " pages");
    }
    return n;
  }

  // ---------------------------------------------------------------- get + put, per page

  /** {@code pin_user_pages_fast()} + {@code unpin_user_pages()} of one batch. */
  @Benchmark
  @OperationsPerInvocation(BATCH)
  public long pinFastUnpin(Machine m) {
    long[] p = m.batch;
    check(m.gup.pinUserPagesFast(m.task, m.next(), BATCH, FLAGS, p));
    m.gup.unpinUserPages(p, BATCH);
    return p[0];
  }

  /** {@code pin_user_pages(FOLL_LONGTERM)} + {@code unpin_user_pages()} of one batch. */
  @Benchmark
  @OperationsPerInvocation(BATCH)
  public long pinLongtermUnpin(Machine m) {
    long[] p = m.batch;
    check(m.gup.pinUserPages(m.task, m.next(), BATCH, LONGTERM, p));
    m.gup.unpinUserPages(p, BATCH);
    return p[0];
  }

  // ---------------------------------------------------------------- get or put alone, per page

  /** {@code pin_user_pages_fast()} alone: the whole region, one shot. */
  @Benchmark
  @BenchmarkMode(Mode.SingleShotTime)
  @Warmup(iterations = 30)
  @Measurement(iterations = 50)
  @OperationsPerInvocation(REGION_PAGES)
  public long pinFastOnly(ToRelease h) {
    h.pinAll(FLAGS, true);
    return h.batches[0][0];
  }

  /** {@code pin_user_pages(FOLL_LONGTERM)} alone: the whole region, one shot. */
  @Benchmark
  @BenchmarkMode(Mode.SingleShotTime)
  @Warmup(iterations = 30)
  @Measurement(iterations = 50)
  @OperationsPerInvocation(REGION_PAGES)
  public long pinLongtermOnly(ToRelease h) {
    h.pinAll(LONGTERM, false);
    return h.batches[0][0];
  }

  /** {@code unpin_user_pages()} alone: the whole region, pinned beforehand, one shot. */
  @Benchmark
  @BenchmarkMode(Mode.SingleShotTime)
  @Warmup(iterations = 30)
  @Measurement(iterations = 50)
  @OperationsPerInvocation(REGION_PAGES)
  public long unpinOnly(PrePinned h) {
    h.unpinAll();
    return h.batches[0][0];
  }
}
