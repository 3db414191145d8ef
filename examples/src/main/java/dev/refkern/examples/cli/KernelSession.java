package dev.refkern.examples.cli;

import dev.refkern.examples.FileTrees;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The process's exit path around its kernels ({@code do_exit()} after a fatal signal): state
 * directories, temporary ones, and the one shutdown hook.
 *
 * <p>On SIGINT or SIGTERM the hook delivers a fatal signal to every booted machine (their kernel
 * entries then fail with {@code EINTR}, as GUP does on {@code fatal_signal_pending()}), waits for
 * the commands to unwind and close them (which unmaps each memmap after its workers, records its
 * checksums and {@code STOPPED}), then deletes the temporary state directories. The JVM then exits
 * 130 (SIGINT) or 143 (SIGTERM). A kernel that does not stop within {@link #STOP_WAIT_MS} stays
 * {@code running} in its state file, which the inspector reports as {@code DIED}.
 */
final class KernelSession {
  /** Bound on waiting for the kernels to stop at exit. */
  static final long STOP_WAIT_MS = 60_000;

  private static final Set<Path> TEMP_DIRS = new LinkedHashSet<>();
  private static volatile boolean exiting;
  private static boolean installed;
  private static int running; // commands in Main.execute, guarded by KernelSession.class

  private KernelSession() {}

  /** Installs the shutdown hook (once per process). */
  static synchronized void install() {
    if (!installed) {
      installed = true;
      Runtime.getRuntime().addShutdownHook(new Thread(KernelSession::onExit, "refkern-exit"));
      // Chronicle registers its own shutdown hook when this class first initializes; a Ctrl-C
      // during the first boot would make that fail and leave the command with a broken class
      try {
        Class.forName("net.openhft.chronicle.core.io.BackgroundResourceReleaser");
      } catch (ClassNotFoundException | LinkageError e) {
        // no Chronicle on this path: nothing to prepare
      }
    }
  }

  /** True once the JVM began shutting down (a signal or {@code System.exit}). */
  static boolean exiting() {
    return exiting;
  }

  /** A command starts: the exit path waits for it to unwind. */
  static synchronized void commandStarted() {
    running++;
  }

  /** A command returned (or threw). */
  static synchronized void commandDone() {
    running--;
    KernelSession.class.notifyAll();
  }

  private static synchronized boolean awaitCommands(long millis) throws InterruptedException {
    long deadline = System.nanoTime() + millis * 1_000_000L;
    while (running > 0) {
      long left = (deadline - System.nanoTime()) / 1_000_000L;
      if (left <= 0) {
        return false;
      }
      KernelSession.class.wait(left);
    }
    return true;
  }

  private static void onExit() {
    exiting = true;
    PhysicalMemory.fatalSignalAll();
    try {
      long t0 = System.nanoTime();
      boolean done = awaitCommands(STOP_WAIT_MS);
      long left = Math.max(1, STOP_WAIT_MS - (System.nanoTime() - t0) / 1_000_000L);
      if (!done || !PhysicalMemory.awaitAllClosed(left)) {
        System.err.println(
            "refkern: a kernel did not stop within "
                + STOP_WAIT_MS / 1000
                + " s; its state directory will read DIED");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    // temporary directories of commands that did not unwind in time: unlinking them is safe,
    // their memmaps stay mapped until the process is gone
    for (Path dir : tempDirs()) {
      release(dir);
    }
  }

  private static synchronized List<Path> tempDirs() {
    return new ArrayList<>(TEMP_DIRS);
  }

  /**
   * Blocks until standard input closes or the process is told to exit ({@code boot --hold}): a read
   * of stdin cannot be interrupted, so a daemon thread does it.
   */
  static void holdUntilStdinClosed() throws InterruptedException {
    java.util.concurrent.CountDownLatch eof = new java.util.concurrent.CountDownLatch(1);
    Thread reader =
        new Thread(
            () -> {
              try {
                while (System.in.read() >= 0) {
                  // wait for end of input
                }
              } catch (IOException e) {
                // treat as closed
              }
              eof.countDown();
            },
            "refkern-stdin");
    reader.setDaemon(true);
    reader.start();
    while (!exiting && !eof.await(100, java.util.concurrent.TimeUnit.MILLISECONDS)) {
      // poll: the exit path sets the flag, it cannot count down a latch it does not know
    }
  }

  /**
   * The state directory a command runs in: {@code state} checked as boot would open it, or, when
   * null, a new temporary directory deleted by {@link #release} (or at exit).
   *
   * @throws KernelException {@code ENOENT} for {@code ""}, {@code ENOTDIR} for a regular file,
   *     {@code EACCES} for one that cannot be read
   */
  static Path stateDir(Path state, String tempPrefix) {
    if (state != null) {
      PhysicalMemory.checkStateDir(state, true);
      return state;
    }
    try {
      Path dir = Files.createTempDirectory(tempPrefix);
      synchronized (KernelSession.class) {
        TEMP_DIRS.add(dir);
      }
      return dir;
    } catch (IOException e) {
      throw errno("cannot create a temporary state directory", e);
    }
  }

  /**
   * Refuses to replace a previous kernel's memmap in {@code dir} or in its immediate subdirectories
   * (commands that boot several machines) unless {@code reset}, like {@code boot}.
   *
   * @throws KernelException {@code EEXIST} with the hint to inspect or pass {@code --reset}
   */
  static void refusePreviousKernels(Path dir, boolean reset) {
    if (reset || !Files.isDirectory(dir)) {
      return;
    }
    List<Path> dirs = new ArrayList<>(List.of(dir));
    try (var s = Files.list(dir)) {
      s.filter(Files::isDirectory).sorted().forEach(dirs::add);
    } catch (IOException e) {
      throw errno("cannot read state directory " + dir, e);
    }
    for (Path d : dirs) {
      if (PhysicalMemory.holdsMemmap(d)) {
        throw new KernelException(
            Errno.EEXIST,
            "state directory "
                + d
                + " holds the memmap of a previous kernel; inspect it with 'refkern inspect"
                + " --state "
                + d
                + "' or pass --reset to discard it");
      }
    }
  }

  /** Deletes a temporary state directory (no-op for one the user named, or already deleted). */
  static void release(Path dir) {
    synchronized (KernelSession.class) {
      if (!TEMP_DIRS.remove(dir)) {
        return;
      }
    }
    try {
      FileTrees.deleteTree(dir);
    } catch (IOException | UncheckedIOException e) {
      System.err.println("refkern: cannot remove " + dir + ": " + e.getMessage());
    }
  }

  /**
   * The errno an I/O failure stands for, with one line of text: a full disk is {@code ENOSPC},
   * never {@code EIO} with a Java stack.
   */
  static KernelException errno(String what, Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof KernelException ke) {
        return ke;
      }
    }
    // the innermost I/O failure that names an errno (a full disk wrapped in an unchecked one)
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof IOException io && OutputPath.errno(io) != Errno.EIO) {
        return new KernelException(OutputPath.errno(io), what + ": " + OutputPath.reason(io));
      }
    }
    String m = e.getMessage();
    return new KernelException(Errno.EIO, what + ": " + (m != null ? m : e.getClass().getName()));
  }
}
