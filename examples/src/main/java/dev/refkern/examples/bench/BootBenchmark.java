package dev.refkern.examples.bench;

import dev.refkern.examples.FileTrees;
import dev.refkern.mm.BootParams;
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
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/** JMH: time to boot physical memory, memmap file included ({@code mm_core_init()}). */
@State(Scope.Thread)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(1)
public class BootBenchmark {
  @Param({"64G"})
  public String mem;

  private Path dir;

  @Setup(Level.Invocation)
  public void dir() throws IOException {
    dir = Files.createTempDirectory("refkern-jmh-boot");
  }

  @TearDown(Level.Invocation)
  public void clean() throws IOException {
    FileTrees.deleteTree(dir);
  }

  @Benchmark
  public long boot() {
    try (PhysicalMemory m =
        PhysicalMemory.boot(BootParams.parse("mem=" + mem + " zone_device=0"), dir, false)) {
      return m.allocator().nrFreePages();
    }
  }
}
