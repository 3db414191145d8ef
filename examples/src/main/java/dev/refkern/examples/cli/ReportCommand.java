package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.compare.PinTrackingChart;
import dev.refkern.examples.compare.PinTrackingComparison;
import dev.refkern.examples.dio.DioExample;
import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.Comparisons;
import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.examples.lab.LabRunner;
import dev.refkern.examples.lab.PowerCutRow;
import dev.refkern.examples.report.LabReport;
import dev.refkern.examples.report.ReportChart;
import dev.refkern.examples.report.ReportData;
import dev.refkern.examples.report.ReportHeader;
import dev.refkern.examples.report.ReportSection;
import dev.refkern.examples.report.ReportTable;
import dev.refkern.examples.report.SeedThreads;
import dev.refkern.examples.report.internal.SvgBars;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code refkern report}: runs every comparison of the lab over a few seeds, the power-cut matrix,
 * {@code compare pin-tracking} and the bio pin-tracking designs, and writes one self-contained HTML
 * page (and, on request, the README's Markdown section).
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "report",
    sortOptions = false,
    description = {
      "Measure every design the seeds argue about and write one self-contained HTML page.",
      "Runs every lab comparison over --seeds, the power-cut matrix, compare pin-tracking and the"
          + " block.bio_pin_tracking designs; writes DIR/report.html (charts and styles inline,"
          + " nothing fetched) with a section per seed thread: its question, its authors' designs"
          + " quoted, and what refkern measured of each, with the command that reproduces it."
          + " Prints the page's path."
    })
final class ReportCommand implements Callable<Integer> {
  @Option(
      names = "--out",
      defaultValue = "refkern-report",
      paramLabel = "DIR",
      description = "Directory of report.html (default: ${DEFAULT-VALUE}).")
  Path out;

  @Option(
      names = "--seeds",
      defaultValue = "1..2",
      paramLabel = "A..B",
      description =
          "Seeds of the lab's comparisons, inclusive; the first also seeds pin-tracking and the"
              + " bio designs (default: ${DEFAULT-VALUE}).")
  String seeds;

  @Option(
      names = "--markdown",
      paramLabel = "FILE",
      description = "Also write the README's section \"" + LabReport.MARKDOWN_HEADING + "\" here.")
  Path markdown;

  @Option(
      names = "--pin-pages",
      defaultValue = "512",
      paramLabel = "N",
      description = "Pages of compare pin-tracking's buffer (default: ${DEFAULT-VALUE}).")
  int pinPages;

  @Option(
      names = "--progress",
      negatable = true,
      description =
          "A progress bar on stderr instead of progress lines (default: when there is a console).")
  Boolean progress;

  static final String PIN_CMDLINE = "mem=512M movablecore=128M";
  static final String DIO_CMDLINE = "mem=512M";
  static final int DIO_MB = 4;
  static final int DIO_DESIGN_PAGES = 64;

  /** An inclusive range of seeds, {@code A..B} or one seed {@code A}. */
  record SeedRange(long first, long last) {
    static final long MAX_SEEDS = 100_000;

    static SeedRange parse(String s) {
      String[] p = s.split("\\.\\.", -1);
      try {
        long a = Long.parseLong(p[0].trim());
        long b = p.length == 2 ? Long.parseLong(p[1].trim()) : a;
        if (p.length > 2 || b < a || b - a >= MAX_SEEDS) {
          throw new NumberFormatException();
        }
        return new SeedRange(a, b);
      } catch (NumberFormatException e) {
        throw new KernelException(
            Errno.EINVAL,
            "--seeds '"
                + s
                + "': give A..B with A <= B (at most "
                + MAX_SEEDS
                + " seeds), or one seed");
      }
    }

    long count() {
      return last - first + 1;
    }

    @Override
    public String toString() {
      return first == last ? Long.toString(first) : first + ".." + last;
    }
  }

  @Override
  public Integer call() throws Exception {
    SeedRange range = SeedRange.parse(seeds);
    if (pinPages < 64 || pinPages > 8192) {
      throw new KernelException(
          Errno.EINVAL, "--pin-pages " + pinPages + ": choose between 64 and 8192");
    }
    Path html = out.resolve(LabReport.FILE);
    OutputPath.checkWritable(html, "--out");
    if (markdown != null) {
      OutputPath.checkWritable(markdown, "--markdown");
    }
    List<Comparison> comparisons = Comparisons.all();
    long cells = 0;
    for (Comparison c : comparisons) {
      cells += c.cells(range.first()).size() * range.count();
    }
    long pinPolicies = PinTrackingComparison.CANDIDATES.size();
    PrintStream err = System.err;
    List<LabRow> rows = new ArrayList<>();
    List<ReportSection> extras = new ArrayList<>();
    Map<String, String> commands = new LinkedHashMap<>();
    List<String> failures = new ArrayList<>();
    try (ConsoleProgress bar =
        ConsoleProgress.open(
            ConsoleProgress.wanted(progress), "report", cells + 2 * pinPolicies + 1)) {
      Consumer<String> say = bar.on() ? bar::message : m -> err.println("report: " + m);
      Path scratch = KernelSession.stateDir(null, "refkern-report");
      try {
        LabRunner runner = new LabRunner(scratch, 1, KernelSession::exiting);
        for (Comparison c : comparisons) {
          commands.put(c.name(), "./refkern compare " + c.name() + " --seeds " + range);
          List<LabCell> todo = new ArrayList<>();
          for (long seed = range.first(); seed <= range.last(); seed++) {
            todo.addAll(c.cells(seed));
          }
          LabRunner.Result r =
              runner.run(
                  c,
                  todo,
                  (cell, row, done, total) -> {
                    say.accept(cell.key() + (row == null ? ": FAILED" : ""));
                    bar.stepBy(1);
                  });
          rows.addAll(r.rows());
          failures.addAll(r.failures());
        }
      } finally {
        KernelSession.release(scratch);
      }
      say.accept("compare pin-tracking");
      extras.add(pinTracking(range.first(), say, bar));
      say.accept("bio pin-tracking designs");
      extras.add(bioDesigns(range.first(), say));
      bar.stepBy(1);
    }
    List<PowerCutRow> powerCut = List.of();
    ReportData data =
        new ReportData(
            ReportHeader.here(range.toString(), Main.VERSION),
            SeedThreads.ALL,
            comparisons,
            rows,
            powerCut,
            extras,
            commands);
    Path written = LabReport.write(out, data);
    if (markdown != null) {
      Files.writeString(markdown, LabReport.markdown(data), StandardCharsets.UTF_8);
      System.out.println("markdown written to " + markdown.toAbsolutePath().normalize());
    }
    System.out.println("report written to " + written.toAbsolutePath().normalize());
    failures.forEach(f -> err.println("report: FAILED: " + f));
    return failures.isEmpty() ? 0 : FinalCheck.VIOLATED;
  }

  /** {@code compare pin-tracking} as a section: its table and its PNG chart. */
  private ReportSection pinTracking(long seed, Consumer<String> say, ConsoleProgress bar)
      throws Exception {
    PinTrackingComparison.Outcome o =
        PinTrackingComparison.run(
            new PinTrackingComparison.Config(PIN_CMDLINE, seed, pinPages),
            m -> {
              say.accept("pin-tracking: " + m);
              if (m.contains(": done in") || m.startsWith("warm-up pass")) {
                bar.stepBy(m.startsWith("warm-up pass") ? pinPolicies() : 1);
              }
            });
    String subtitle =
        String.format(
            Locale.ROOT,
            "seed %d, %d-page direct-I/O buffer, cmdline \"%s\"",
            seed,
            pinPages,
            PIN_CMDLINE);
    Path png = KernelSession.stateDir(null, "refkern-report-chart");
    byte[] bytes;
    try {
      Path f = png.resolve("pin-tracking.png");
      PinTrackingChart.write(o.rows(), f, subtitle);
      bytes = Files.readAllBytes(f);
    } finally {
      KernelSession.release(png);
    }
    List<String> summary = new ArrayList<>();
    for (PinTrackingComparison.Row r : o.rows()) {
      summary.add(
          String.format(
              Locale.ROOT,
              "gup.pin_tracking=%s: %d missed pins, %d pinned pages lost under DMA, %d false"
                  + " positives, %d bytes of tracking memory at peak, gup_fast %s.",
              r.policy(),
              r.missedPins(),
              r.corrupted(),
              r.falsePositives(),
              r.peakOverheadBytes(),
              r.fastPathAvailable() ? "available" : "unavailable"));
    }
    o.skipped().forEach(s -> summary.add(s + ": not in this build."));
    o.failed().forEach(f -> summary.add("FAILED: " + f));
    return new ReportSection(
        "pin-tracking",
        "compare pin-tracking: how a page remembers a pin",
        "Which gup.pin_tracking design never misses a pin, keeps pinned pages where the device"
            + " writes them, and what does it cost per pin and in memory?",
        List.of("gup.pin_tracking"),
        "./refkern compare pin-tracking --seed " + seed + " --pages " + pinPages,
        summary,
        List.of(
            table(
                "One machine per gup.pin_tracking policy, "
                    + subtitle
                    + "; counts are deterministic for the seed, ns are wall clock",
                ComparePinTrackingCommand.cells(o.rows()))),
        List.of(ReportChart.png("compare pin-tracking: " + subtitle, bytes)));
  }

  private static long pinPolicies() {
    return PinTrackingComparison.CANDIDATES.size();
  }

  /** The block.bio_pin_tracking designs, as {@code run dio} measures them. */
  private static ReportSection bioDesigns(long seed, Consumer<String> say) throws Exception {
    Path dir = KernelSession.stateDir(null, "refkern-report-dio");
    DioExample.Outcome o;
    try {
      o =
          DioExample.run(
              new DioExample.Config(DIO_CMDLINE, DIO_MB, dir, seed, false, DIO_DESIGN_PAGES),
              m -> say.accept("dio: " + m));
    } finally {
      KernelSession.release(dir);
    }
    List<DioExample.DesignRow> d = o.designs();
    List<String> cats = d.stream().map(DioExample.DesignRow::design).toList();
    String svg =
        SvgBars.render(
            "block.bio_pin_tracking designs",
            List.of(
                panel("Extra pins taken per pass", "pins", cats, d, r -> r.extraPins(), 0),
                panel("Bio splits per pass", "splits", cats, d, r -> r.splits(), 1),
                panel("Per-page mask operations", "ops", cats, d, r -> r.maskOps(), 2),
                panel("Time per page (median, wall clock)", "ns", cats, d, r -> r.nsPerPage(), 3)));
    List<String> summary = new ArrayList<>();
    for (DioExample.DesignRow r : d) {
      summary.add(
          String.format(
              Locale.ROOT,
              "block.bio_pin_tracking=%s: %d bios, %d splits, %d mask ops, %d extra pins per"
                  + " pass%s.",
              r.design(),
              r.bios(),
              r.splits(),
              r.maskOps(),
              r.extraPins(),
              r.problems().isEmpty() ? "" : "; problems: " + String.join("; ", r.problems())));
    }
    return new ReportSection(
        "bio-pin-tracking",
        "Bio pin tracking: how a bio remembers pinned pages",
        "What does each block.bio_pin_tracking design cost in bios, splits, per-page work and extra"
            + " pins on the same O_DIRECT and journal-style workload?",
        List.of("block.bio_pin_tracking"),
        "./refkern run dio --mb "
            + DIO_MB
            + " --design-pages "
            + DIO_DESIGN_PAGES
            + " --seed "
            + seed
            + " --no-power-cut",
        summary,
        List.of(
            table(
                "One machine per design on a RAM disk; per pass: O_DIRECT write and read of "
                    + DIO_DESIGN_PAGES
                    + " pages, then a journal write of a header page (referenced) before each 16"
                    + " pinned pages; counts per pass, ns/page the median of the passes",
                RunDioCommand.cells(d))),
        List.of(ReportChart.svg("block.bio_pin_tracking designs, seed " + seed, svg)));
  }

  private static SvgBars.Panel panel(
      String title,
      String unit,
      List<String> cats,
      List<DioExample.DesignRow> rows,
      java.util.function.ToDoubleFunction<DioExample.DesignRow> f,
      int color) {
    return new SvgBars.Panel(
        title,
        unit,
        cats,
        List.of(
            new SvgBars.Series(
                title, SvgBars.PALETTE.get(color), rows.stream().mapToDouble(f).toArray(), null)),
        false);
  }

  private static ReportTable table(String caption, List<String[]> cells) {
    return new ReportTable(
        caption,
        Arrays.asList(cells.get(0)),
        cells.subList(1, cells.size()).stream().map(Arrays::asList).toList());
  }
}
