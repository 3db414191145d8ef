package dev.refkern.examples.cli;

import dev.refkern.mm.Errno;
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
    version = Main.VERSION,
    description =
        "A reference model of the Linux kernel's memory management around pinned (GUP/DMA) pages.",
    subcommands = {
      BootCommand.class,
      InspectCommand.class,
      DemoCommand.class,
      BenchCommand.class,
      GupTestCommand.class,
      CompareCommand.class,
      ReportCommand.class,
      RunCommand.class,
      FsCommand.class,
      FsCommand.Mkfs.class,
      FsckCommand.class,
      CrashTestCommand.class,
      PinBenchCommand.class,
      HmmFileBenchCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** What {@code --version} prints, on every command. */
  static final String VERSION = "refkern 0.1.0";

  /** Runs the command line and returns its exit status. */
  public static int execute(String... args) {
    KernelSession.install();
    CommandLine cl = new CommandLine(new Main());
    CompareCommand.addLab(cl.getSubcommands().get("compare"));
    // a usage error is EINVAL, one line, as every other bad input
    cl.setParameterExceptionHandler(
        (ex, rest) -> {
          CommandLine cmd = ex.getCommandLine();
          cmd.getErr()
              .println(
                  "refkern: EINVAL: "
                      + firstLine(ex.getMessage())
                      + " (see 'refkern "
                      + cmd.getCommandSpec().qualifiedName(" ").replaceFirst("^refkern ?", "")
                      + " --help')");
          cmd.getErr().flush();
          return Errno.EINVAL.number();
        });
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
          cmd.getErr().println("refkern: " + describe(ex));
          cmd.getErr().flush();
          if (ex instanceof KernelBugException) {
            return 134;
          }
          return errno(ex).number();
        });
    KernelSession.commandStarted();
    try {
      return cl.execute(args);
    } catch (OutOfMemoryError e) {
      // Errors bypass picocli's handler; the heap is what refkern's simulated memory lives on
      cl.getErr().println("refkern: ENOMEM: out of Java heap (" + e.getMessage() + ")");
      cl.getErr().flush();
      return Errno.ENOMEM.number();
    } finally {
      KernelSession.commandDone();
    }
  }

  private static String firstLine(String s) {
    String m = s == null ? "" : s.strip();
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }

  /** The errno a failure stands for; anything unforeseen is EIO rather than a stack trace. */
  static Errno errno(Throwable ex) {
    if (ex instanceof KernelException ke) {
      return ke.errno();
    }
    if (ex instanceof OutOfMemoryError) {
      return Errno.ENOMEM;
    }
    if (ex instanceof IOException io) {
      return OutputPath.errno(io);
    }
    if (ex instanceof UncheckedIOException u) {
      return OutputPath.errno(u.getCause());
    }
    return Errno.EIO;
  }

  /** One line: the errno name, then the message. */
  static String describe(Throwable ex) {
    if (ex instanceof KernelException || ex instanceof KernelBugException) {
      return firstLine(ex.getMessage());
    }
    return errno(ex).name()
        + ": "
        + firstLine(ex.getMessage() != null ? ex.getMessage() : ex.getClass().getSimpleName());
  }

  public static void main(String[] args) {
    FailingOut out = new FailingOut(new FileOutputStream(FileDescriptor.out));
    System.setOut(new PrintStream(out, true));
    int status = execute(args);
    System.out.flush();
    if (out.failure != null && "Broken pipe".equals(out.failure.getMessage())) {
      // the reader went away (| head): die quietly as SIGPIPE would, 128 + 13
      System.exit(141);
    }
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
