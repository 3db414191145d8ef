package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.TextTable;
import dev.refkern.examples.dio.DioExample;
import dev.refkern.examples.dio.DioExample.Config;
import dev.refkern.examples.dio.DioExample.DesignRow;
import dev.refkern.examples.dio.DioExample.Outcome;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code refkern run dio}: {@code O_DIRECT} to a file disk, then the bio pin-tracking designs. */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "dio",
    sortOptions = false,
    description = {
      "O_DIRECT writes and reads to a file-backed disk with integrity, while a device DMA-writes"
          + " into buffers it pins long-term; FLUSH, a power cut and a reopen; then the same small"
          + " workload under each block.bio_pin_tracking= design.",
      "Prints throughput, the pin balance, integrity errors and a table per design. Progress goes"
          + " to stderr. Exits 1 if pins do not balance, debug_vm finds something or data differs."
    })
final class RunDioCommand implements Callable<Integer> {
  @Option(
      names = "--cmdline",
      defaultValue = "mem=512M",
      paramLabel = "cmdline",
      description =
          "Kernel command line; block.bio_pin_tracking= picks the main run's design (default:"
              + " ${DEFAULT-VALUE}).")
  String cmdline;

  @Option(
      names = "--mb",
      defaultValue = "64",
      paramLabel = "N",
      description = "MiB written and read back, in 1 MiB requests (default: ${DEFAULT-VALUE}).")
  int mb;

  @Option(
      names = "--state",
      paramLabel = "DIR",
      description =
          "State directory for the machines and the disk image, kept afterwards; previous"
              + " kernels' memmaps there are refused (EEXIST) unless --reset (default: a temporary"
              + " directory, deleted afterwards).")
  Path state;

  @Option(
      names = "--reset",
      description = "Discard previous kernels' memmaps in the --state directory.")
  boolean reset;

  @Option(
      names = "--seed",
      defaultValue = "42",
      paramLabel = "N",
      description = "Seed of the data (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--power-cut",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description =
          "After the flush, leave a 1 MiB overwrite unflushed, cut the power and reopen"
              + " (default: on).")
  boolean powerCut;

  @Option(
      names = "--design-pages",
      defaultValue = "256",
      paramLabel = "N",
      description =
          "Pages of each design's workload, a multiple of 16 (default: ${DEFAULT-VALUE}).")
  int designPages;

  @Option(
      names = "--progress",
      negatable = true,
      description =
          "A progress bar on stderr instead of progress lines (default: when there is a console).")
  Boolean progress;

  static final String[] HEADERS = {
    "design", "bios", "splits", "mask-ops", "extra-pins", "pages", "ns/page"
  };

  @Override
  public Integer call() throws Exception {
    Path dir = KernelSession.stateDir(state, "refkern-dio");
    try {
      KernelSession.refusePreviousKernels(dir, state == null || reset);
      Config cfg = new Config(cmdline, mb, dir, seed, powerCut, designPages);
      PrintStream err = System.err;
      Outcome o;
      try (ConsoleProgress bar =
          ConsoleProgress.open(ConsoleProgress.wanted(progress), "run dio", -1)) {
        o = DioExample.run(cfg, bar.on() ? bar::message : m -> err.println("run dio: " + m));
      }
      print(System.out, cfg, o);
      List<String> violations = new ArrayList<>(o.debugVm());
      for (DesignRow r : o.designs()) {
        r.problems().forEach(p -> violations.add(r.design() + ": " + p));
      }
      int rc = FinalCheck.exitStatus(System.err, violations);
      return o.ok() ? rc : FinalCheck.VIOLATED;
    } finally {
      KernelSession.release(dir);
    }
  }

  private static void print(PrintStream out, Config cfg, Outcome o) {
    out.printf(
        Locale.ROOT,
        "# refkern run dio: %d MiB in 1 MiB O_DIRECT requests, seed %d, cmdline \"%s\"%n",
        cfg.mb(),
        cfg.seed(),
        cfg.cmdline());
    out.println("# disk: " + o.disk() + ", integrity on, write cache on");
    out.println("# block.bio_pin_tracking=" + o.design());
    out.printf(
        Locale.ROOT,
        "write: %d MiB, %d requests, %d bios: %s MB/s%n",
        o.bytesWritten() >> 20,
        o.requests(),
        o.writeBios(),
        DioExample.mbPerSecond(o.bytesWritten(), o.writeNs()));
    out.printf(
        Locale.ROOT,
        "flush: %d bytes destaged to the image in %.1f ms%n",
        o.flushBytes(),
        o.flushNs() / 1e6);
    if (o.cut() != null) {
      out.printf(
          Locale.ROOT,
          "power cut: unflushed 1 MiB overwrite lost (%d writes, %d sectors); after reopen the"
              + " flushed data is intact: %s%n",
          o.cut().writesLost(),
          o.cut().sectorsLost(),
          o.flushedDataIntact() ? "yes" : "NO");
    }
    out.printf(
        Locale.ROOT,
        "read: %d MiB, %d requests, %d bios: %s MB/s; data verified: %s%n",
        o.bytesRead() >> 20,
        o.requests(),
        o.readBios(),
        DioExample.mbPerSecond(o.bytesRead(), o.readNs()),
        o.mibMismatched() == 0 ? "yes" : "NO (" + o.mibMismatched() + " MiB differ)");
    out.printf(
        Locale.ROOT,
        "dma: the device pinned its buffer FOLL_LONGTERM and wrote it %d times during the I/O;"
            + " the task sees its last writes: %s%n",
        o.dmaRounds(),
        o.dmaSeen() ? "yes" : "NO");
    out.println("integrity errors: " + o.integrityErrors());
    out.printf(
        "pins balanced: %s (nr_foll_pin_acquired %d, nr_foll_pin_released %d)%n",
        o.pinsBalanced() ? "yes" : "NO", o.pinsAcquired(), o.pinsReleased());
    FinalCheck.print(out, "", o.debugVm());
    out.println();
    out.printf(
        Locale.ROOT,
        "# block.bio_pin_tracking designs, one machine each, on a RAM disk; per pass: O_DIRECT"
            + " write and read of %d pages, then a journal write of %d header pages (referenced)"
            + " each before 16 pinned pages; counts per pass, ns/page the median of 30 passes run round-robin%n",
        cfg.designPages(),
        cfg.designPages() / 16);
    out.print(table(o.designs()));
    for (DesignRow r : o.designs()) {
      for (String p : r.problems()) {
        out.println("# " + r.design() + ": " + p);
      }
    }
    out.flush();
  }

  /** The rows as aligned columns: the first left-aligned, numbers right-aligned. */
  static String table(List<DesignRow> rows) {
    return TextTable.render(cells(rows));
  }

  /** The header row, then one row of formatted cells per design (the report shows them too). */
  static List<String[]> cells(List<DesignRow> rows) {
    List<String[]> cells = new ArrayList<>();
    cells.add(HEADERS);
    for (DesignRow r : rows) {
      cells.add(
          new String[] {
            r.design(),
            Long.toString(r.bios()),
            Long.toString(r.splits()),
            Long.toString(r.maskOps()),
            Long.toString(r.extraPins()),
            Long.toString(r.pages()),
            String.format(Locale.ROOT, "%.1f", r.nsPerPage())
          });
    }
    return cells;
  }
}
