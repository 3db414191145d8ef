package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.KernelComponent;
import dev.refkern.examples.ProcFiles;
import dev.refkern.mm.BootConfig;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code refkern boot}: boots a kernel and prints its {@code /proc} files. */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "boot",
    description =
        "Boot a kernel and print /proc/meminfo, /proc/zoneinfo, /proc/buddyinfo, /proc/vmstat.")
final class BootCommand implements Callable<Integer> {
  @Option(
      names = "--cmdline",
      defaultValue = "mem=1G",
      description =
          "Kernel command line, e.g. \"mem=64G movablecore=8G\" (default: ${DEFAULT-VALUE}).")
  String cmdline;

  @Option(
      names = "--state",
      defaultValue = "refkern-state",
      description = "State directory for the memmap (default: ${DEFAULT-VALUE}).")
  Path state;

  @Option(
      names = "--reset",
      description = "Discard a previous kernel's memmap in the state directory.")
  boolean reset;

  @Option(
      names = "--hold",
      description =
          "Keep the kernel running until standard input closes or SIGINT/SIGTERM (for live"
              + " inspection).")
  boolean hold;

  @Option(
      names = "--progress",
      negatable = true,
      description = "Progress bar on stderr while booting (default: when there is a console).")
  Boolean progress;

  @Override
  public Integer call() throws Exception {
    PrintStream out = System.out;
    long t0 = System.nanoTime();
    BootParams params = BootParams.parse(cmdline);
    KernelComponent k;
    try (ConsoleProgress bar = ConsoleProgress.open(ConsoleProgress.wanted(progress), "boot", 1)) {
      k = KernelComponent.boot(new BootConfig(params, state, reset, bar.boot()));
      k.physicalMemory();
    }
    try (PhysicalMemory mem = k.physicalMemory()) {
      long ms = (System.nanoTime() - t0) / 1_000_000;
      out.printf(
          "booted \"%s\" in %d ms; memmap %s (%.1f bytes/frame)%n",
          cmdline, ms, state, mem.memmapBytesPerFrame());
      if (!mem.params().unknown().isEmpty()) {
        out.println("unknown parameters (passed to init): " + mem.params().unknown().keySet());
      }
      out.println("==> /proc/meminfo <==");
      out.print(ProcFiles.meminfo(mem));
      out.println("==> /proc/zoneinfo <==");
      out.print(ProcFiles.zoneinfo(mem));
      out.println("==> /proc/buddyinfo <==");
      out.print(ProcFiles.buddyinfo(mem));
      out.println("==> /proc/vmstat <==");
      out.print(ProcFiles.vmstat(mem));
      if (hold) {
        out.println("running, pid " + ProcessHandle.current().pid() + "; close stdin to shut down");
        out.flush();
        KernelSession.holdUntilStdinClosed();
      }
      return FinalCheck.finish(mem, out, System.err, "");
    }
  }
}
