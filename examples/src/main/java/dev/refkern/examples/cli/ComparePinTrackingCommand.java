package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.TextTable;
import dev.refkern.examples.compare.PinTrackingChart;
import dev.refkern.examples.compare.PinTrackingComparison;
import dev.refkern.examples.compare.PinTrackingComparison.Config;
import dev.refkern.examples.compare.PinTrackingComparison.Outcome;
import dev.refkern.examples.compare.PinTrackingComparison.Row;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code refkern compare pin-tracking}: the {@code gup.pin_tracking=} policies on one seeded
 * workload, a table on stdout and a bar chart as a PNG.
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "pin-tracking",
    sortOptions = false,
    description = {
      "Compare the gup.pin_tracking= policies (how a page remembers a pin) on one workload.",
      "Boots a fresh machine per policy (bias, page_flag, lru_isolate, fake_vma; one this build"
          + " lacks is skipped) and runs the same seeded workload on each: direct-I/O pins released"
          + " in random order by a completion thread, overlapping RDMA (FOLL_LONGTERM)"
          + " registrations, plain get_user_pages() users, reclaim with swap, compaction, migration"
          + " and a fork. Prints, per policy: missed pins, pinned pages lost under DMA, false"
          + " positives, ns per pin and unpin, memory overhead, refused migrations, reclaim work and"
          + " gup_fast use; and draws them as a PNG. Counts are deterministic for a seed; timings"
          + " vary."
    })
final class ComparePinTrackingCommand implements Callable<Integer> {
  @Option(
      names = "--cmdline",
      defaultValue = "mem=512M movablecore=128M",
      paramLabel = "cmdline",
      description =
          "Kernel command line; gup.pin_tracking= is appended per policy (default:"
              + " ${DEFAULT-VALUE}).")
  String cmdline;

  @Option(
      names = "--seed",
      defaultValue = "42",
      paramLabel = "N",
      description = "Seed of the workload (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--pages",
      defaultValue = "2048",
      paramLabel = "N",
      description =
          "Pages in the direct-I/O buffer; the RDMA and get_user_pages buffers are a quarter of it"
              + " (default: ${DEFAULT-VALUE}).")
  int pages;

  @Option(
      names = "--out",
      defaultValue = "refkern-state/compare/pin-tracking.png",
      paramLabel = "FILE",
      description = "Where the PNG chart goes (default: ${DEFAULT-VALUE}).")
  Path out;

  @Option(names = "--no-chart", description = "Print the table only; write no PNG.")
  boolean noChart;

  @Option(
      names = "--progress",
      negatable = true,
      description =
          "A progress bar on stderr instead of progress lines (default: when there is a console).")
  Boolean progress;

  static final String[] HEADERS = {
    "policy",
    "missed",
    "corrupt",
    "false+",
    "pin-ns/pg",
    "unpin-ns/pg",
    "overhead-B",
    "cmp-blocked",
    "eagain",
    "scanned",
    "activated",
    "pin-kept",
    "fast-path",
    "fast-pages"
  };

  @Override
  public Integer call() throws Exception {
    Config cfg = new Config(cmdline, seed, pages);
    // everything that can fail before the run does fail before it
    BootParams params = BootParams.parse(cmdline);
    long need = cfg.pagesNeeded();
    long have = params.memBytes() / Page.PAGE_SIZE;
    if (need > have) {
      throw new KernelException(
          Errno.ENOMEM,
          "--pages "
              + pages
              + ": the workload needs at least "
              + need
              + " pages ("
              + need * Page.PAGE_SIZE / (1 << 20)
              + " MiB: its buffers, and the copies fork makes of pinned pages); --cmdline \""
              + cmdline
              + "\" has "
              + have
              + " ("
              + params.memBytes() / (1 << 20)
              + " MiB)");
    }
    if (!noChart) {
      OutputPath.checkWritable(out, "--out");
    }
    PrintStream err = System.err;
    Outcome o;
    try (ConsoleProgress bar =
        ConsoleProgress.open(ConsoleProgress.wanted(progress), "compare pin-tracking", -1)) {
      o =
          PinTrackingComparison.run(
              cfg, bar.on() ? bar::message : m -> err.println("compare pin-tracking: " + m));
    }
    if (o.rows().isEmpty()) {
      throw new KernelException(
          Errno.EINVAL, "no pin-tracking policy could run: " + String.join("; ", o.failed()));
    }
    PrintStream stdout = System.out;
    String subtitle =
        String.format(
            Locale.ROOT,
            "seed %d, %d-page direct-I/O buffer, cmdline \"%s\"",
            seed,
            pages,
            cmdline);
    stdout.println("# refkern compare pin-tracking: " + subtitle);
    stdout.println("# workload: " + cfg.describe());
    stdout.print(table(o.rows()));
    for (Row r : o.rows()) {
      stdout.printf(
          Locale.ROOT,
          "# %s: p99 pin-ns/pg %.1f, unpin-ns/pg %.1f (the table's are medians)%n",
          r.policy(),
          r.pinNsPerPageP99(),
          r.unpinNsPerPageP99());
    }
    if (!o.skipped().isEmpty()) {
      stdout.println("# skipped (not in this build): " + String.join(", ", o.skipped()));
    }
    for (String f : o.failed()) {
      stdout.println("# FAILED: " + f);
    }
    for (Row r : o.rows()) {
      if (r.pinnedMigrated() > 0) {
        stdout.println(
            "# " + r.policy() + ": " + r.pinnedMigrated() + " pinned page(s) migrated under DMA");
      }
      for (String n : r.notes()) {
        stdout.println("# " + r.policy() + ": " + n);
      }
    }
    if (!noChart) {
      PinTrackingChart.write(o.rows(), out, subtitle);
      stdout.println("chart written to " + out.toAbsolutePath().normalize());
    }
    stdout.flush();
    List<String> violations = new ArrayList<>();
    for (Row r : o.rows()) {
      r.notes().stream()
          .filter(n -> n.startsWith(PinTrackingComparison.DEBUG_VM_NOTE))
          .forEach(n -> violations.add(r.policy() + ": " + n));
    }
    int rc = FinalCheck.exitStatus(System.err, violations);
    return o.failed().isEmpty() ? rc : FinalCheck.VIOLATED;
  }

  /** The rows as aligned columns: the first left-aligned, numbers right-aligned. */
  static String table(List<Row> rows) {
    return TextTable.render(cells(rows));
  }

  /** The header row, then one row of formatted cells per policy (the report shows them too). */
  static List<String[]> cells(List<Row> rows) {
    List<String[]> cells = new ArrayList<>();
    cells.add(HEADERS);
    for (Row r : rows) {
      cells.add(
          new String[] {
            r.policy(),
            Long.toString(r.missedPins()),
            Long.toString(r.corrupted()),
            Long.toString(r.falsePositives()),
            String.format(Locale.ROOT, "%.1f", r.pinNsPerPage()),
            String.format(Locale.ROOT, "%.1f", r.unpinNsPerPage()),
            Long.toString(r.peakOverheadBytes()),
            Long.toString(r.compactPinBlocked()),
            Long.toString(r.migrateEagain()),
            Long.toString(r.reclaimScanned()),
            Long.toString(r.reclaimActivated()),
            Long.toString(r.reclaimPinnedKept()),
            r.fastPathAvailable() ? "yes" : "no",
            Long.toString(r.fastPathPages())
          });
    }
    return cells;
  }
}
