package dev.refkern.examples.cli;

import dev.refkern.mm.KernelBugException;
import dev.refkern.mm.KernelException;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
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
    KernelSession.install();
    CommandLine cl = new CommandLine(new Main());
    cl.setExecutionExceptionHandler(
        (ex, cmd, parsed) -> {
          if (KernelSession.exiting()) {
            // a worker's EINTR wrapped by the scheduler: report the signal, not a stack
            for (Throwable t = ex; t != null; t = t.getCause()) {
              if (t instanceof KernelException ke) {
                ex = ke;
                break;
              }
            }
          }
          if (ex instanceof IOException || ex instanceof UncheckedIOException) {
            ex = KernelSession.errno("I/O error", ex); // one line, ENOSPC for a full disk
          }
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
    KernelSession.commandStarted();
    try {
      return cl.execute(args);
    } finally {
      KernelSession.commandDone();
    }
  }

  public static void main(String[] args) {
    FailingOut out = new FailingOut(new FileOutputStream(FileDescriptor.out));
    System.setOut(new PrintStream(out, true));
    int status = execute(args);
    System.out.flush();
    if (out.failure != null && status == 0) {
      KernelException ke = KernelSession.errno("cannot write standard output", out.failure);
      System.err.println("refkern: " + ke.getMessage());
      status = ke.errno().number();
    }
    if (KernelSession.exiting()) {
      // a signal is shutting the JVM down: its exit status (130/143) is the one to report
      while (true) {
        try {
          Thread.sleep(Long.MAX_VALUE);
        } catch (InterruptedException e) {
          // keep waiting for the halt
        }
      }
    }
    System.exit(status);
  }

  /** Standard output that remembers why a write failed (a PrintStream only sets a flag). */
  private static final class FailingOut extends FilterOutputStream {
    volatile IOException failure;

    FailingOut(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      try {
        out.write(b, off, len);
      } catch (IOException e) {
        failure = e;
        throw e;
      }
    }

    @Override
    public void write(int b) throws IOException {
      try {
        out.write(b);
      } catch (IOException e) {
        failure = e;
        throw e;
      }
    }
  }
}
