package dev.refkern.examples.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code refkern compare}: the designs the seeds argue about, side by side on one workload. */
@Command(
    name = "compare",
    description = "Compare the designs the seeds argue about, each on the same seeded workload.",
    subcommands = {ComparePinTrackingCommand.class})
final class CompareCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @CommandLine.Option(
      names = {"-h", "--help"},
      usageHelp = true,
      description = "Show this help message and exit.")
  boolean help;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
