package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.PageTypes;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.MemmapInspection;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code refkern inspect}: reads a live or dead memmap like {@code page-types}. */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "inspect",
    description = {
      "Read the memmap of a running or dead kernel and print a page-types-style table.",
      "Opens it read-only. A stopped or crashed kernel's memmap is checked against its"
          + " per-section CRC32C, a killed kernel's against sanity checks: a mismatch is EUCLEAN"
          + " (exit 117)."
    })
final class InspectCommand implements Callable<Integer> {
  @Option(
      names = "--state",
      defaultValue = "refkern-state",
      description = "State directory (default: ${DEFAULT-VALUE}).")
  Path state;

  @Option(
      names = "--pfn",
      description = "Describe this one frame's struct page instead of the table.")
  Long pfn;

  @Option(
      names = "--progress",
      negatable = true,
      description = "Progress bar on stderr while reading (default: when there is a console).")
  Boolean progress;

  @Override
  public Integer call() {
    try (MemmapInspection in = MemmapInspection.open(state)) {
      System.out.printf(
          "kernel: %s (pid %s, booted %s)%ncmdline: %s%n",
          in.state(), in.property("pid"), in.property("boot_time"), in.property("cmdline"));
      if (in.property("status_detail") != null) {
        System.out.println("detail: " + in.property("status_detail"));
      }
      System.out.println("memmap: opened read-only; " + in.integrityNote());
      System.out.flush();
      in.verify(); // EUCLEAN: a modified or insane dead memmap is not tabulated
      if (pfn != null) {
        if (!in.memmap().pfnValid(pfn)) {
          throw new KernelException(
              Errno.EINVAL, "pfn " + pfn + " outside the memmap [0, " + in.memmap().nrPfns() + ")");
        }
        System.out.print(PageTypes.describe(in.memmap(), pfn));
        return 0;
      }
      long nr = in.memmap().nrPfns();
      try (ConsoleProgress bar =
          ConsoleProgress.open(ConsoleProgress.wanted(progress), "inspect", nr)) {
        System.out.print(PageTypes.table(PageTypes.count(in.memmap(), nr, bar::stepTo)));
      }
    }
    return 0;
  }
}
