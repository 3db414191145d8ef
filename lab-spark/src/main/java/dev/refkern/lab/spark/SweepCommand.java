package dev.refkern.lab.spark;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.lab.LabCell;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apiguardian.api.API;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code refkern sweep}: the lab's comparisons over many seeds on Apache Spark. The launcher runs
 * it on the class path ({@code ./refkern sweep ...}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
@Command(
    name = "sweep",
    mixinStandardHelpOptions = true,
    version = "refkern 0.1.0",
    sortOptions = false,
    description = {
      "Run every (seed, policy, filesystem) cell of the named comparisons as an Apache Spark task"
          + " and write the rows as CSV and Parquet, and the report, under --out.",
      "Embedded Spark (local[*]) by default; --master spark://host:port runs on a standalone"
          + " cluster, shipping refkern's jars and JVM flags to the executors. Each finished cell"
          + " is stored under OUT/cells/ at once: rerunning with the same --out runs only the cells"
          + " that have no row yet."
    })
public final class SweepCommand implements Callable<Integer> {
  @Option(
      names = "--seeds",
      defaultValue = "1..10",
      paramLabel = "A..B",
      description = "Seeds, inclusive (default: ${DEFAULT-VALUE}).")
  String seeds;

  @Option(
      names = "--compare",
      split = ",",
      paramLabel = "NAME",
      description = "Comparisons to sweep, comma-separated (default: all).")
  List<String> compare = new ArrayList<>();

  @Option(
      names = "--fs",
      split = ",",
      paramLabel = "FS",
      description = "Filesystems, comma-separated (default: every one the comparisons run on).")
  List<String> fs = new ArrayList<>();

  @Option(
      names = "--master",
      paramLabel = "URL",
      description =
          "Spark master: local[N], local[*], spark://host:port or k8s://... (default:"
              + " local[--executors], else local[*]).")
  String master;

  @Option(
      names = "--executors",
      defaultValue = "0",
      paramLabel = "N",
      description =
          "Task slots: local[N] when embedded, at most N cores on a cluster (default: all).")
  int executors;

  @Option(
      names = "--out",
      defaultValue = "refkern-state/sweep",
      paramLabel = "DIR",
      description =
          "Output directory: cells/, rows.csv, rows.parquet, report (default:"
              + " ${DEFAULT-VALUE}).")
  Path out;

  @Option(
      names = "--limit",
      defaultValue = "-1",
      paramLabel = "N",
      description = "Run at most N pending cells now; a later run does the rest.")
  int limit;

  @Option(
      names = "--conf",
      paramLabel = "KEY=VALUE",
      description = "A Spark setting (repeatable), e.g. spark.executor.memory=2g.")
  List<String> conf = new ArrayList<>();

  @Option(
      names = "--jars",
      split = ",",
      paramLabel = "JAR",
      description = "More jars to ship to a cluster's executors.")
  List<Path> jars = new ArrayList<>();

  @Option(
      names = "--progress",
      negatable = true,
      description = "Draw a progress bar on stderr (default: when stderr is a terminal).")
  Boolean progress;

  private final ComparisonSource source;
  private final SweepReport report;

  /** The command over the lab's registry and report. */
  public SweepCommand() {
    this(ComparisonSource.REGISTRY, SweepReport.HTML);
  }

  /** The command over other comparisons and another report (tests). */
  public SweepCommand(ComparisonSource source, SweepReport report) {
    this.source = source;
    this.report = report;
  }

  @Override
  public Integer call() {
    if (executors < 0) {
      throw new KernelException(Errno.EINVAL, "--executors must be 0 (all) or more");
    }
    SparkSweep.checkMaster(master);
    SparkSweep.checkJava();
    SeedRange range = SeedRange.parse(seeds);
    SparkSweep sweep = new SparkSweep(source, report);
    List<LabCell> cells = sweep.cells(compare, fs, range);
    String command =
        "refkern sweep --seeds "
            + range
            + (compare.isEmpty() ? "" : " --compare " + String.join(",", compare))
            + (fs.isEmpty() ? "" : " --fs " + String.join(",", fs));
    SparkSweep.Result r =
        sweep.run(
            cells,
            new SparkSweep.Settings(
                master,
                executors,
                out.toAbsolutePath(),
                SparkSweep.parseConf(conf),
                jars,
                limit,
                ConsoleProgress.wanted(progress),
                command));
    System.out.printf(
        Locale.ROOT,
        "sweep: %d cells, %d already done, %d run now%n",
        r.cells(),
        r.resumed(),
        r.ran());
    if (r.ran() > 0) {
      System.out.printf(
          Locale.ROOT,
          "speed: %.1f seeds/min (%.1f s of Spark job)%n",
          r.seedsPerMinute(),
          r.jobNanos() / 1e9);
    }
    System.out.println("rows: " + r.rows().size() + " in " + out.resolve(SweepOutputs.CSV));
    System.out.println("parquet: " + out.resolve(SweepOutputs.PARQUET));
    System.out.println("report: " + (r.report() != null ? r.report() : "none"));
    int missing = r.cells() - r.resumed() - r.ran();
    if (missing > 0) {
      System.out.println("pending: " + missing + " cells; rerun the same command to go on");
    }
    return 0;
  }

  /** Runs the command line and returns its exit status: errno lines, no stack traces. */
  public static int execute(SweepCommand command, String... args) {
    CommandLine cl = new CommandLine(command);
    cl.setParameterExceptionHandler(
        (ex, rest) -> {
          ex.getCommandLine()
              .getErr()
              .println(
                  "refkern: EINVAL: "
                      + firstLine(ex.getMessage())
                      + " (see 'refkern sweep --help')");
          ex.getCommandLine().getErr().flush();
          return Errno.EINVAL.number();
        });
    cl.setExecutionExceptionHandler(
        (ex, cmd, parsed) -> {
          Errno errno = Errno.EIO;
          String msg;
          if (ex instanceof KernelException ke) {
            errno = ke.errno();
            msg = firstLine(ke.getMessage());
          } else if (ex instanceof UncheckedIOException || ex instanceof IOException) {
            msg = "EIO: " + firstLine(String.valueOf(ex.getMessage()));
          } else {
            msg = "EIO: " + ex.getClass().getSimpleName() + ": " + firstLine(ex.getMessage());
          }
          PrintWriter err = cmd.getErr();
          err.println("refkern: " + msg);
          err.flush();
          return errno.number();
        });
    return cl.execute(args);
  }

  private static String firstLine(String s) {
    String m = s == null ? "" : s.strip();
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }

  /** The {@code refkern sweep} entry point of the launcher. */
  public static void main(String[] args) {
    int status = execute(new SweepCommand(), args);
    if (!SparkSweep.exiting()) {
      System.exit(status);
    }
    // a signal is shutting the JVM down: its status (130, 143) stands; ending main lets it go on

  }
}
