package dev.refkern.examples.bench;

import dev.refkern.examples.FileTrees;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/** JMH benchmarks of the physical-memory hot paths: the memmap and the buddy allocator. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class MemmapBenchmark {
  private static final int BATCH = 512;

  private Path dir;
  private PhysicalMemory mem;
  private PageAllocator allocator;
  private final long[] pfns = new long[BATCH];

  @Setup(Level.Trial)
  public void boot() throws IOException {
    dir = Files.createTempDirectory("refkern-jmh");
    mem = PhysicalMemory.boot(BootParams.parse("mem=1G zone_device=0"), dir, false);
    allocator = mem.allocator();
    for (int i = 0; i < BATCH; i++) {
      pfns[i] = allocator.allocPages(Gfp.KERNEL, 0);
    }
  }

  @TearDown(Level.Trial)
  public void shutdown() throws IOException {
    for (long pfn : pfns) {
      allocator.putPage(pfn);
    }
    mem.close();
    FileTrees.deleteTree(dir);
  }

  /**
   * {@code get_page()} and {@code put_page()}: {@code pfn_to_page()} plus an atomic refcount update
   * each, through the public allocator (the memmap itself is read-only outside mm-core).
   */
  @Benchmark
  @OperationsPerInvocation(2 * BATCH)
  public long getPagePutPage() {
    for (int i = 0; i < BATCH; i++) {
      allocator.getPage(pfns[i]);
    }
    for (int i = 0; i < BATCH; i++) {
      allocator.putPage(pfns[i]);
    }
    return pfns[0];
  }

  /** {@code alloc_pages(GFP_KERNEL, 0)} followed by {@code put_page()}, per page. */
  @Benchmark
  @OperationsPerInvocation(BATCH)
  public long allocFreeOrder0() {
    long[] held = new long[BATCH];
    for (int i = 0; i < BATCH; i++) {
      held[i] = allocator.allocPages(Gfp.KERNEL, 0);
    }
    for (int i = 0; i < BATCH; i++) {
      allocator.putPage(held[i]);
    }
    return held[0];
  }
}
