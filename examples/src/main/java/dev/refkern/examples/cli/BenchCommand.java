package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.FinalCheck;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.sched.Schedulers;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code refkern bench memmap}: the physical-memory benchmarks reported in the README. */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "bench",
    description = "Benchmarks: memmap boot, bytes per frame, page alloc+free, refcount update.")
final class BenchCommand implements Callable<Integer> {
  static final int MAX_ROUNDS = 1000;

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

  @Option(
      names = "--progress",
      negatable = true,
      description = "Progress bar on stderr while booting (default: when there is a console).")
  Boolean progress;

  @Override
  public Integer call() throws Exception {
    if (ops < 1) {
      throw new KernelException(
          Errno.EINVAL, "--ops " + ops + ": must be between 1 and " + Integer.MAX_VALUE);
    }
    if (rounds < 0 || rounds > MAX_ROUNDS) {
      throw new KernelException(
          Errno.EINVAL, "--rounds " + rounds + ": must be between 0 and " + MAX_ROUNDS);
    }
    BootParams params = BootParams.parse("mem=" + mem + " zone_device=0");
    Path dir = KernelSession.stateDir(null, "refkern-bench");
    try {
      long t0 = System.nanoTime();
      PhysicalMemory booted;
      try (ConsoleProgress bar =
          ConsoleProgress.open(ConsoleProgress.wanted(progress), "boot", 1)) {
        booted = PhysicalMemory.boot(params, dir, false, Schedulers.threads(), bar.boot());
      }
      // the bar's last redraw is in the boot time, as a user waits for it too
      try (PhysicalMemory m = booted) {
        double bootMs = (System.nanoTime() - t0) / 1e6;
        System.out.printf(
            "boot mem=%s: %d frames in %.0f ms; memmap %.2f bytes/frame (budget 64)%n",
            mem, m.memmap().nrPfns(), bootMs, m.memmapBytesPerFrame());
        PageAllocator a = m.allocator();
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
              a.getPage(pfns[i]);
            }
            for (int i = 0; i < batch; i++) {
              a.putPage(pfns[i]);
            }
            done += 2L * batch;
          }
          double ns = (System.nanoTime() - start) / (double) done;
          System.out.printf(
              "%s get_page/put_page (pfn->struct page + atomic refcount update): %.2f ns/update%n",
              r == 0 ? "warm-up" : "round " + r, ns);
        }
        for (long p : pfns) {
          a.putPage(p);
        }
        return FinalCheck.finish(m, System.out, System.err, "");
      }
    } finally {
      KernelSession.release(dir);
    }
  }
}
