package dev.refkern.examples.cli;

import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.lab.Comparisons;
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
  /**
   * Adds a subcommand for every lab comparison ({@link Comparisons#all()}) that has none yet, so a
   * new comparison needs no code here.
   */
  static void addLab(CommandLine compare) {
    for (Comparison c : Comparisons.all()) {
      if (!compare.getSubcommands().containsKey(c.name())) {
        compare.addSubcommand(c.name(), CompareLabCommand.of(c));
      }
    }
  }

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @CommandLine.Parameters(
      arity = "0..1",
      paramLabel = "name",
      description = "A comparison's name; an unknown one is EINVAL listing the known ones.")
  String name;

  @Override
  public void run() {
    if (name != null) {
      Comparisons.byName(name); // a known name is a subcommand, so this names the known ones
      throw new IllegalStateException(name + " is a comparison without a subcommand");
    }
    spec.commandLine().usage(System.out);
  }
}
