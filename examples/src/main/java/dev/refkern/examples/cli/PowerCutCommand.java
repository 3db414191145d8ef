package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.TextTable;
import dev.refkern.examples.lab.PowerCutChart;
import dev.refkern.examples.lab.PowerCutMatrix;
import dev.refkern.examples.lab.PowerCutRow;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code refkern powercut}: the power-cut matrix ({@link PowerCutMatrix}), a table on stdout,
 * {@code powercut.csv} and {@code powercut.png} in {@code --out}. Ctrl-C stops between two crash
 * states and prints the rows finished.
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "powercut",
    sortOptions = false,
    description = {
      "The power-cut matrix: for each filesystem x writeback.pinned x truncate.pinned policy, a"
          + " workload with an RDMA NIC's long-term pin of a file page (DMA racing writeback,"
          + " fsyncs, a truncate under the pin) recorded by dm-log-writes, then every FLUSH/FUA"
          + " point replayed, mounted (journal/log recovery), read and fsck'd.",
      "Each crash state is classified once: metadata corrupt (no mount or fsck findings), data"
          + " lost (clean, but fsync'd data missing), or consistent. Writes powercut.csv and"
          + " powercut.png (stacked bars) to --out."
    })
final class PowerCutCommand implements Callable<Integer> {
  @Option(
      names = "--fs",
      split = ",",
      defaultValue = "ext4,xfs",
      paramLabel = "fs",
      description = "Filesystems, each on a device (default: ${DEFAULT-VALUE}).")
  List<String> fs;

  @Option(
      names = "--writeback",
      split = ",",
      paramLabel = "policy",
      description = "writeback.pinned= policies (default: every registered one).")
  List<String> writeback;

  @Option(
      names = "--truncate",
      split = ",",
      paramLabel = "policy",
      description = "truncate.pinned= policies (default: every registered one).")
  List<String> truncate;

  @Option(
      names = "--seed",
      defaultValue = "1",
      paramLabel = "N",
      description = "Seed of the workload's data (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--max-states",
      defaultValue = "0",
      paramLabel = "N",
      description =
          "Most crash states per row, evenly spread over the FLUSH/FUA points, the last included;"
              + " 0 for every one (default: ${DEFAULT-VALUE}).")
  int maxStates;

  @Option(
      names = "--out",
      defaultValue = ".",
      paramLabel = "DIR",
      description = "Where powercut.csv and powercut.png go (default: the current directory).")
  Path out;

  @Option(
      names = "--progress",
      negatable = true,
      description = "A progress bar with ETA on stderr (default: when there is a console).")
  Boolean progress;

  @Override
  public Integer call() throws Exception {
    // every bad input fails before the first kernel boots
    for (String f : fs) {
      if (!PowerCutMatrix.FILESYSTEMS.contains(f)) {
        throw new KernelException(
            Errno.EINVAL,
            "--fs "
                + f
                + ": the matrix runs on "
                + String.join(", ", PowerCutMatrix.FILESYSTEMS)
                + " (a journal or log to recover)");
      }
    }
    List<String> wbs = policies("--writeback", writeback, PowerCutMatrix.writebackPolicies());
    List<String> trs = policies("--truncate", truncate, PowerCutMatrix.truncatePolicies());
    if (maxStates < 0 || maxStates > 1_000_000) {
      throw new KernelException(
          Errno.EINVAL, "--max-states " + maxStates + ": must be 0 (all) to 1000000");
    }
    Path csv = out.resolve("powercut.csv");
    Path png = out.resolve("powercut.png");
    OutputPath.checkWritable(csv, "--out");
    OutputPath.checkWritable(png, "--out");
    List<String> fss = fs.stream().distinct().toList();
    int cells = fss.size() * wbs.size() * trs.size();
    Path scratch = KernelSession.stateDir(null, "refkern-powercut");
    List<PowerCutRow> rows;
    PrintStream err = System.err;
    try (ConsoleProgress bar =
        ConsoleProgress.open(ConsoleProgress.wanted(progress), "powercut", cells)) {
      int[] done = {0};
      int[] statesSeen = {0};
      rows =
          PowerCutMatrix.run(
              fss,
              wbs,
              trs,
              seed,
              maxStates,
              scratch,
              KernelSession::exiting,
              (cell, d, total) -> {
                if (d == 1) {
                  done[0]++;
                  // the bar counts states; a row's states are known once its log is recorded
                  statesSeen[0] += total;
                  bar.maxHint((long) statesSeen[0] * cells / done[0]);
                }
                bar.stepBy(1);
                bar.message(cell + " state " + d + "/" + total);
                if (!bar.on() && d == total) {
                  err.println("powercut: " + cell + " done (" + total + " states)");
                }
              });
    } finally {
      KernelSession.release(scratch);
    }
    PrintStream stdout = System.out;
    stdout.printf(
        "# refkern powercut: seed %d, fs %s, writeback.pinned %s, truncate.pinned %s, %s%n",
        seed,
        String.join(",", fss),
        String.join(",", wbs),
        String.join(",", trs),
        maxStates == 0 ? "every FLUSH/FUA point" : "at most " + maxStates + " states a row");
    stdout.print(table(rows));
    if (KernelSession.exiting()) {
      stdout.println("interrupted: the table covers the rows finished before Ctrl-C");
    }
    if (!rows.isEmpty()) {
      Files.createDirectories(out);
      Files.writeString(csv, PowerCutMatrix.csv(rows), StandardCharsets.UTF_8);
      PowerCutChart.write(
          png, "refkern powercut: crash states per policy (seed " + seed + ")", rows);
      stdout.println("rows written to " + csv.toAbsolutePath().normalize());
      stdout.println("chart written to " + png.toAbsolutePath().normalize());
    }
    stdout.flush();
    List<String> problems = new ArrayList<>();
    for (PowerCutRow r : rows) {
      if (r.firstBad().contains("kernel: ")) {
        problems.add(r.fs() + "/" + r.writeback() + "/" + r.truncate() + ": " + r.firstBad());
      }
    }
    return FinalCheck.exitStatus(System.err, problems);
  }

  private static List<String> policies(String option, List<String> asked, List<String> known) {
    if (asked == null || asked.isEmpty()) {
      return known;
    }
    for (String p : asked) {
      if (!known.contains(p)) {
        throw new KernelException(
            Errno.EINVAL, option + " " + p + ": unknown; known: " + String.join(", ", known));
      }
    }
    return asked.stream().distinct().toList();
  }

  /** The rows as aligned columns. */
  static String table(List<PowerCutRow> rows) {
    List<String[]> cells = new ArrayList<>();
    cells.add(
        new String[] {
          "fs",
          "writeback",
          "truncate",
          "states",
          "consistent",
          "data lost",
          "metadata corrupt",
          "first bad"
        });
    for (PowerCutRow r : rows) {
      cells.add(
          new String[] {
            r.fs(),
            r.writeback(),
            r.truncate(),
            Integer.toString(r.states()),
            Integer.toString(r.consistent()),
            Integer.toString(r.dataLost()),
            Integer.toString(r.metadataCorrupt()),
            r.firstBad().isEmpty() ? "-" : r.firstBad()
          });
    }
    return TextTable.render(cells);
  }
}
