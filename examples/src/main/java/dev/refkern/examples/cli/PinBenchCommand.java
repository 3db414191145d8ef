package dev.refkern.examples.cli;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.TextTable;
import dev.refkern.examples.fs.PinnedRangeWorkload;
import dev.refkern.examples.fs.PinnedRangeWorkload.Config;
import dev.refkern.examples.fs.PinnedRangeWorkload.Result;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code refkern pinbench}: a long-term-pinned file range ({@code pin_user_pages(FOLL_WRITE |
 * FOLL_LONGTERM)} of a {@code MAP_SHARED} file mapping) under every {@code pinned_writeback=} value
 * the policy registry lists, on each filesystem asked for ({@link PinnedRangeWorkload}); one table,
 * optionally a CSV. Ctrl-C stops between rounds and prints what ran.
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "pinbench",
    sortOptions = false,
    description = {
      "A long-term-pinned file range under each pinned_writeback= value, measured.",
      "Per filesystem and policy: mkfs and mount with pinned_writeback=POLICY on a disk with"
          + " protection information, an RDMA-like NIC pins part of a MAP_SHARED file"
          + " (FOLL_WRITE|FOLL_LONGTERM), then seeded rounds of DMA into pinned pages, write() to"
          + " others and writeback (flusher pass or fsync), the DMA also hitting pages whose write"
          + " is in flight. Prints bytes written and bounced, writeback stalls, pinned pages"
          + " skipped, guard-tag (checksum) mismatches, fsyncs that failed with EIO, bytes a fresh"
          + " kernel reads wrong after remount, and wall time. Counts are deterministic for a"
          + " seed; times vary."
    })
final class PinBenchCommand implements Callable<Integer> {
  static final String[] HEADERS = {
    "fs",
    "policy",
    "rounds",
    "written-B",
    "bounced-B",
    "stalls",
    "stall-steps",
    "stall-ns",
    "skipped",
    "skipped-B",
    "dma",
    "dma-in-flight",
    "mismatches",
    "fsync-EIO",
    "lost-B",
    "wall-ms"
  };

  @Option(
      names = "--fs",
      paramLabel = "NAME",
      split = ",",
      defaultValue = "flatfs,ext4",
      description =
          "Filesystem types, each a registered type on a device; repeat or comma-separate"
              + " (default: ${DEFAULT-VALUE}).")
  List<String> fs;

  @Option(
      names = "--pages",
      defaultValue = "256",
      paramLabel = "N",
      description = "The file's size in pages (default: ${DEFAULT-VALUE}, 1 MiB).")
  int pages;

  @Option(
      names = "--pinned",
      defaultValue = "64",
      paramLabel = "N",
      description = "Pages the NIC pins, in the middle of the file (default: ${DEFAULT-VALUE}).")
  int pinned;

  @Option(
      names = "--rounds",
      defaultValue = "16",
      paramLabel = "R",
      description = "DMA + write + writeback rounds (default: ${DEFAULT-VALUE}).")
  int rounds;

  @Option(
      names = "--seed",
      defaultValue = "1",
      paramLabel = "S",
      description = "Seed of the pages written and their data (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--out",
      paramLabel = "FILE",
      description = "Also write the table as CSV to FILE.")
  Path out;

  @Option(
      names = "--progress",
      negatable = true,
      description = "Progress bar on stderr (default: when there is a console).")
  Boolean progress;

  @Override
  public Integer call() throws IOException {
    List<String> policies = PinnedRangeWorkload.policies();
    if (pages < 1 || pages > PinnedRangeWorkload.MAX_PAGES) {
      throw new KernelException(
          Errno.EINVAL, "--pages " + pages + ": must be 1 to " + PinnedRangeWorkload.MAX_PAGES);
    }
    if (pinned < 1 || pinned > pages) {
      throw new KernelException(Errno.EINVAL, "--pinned " + pinned + ": must be 1 to --pages");
    }
    if (rounds < 1 || rounds > PinnedRangeWorkload.MAX_ROUNDS) {
      throw new KernelException(
          Errno.EINVAL, "--rounds " + rounds + ": must be 1 to " + PinnedRangeWorkload.MAX_ROUNDS);
    }
    for (String f : fs) { // every bad input fails before the first kernel boots
      new Config(f, policies.get(0), pages, pinned, rounds, seed).validate();
    }
    if (out != null) {
      OutputPath.checkWritable(out, "--out");
    }
    Path dir = KernelSession.stateDir(null, "refkern-pinbench");
    List<Result> results = new ArrayList<>();
    try {
      System.out.printf(
          "pinbench: %s; %d pages, %d pinned, %d rounds, seed %d%n",
          String.join(",", fs), pages, pinned, rounds, seed);
      try (ConsoleProgress bar =
          ConsoleProgress.open(
              ConsoleProgress.wanted(progress),
              "pinbench",
              (long) fs.size() * policies.size() * rounds)) {
        long[] done = {0};
        PinnedRangeWorkload w = new PinnedRangeWorkload(dir);
        for (String f : fs) {
          for (String p : policies) {
            if (KernelSession.exiting()) {
              break;
            }
            bar.message(f + " " + p);
            results.add(
                w.run(
                    new Config(f, p, pages, pinned, rounds, seed),
                    KernelSession::exiting,
                    () -> bar.stepTo(++done[0])));
          }
        }
      } catch (KernelException e) {
        if (!KernelSession.exiting()) {
          throw e;
        }
        // Ctrl-C inside a run: that run is dropped, the ones before are reported
      }
      List<String[]> rows = rows(results);
      System.out.print(TextTable.render(rows));
      if (KernelSession.exiting()) {
        System.out.println("interrupted: the table covers the runs before Ctrl-C");
      }
      if (out != null) {
        StringBuilder csv = new StringBuilder();
        for (String[] r : rows) {
          csv.append(String.join(",", r)).append('\n');
        }
        Files.writeString(out, csv, StandardCharsets.UTF_8);
      }
      List<String> violations = new ArrayList<>();
      for (Result r : results) {
        for (String v : r.violations()) {
          violations.add(r.tag() + ": " + v);
        }
        for (String v : r.fsck()) {
          violations.add(r.tag() + ": fsck: " + v);
        }
      }
      System.out.flush();
      return FinalCheck.exitStatus(System.err, violations);
    } finally {
      KernelSession.release(dir);
    }
  }

  static List<String[]> rows(List<Result> results) {
    List<String[]> rows = new ArrayList<>();
    rows.add(HEADERS);
    for (Result r : results) {
      rows.add(
          new String[] {
            r.config().fs(),
            r.config().policy(),
            Integer.toString(r.roundsRun()),
            Long.toString(r.bytesWritten()),
            Long.toString(r.bytesBounced()),
            Long.toString(r.stalls()),
            Long.toString(r.stallSteps()),
            Long.toString(r.stallNanos()),
            Long.toString(r.pinnedSkipped()),
            Long.toString(r.bytesSkipped()),
            Long.toString(r.dmaWrites()),
            Long.toString(r.dmaInFlight()),
            Long.toString(r.integrityErrors()),
            Long.toString(r.fsyncErrors()),
            Long.toString(r.lostBytes()),
            Long.toString(r.wallNanos() / 1_000_000)
          });
    }
    return rows;
  }
}
