package dev.refkern.examples.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code refkern run}: example applications on a booted machine. */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "run",
    description = "Run an example application on a freshly booted machine.",
    subcommands = {RunDioCommand.class})
final class RunCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
