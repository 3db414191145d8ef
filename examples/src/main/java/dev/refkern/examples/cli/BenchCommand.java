package dev.refkern.examples.cli;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code refkern bench memmap}: the physical-memory benchmarks reported in the README. */
@Command(
    name = "bench",
    description = "Benchmarks: memmap boot, bytes per frame, page alloc+free, refcount update.")
final class BenchCommand implements Callable<Integer> {
  static final int GUP_PIN_COUNTING_BIAS = 1024;

  @Option(
      names = "--mem",
      defaultValue = "64G",
      description = "Memory to boot (default: ${DEFAULT-VALUE}).")
  String mem;

  @Option(
      names = "--ops",
      defaultValue = "4000000",
      description = "Operations per measurement (default: ${DEFAULT-VALUE}).")
  int ops;

  @Option(
      names = "--rounds",
      defaultValue = "5",
      description = "Measured rounds after one warm-up round (default: ${DEFAULT-VALUE}).")
  int rounds;

  @Override
  public Integer call() throws Exception {
    Path dir = KernelSession.stateDir(null, "refkern-bench");
    try {
      long t0 = System.nanoTime();
      try (PhysicalMemory m =
          PhysicalMemory.boot(BootParams.parse("mem=" + mem + " zone_device=0"), dir, false)) {
        double bootMs = (System.nanoTime() - t0) / 1e6;
        System.out.printf(
            "boot mem=%s: %d frames in %.0f ms; memmap %.2f bytes/frame (budget 64)%n",
            mem, m.memmap().nrPfns(), bootMs, m.memmapBytesPerFrame());
        PageAllocator a = m.allocator();
        Memmap mm = m.memmap();
        int batch = (int) Math.min(4096, m.ramPfns() / 4);
        long[] pfns = new long[batch];
        for (int r = 0; r <= rounds; r++) {
          long start = System.nanoTime();
          long done = 0;
          while (done < ops) {
            for (int i = 0; i < batch; i++) {
              pfns[i] = a.allocPages(Gfp.KERNEL, 0);
            }
            for (int i = 0; i < batch; i++) {
              a.putPage(pfns[i]);
            }
            done += batch;
          }
          double ns = (System.nanoTime() - start) / (double) done;
          System.out.printf(
              "%s alloc+free order-0: %.1f ns/page%n", r == 0 ? "warm-up" : "round " + r, ns);
        }
        for (int i = 0; i < batch; i++) {
          pfns[i] = a.allocPages(Gfp.KERNEL, 0);
        }
        for (int r = 0; r <= rounds; r++) {
          long start = System.nanoTime();
          long done = 0;
          while (done < ops) {
            for (int i = 0; i < batch; i++) {
              mm.refAdd(pfns[i], GUP_PIN_COUNTING_BIAS);
            }
            for (int i = 0; i < batch; i++) {
              mm.refAdd(pfns[i], -GUP_PIN_COUNTING_BIAS);
            }
            done += 2L * batch;
          }
          double ns = (System.nanoTime() - start) / (double) done;
          System.out.printf(
              "%s pfn->struct page + atomic refcount add (pin-sized): %.2f ns/update%n",
              r == 0 ? "warm-up" : "round " + r, ns);
        }
        for (long p : pfns) {
          a.putPage(p);
        }
      }
    } finally {
      KernelSession.release(dir);
    }
    return 0;
  }
}
