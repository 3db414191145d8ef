package dev.refkern.examples.cli;

import dev.refkern.mm.KernelBugException;
import dev.refkern.mm.KernelException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code refkern} command line. */
@Command(
    name = "refkern",
    mixinStandardHelpOptions = true,
    version = "refkern 0.1.0",
    description =
        "A reference model of the Linux kernel's memory management around pinned (GUP/DMA) pages.",
    subcommands = {
      BootCommand.class,
      InspectCommand.class,
      DemoCommand.class,
      BenchCommand.class,
      GupTestCommand.class,
      CompareCommand.class,
      RunCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** Runs the command line and returns its exit status. */
  public static int execute(String... args) {
    CommandLine cl = new CommandLine(new Main());
    cl.setExecutionExceptionHandler(
        (ex, cmd, parsed) -> {
          if (ex instanceof KernelException ke) {
            cmd.getErr().println("refkern: " + ke.getMessage());
            return ke.errno().number();
          }
          if (ex instanceof KernelBugException bug) {
            cmd.getErr().println("refkern: " + bug.getMessage());
            return 134;
          }
          throw ex;
        });
    return cl.execute(args);
  }

  public static void main(String[] args) {
    System.exit(execute(args));
  }
}
