package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabChart;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.examples.lab.LabRunner;
import dev.refkern.examples.lab.LabTable;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code refkern compare <name>} for any lab {@link Comparison}: its cells over the seeds asked,
 * the table on stdout, {@code <name>.png} and {@code <name>.csv} in {@code --out}. One instance per
 * comparison, added as a subcommand of {@code compare} by {@link CompareCommand#addLab}.
 */
@Command(mixinStandardHelpOptions = true, version = Main.VERSION, sortOptions = false)
final class CompareLabCommand implements Callable<Integer> {
  /** Most seeds one command runs ({@code --seeds}): a sweep is the Spark module's job. */
  static final long MAX_SEEDS = 100_000;

  private static final Pattern RANGE = Pattern.compile("(\\d+)\\.\\.(\\d+)");

  private final Comparison comparison;

  @Option(
      names = "--seed",
      paramLabel = "N",
      description = "One seed (default: 1). Seeds the workload, the scheduler and the power cut.")
  Long seed;

  @Option(
      names = "--seeds",
      paramLabel = "A..B",
      description = "Every seed from A to B: the table shows mean±95%% CI over them.")
  String seeds;

  @Option(
      names = "--fs",
      split = ",",
      paramLabel = "fs",
      description = "Filesystems to run on (default: all the comparison's, ext4,xfs).")
  List<String> fs;

  @Option(
      names = "--jobs",
      defaultValue = "1",
      paramLabel = "N",
      description = "Cells run at once, each in its own kernels (default: ${DEFAULT-VALUE}).")
  int jobs;

  @Option(
      names = "--out",
      defaultValue = ".",
      paramLabel = "DIR",
      description = "Where <name>.png and <name>.csv go (default: the current directory).")
  Path out;

  @Option(names = "--no-chart", description = "Print the table only; write no PNG nor CSV.")
  boolean noChart;

  @Option(
      names = "--progress",
      negatable = true,
      description = "A progress bar with ETA on stderr (default: when there is a console).")
  Boolean progress;

  CompareLabCommand(Comparison comparison) {
    this.comparison = comparison;
  }

  /** The subcommand of {@code comparison}, its description its question. */
  static CommandLine of(Comparison comparison) {
    CommandLine cl = new CommandLine(new CompareLabCommand(comparison));
    cl.getCommandSpec()
        .usageMessage()
        .description(
            comparison.question(),
            "Varies "
                + comparison.policyParam()
                + " over every registered value ("
                + String.join(", ", comparison.policies())
                + ") on "
                + String.join(", ", comparison.filesystems())
                + ". Prints one row per cell (mean±95%% CI over seeds with --seeds) and writes"
                + " <name>.png and <name>.csv to --out.");
    return cl;
  }

  @Override
  public Integer call() throws Exception {
    String name = comparison.name();
    // every bad input fails before the first kernel boots
    List<Long> seedList = seeds();
    List<String> filesystems = filesystems();
    if (jobs < 1 || jobs > 64) {
      throw new KernelException(Errno.EINVAL, "--jobs " + jobs + ": must be 1 to 64");
    }
    Path png = out.resolve(name + ".png");
    Path csv = out.resolve(name + ".csv");
    if (!noChart) {
      OutputPath.checkWritable(png, "--out");
      OutputPath.checkWritable(csv, "--out");
    }
    List<LabCell> cells = new ArrayList<>();
    for (long s : seedList) {
      for (LabCell c : comparison.cells(s)) {
        if (filesystems.contains(c.fs())) {
          cells.add(c);
        }
      }
    }
    Path scratch = KernelSession.stateDir(null, "refkern-compare-" + name);
    LabRunner.Result result;
    PrintStream err = System.err;
    try (ConsoleProgress bar =
        ConsoleProgress.open(ConsoleProgress.wanted(progress), "compare " + name, cells.size())) {
      result =
          new LabRunner(scratch, jobs, KernelSession::exiting)
              .run(
                  comparison,
                  cells,
                  (cell, row, done, total) -> {
                    if (bar.on()) {
                      bar.stepTo(done);
                      bar.message(cell.key());
                    } else {
                      err.println("compare " + name + ": " + cell.key() + " done");
                    }
                  });
    } finally {
      KernelSession.release(scratch);
    }
    PrintStream stdout = System.out;
    stdout.println("# refkern compare " + name + ": " + comparison.question());
    stdout.printf(
        Locale.ROOT,
        "# %s over %s; fs %s; %s%n",
        comparison.policyParam(),
        String.join(",", comparison.policies()),
        String.join(",", filesystems),
        seedList.size() == 1
            ? "seed " + seedList.get(0)
            : seedList.size() + " seeds " + seeds + " (mean±95% CI)");
    List<LabRow> rows = result.rows();
    stdout.print(LabTable.render(rows));
    if (result.stopped()) {
      stdout.println("interrupted: the table covers the cells done before Ctrl-C");
    }
    if (!noChart && !rows.isEmpty()) {
      LabChart.write(png, "refkern compare " + name + ": " + comparison.policyParam(), rows);
      Files.writeString(csv, csv(rows), StandardCharsets.UTF_8);
      stdout.println("chart written to " + png.toAbsolutePath().normalize());
      stdout.println("rows written to " + csv.toAbsolutePath().normalize());
    }
    stdout.flush();
    List<String> failures = new ArrayList<>();
    result.failures().forEach(f -> failures.add("FAILED " + f));
    return FinalCheck.exitStatus(System.err, failures);
  }

  /** The rows as CSV: {@link LabRow#COLUMNS}, then one line per row. */
  static String csv(List<LabRow> rows) {
    StringBuilder b = new StringBuilder(String.join(",", LabRow.COLUMNS)).append('\n');
    for (LabRow r : rows) {
      b.append(r.values().stream().map(String::valueOf).collect(Collectors.joining(",")))
          .append('\n');
    }
    return b.toString();
  }

  private List<Long> seeds() {
    if (seed != null && seeds != null) {
      throw new KernelException(Errno.EINVAL, "--seed and --seeds: give one of them");
    }
    if (seeds == null) {
      return List.of(seed == null ? 1L : seed);
    }
    Matcher m = RANGE.matcher(seeds);
    if (!m.matches()) {
      throw new KernelException(Errno.EINVAL, "--seeds " + seeds + ": expected A..B, e.g. 1..20");
    }
    long a;
    long b;
    try {
      a = Long.parseLong(m.group(1));
      b = Long.parseLong(m.group(2));
    } catch (NumberFormatException e) {
      throw new KernelException(Errno.EINVAL, "--seeds " + seeds + ": out of range");
    }
    if (a > b || b - a >= MAX_SEEDS) {
      throw new KernelException(
          Errno.EINVAL, "--seeds " + seeds + ": need A <= B and at most " + MAX_SEEDS + " seeds");
    }
    List<Long> out = new ArrayList<>();
    for (long s = a; s <= b; s++) {
      out.add(s);
    }
    return out;
  }

  private List<String> filesystems() {
    List<String> known = comparison.filesystems();
    if (fs == null || fs.isEmpty()) {
      return known;
    }
    for (String f : fs) {
      if (!known.contains(f)) {
        throw new KernelException(
            Errno.EINVAL,
            "--fs "
                + f
                + ": compare "
                + comparison.name()
                + " runs on "
                + String.join(", ", known));
      }
    }
    return fs.stream().distinct().toList();
  }
}
