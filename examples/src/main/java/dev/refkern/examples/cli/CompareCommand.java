package dev.refkern.examples.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code refkern compare}: the designs the seeds argue about, side by side on one workload. */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "compare",
    description = "Compare the designs the seeds argue about, each on the same seeded workload.",
    subcommands = {ComparePinTrackingCommand.class})
final class CompareCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
