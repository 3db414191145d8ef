package dev.refkern.examples.bench;

import static dev.refkern.mm.Page.*;

import dev.refkern.examples.FileTrees;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.RamSwapDevice;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * JMH: reclaim ({@code shrink_node()} swapping anon pages out) and migration throughput, per page,
 * with and without pinned pages among them. Score is time per page; pages/s is its inverse.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 4, time = 1)
@Fork(1)
public class ReclaimBenchmark {
  private static final int PAGES = 2048;

  /** Percent of the pages held by a long-term pin. */
  @Param({"0", "50"})
  public int pinnedPercent;

  private Path dir;
  private PhysicalMemory mem;
  private VirtualMemory vm;
  private Task task;
  private long base;

  @Setup(Level.Trial)
  public void boot() throws IOException {
    dir = Files.createTempDirectory("refkern-jmh-reclaim");
    vm = VirtualMemory.boot(BootParams.parse("mem=1G zone_device=0"), dir, false);
    mem = vm.physicalMemory();
    vm.swapon(new RamSwapDevice(PAGES * 2L));
    task = vm.createTask("bench");
    base = task.mmapAnon(PAGES * (long) PAGE_SIZE);
    touch();
    int nPinned = PAGES * pinnedPercent / 100;
    for (int i = 0; i < nPinned; i++) {
      vm.gup()
          .pinUserPages(
              task,
              base + 2L * i * (long) PAGE_SIZE % (PAGES * (long) PAGE_SIZE),
              1,
              Foll.FOLL_WRITE,
              new long[1]);
    }
  }

  /** Every page present again before an invocation. */
  @Setup(Level.Invocation)
  public void touch() {
    for (int i = 0; i < PAGES; i++) {
      task.storeLong(base + i * (long) PAGE_SIZE, i);
    }
    vm.lru().lruAddDrainAll();
  }

  @TearDown(Level.Trial)
  public void shutdown() throws IOException {
    task.exit(); // the pins keep their pages; the machine goes with them
    mem.close();
    FileTrees.deleteTree(dir);
  }

  /** {@code shrink_node()} over every page; pinned ones are kept. */
  @Benchmark
  @OperationsPerInvocation(PAGES)
  public long reclaim() {
    return vm.vmscan().shrinkNode(PAGES).reclaimed();
  }

  /** {@code migrate_pages()} of every page; pinned ones fail with -EAGAIN. */
  @Benchmark
  @OperationsPerInvocation(PAGES)
  public int migrate() {
    int failed = 0;
    for (int i = 0; i < PAGES; i++) {
      long pte = task.mm().pte(base + i * (long) PAGE_SIZE);
      if (Pte.present(pte)) {
        failed += vm.migrateFolio(Pte.pfn(pte), true) == 0 ? 0 : 1;
      }
    }
    return failed;
  }
}
