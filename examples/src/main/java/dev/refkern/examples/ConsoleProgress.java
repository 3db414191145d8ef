package dev.refkern.examples;

import dev.refkern.mm.BootProgress;
import java.io.PrintStream;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar on stderr for a long command (no kernel object: the kernel prints nothing while it
 * boots or while {@code page-types} walks {@code /proc/kpageflags}), drawn by the progressbar
 * library.
 *
 * <p>It draws only when asked: {@link #wanted(Boolean)} is {@code --progress}/{@code --no-progress}
 * when given, else whether there is a console, so tests and CI output stay clean. A bar that is off
 * does nothing; close it in a {@code finally} block so an interrupted command leaves a finished
 * line behind.
 */
public final class ConsoleProgress implements AutoCloseable {
  /** A bar that draws nothing. */
  public static final ConsoleProgress OFF = new ConsoleProgress(null);

  /** Width when stderr is not a terminal (with {@code --progress}): no terminal to ask. */
  private static final int PIPE_WIDTH = 80;

  private final ProgressBar bar;

  private ConsoleProgress(ProgressBar bar) {
    this.bar = bar;
  }

  /** {@code --[no-]progress} if given, else whether the JVM has a console (a terminal). */
  public static boolean wanted(Boolean option) {
    return option != null ? option : System.console() != null;
  }

  /**
   * A bar for {@code task} over {@code total} units, drawing only if {@code on}; a negative {@code
   * total} for work of unknown length (an animation, the elapsed time and the phase's message).
   */
  public static ConsoleProgress open(boolean on, String task, long total) {
    if (!on) {
      return OFF;
    }
    PrintStream err = System.err;
    ConsoleProgressBarConsumer consumer =
        System.console() != null
            ? new ConsoleProgressBarConsumer(err)
            : new ConsoleProgressBarConsumer(err, PIPE_WIDTH);
    return new ConsoleProgress(
        new ProgressBarBuilder()
            .setTaskName(task)
            .setInitialMax(total < 0 ? -1 : Math.max(1, total))
            .setStyle(ProgressBarStyle.UNICODE_BLOCK)
            .setUpdateIntervalMillis(200)
            .setConsumer(consumer)
            .build());
  }

  /** Whether this bar draws. */
  public boolean on() {
    return bar != null;
  }

  /** Sets how far the work has got. */
  public void stepTo(long done) {
    if (bar != null) {
      bar.stepTo(done);
    }
  }

  /** Advances by {@code n} units. */
  public void stepBy(long n) {
    if (bar != null) {
      bar.stepBy(n);
    }
  }

  /** Changes the total. */
  public void maxHint(long total) {
    if (bar != null) {
      bar.maxHint(Math.max(1, total));
    }
  }

  /** Shows {@code message} after the bar (the current phase). */
  public void message(String message) {
    if (bar != null) {
      bar.setExtraMessage(message);
    }
  }

  /** Boot's progress drawn on this bar. */
  public BootProgress boot() {
    if (bar == null) {
      return BootProgress.NONE;
    }
    return (done, total) -> {
      if (bar.getMax() != total) {
        bar.maxHint(total);
      }
      bar.stepTo(done);
    };
  }

  /** Draws the final state and ends the line. */
  @Override
  public void close() {
    if (bar != null) {
      bar.close();
    }
  }
}
