package dev.refkern.examples.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code refkern run}: example applications on a booted machine. */
@Command(
    name = "run",
    description = "Run an example application on a freshly booted machine.",
    subcommands = {RunDioCommand.class})
final class RunCommand implements Runnable {
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
