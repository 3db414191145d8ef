package dev.refkern.mm.internal.memmap;

import static dev.refkern.mm.internal.memmap.MemmapFile.LOCK_FILE;
import static dev.refkern.mm.internal.memmap.MemmapFile.MAP_FILE;
import static dev.refkern.mm.internal.memmap.MemmapFile.PROPS_FILE;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Properties;
import java.util.Set;
import java.util.function.ToLongFunction;

/**
 * The memmap's state directory (where a {@code vmcore} is kept): the path checks {@code open()}
 * makes, the POSIX lock probes that tell a live kernel, {@code kernel.properties}, the free-space
 * probe, and the errno each I/O failure on the directory stands for.
 */
final class StateDir {
  static final Set<OpenOption> CREATE_RW =
      Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);

  /** Free bytes where a memmap would go; replaceable so a test need not fill a disk. */
  private static volatile ToLongFunction<Path> usableSpace = StateDir::fileStoreUsableSpace;

  private StateDir() {}

  /** See {@link MemmapFile#checkDir(Path, boolean)}. */
  static void checkDir(Path dir, boolean mayCreate) {
    if (dir == null || dir.toString().isEmpty()) {
      throw new KernelException(Errno.ENOENT, "state directory '': no such file or directory");
    }
    Path abs = dir.toAbsolutePath();
    if (Files.exists(abs)) {
      if (!Files.isDirectory(abs)) {
        throw new KernelException(Errno.ENOTDIR, "state directory " + dir + " is not a directory");
      }
      if (!Files.isReadable(abs) || !Files.isExecutable(abs)) {
        throw new KernelException(Errno.EACCES, "state directory " + dir + ": permission denied");
      }
      return;
    }
    for (Path p = abs.getParent(); p != null; p = p.getParent()) {
      if (Files.exists(p)) {
        if (!Files.isDirectory(p)) {
          throw new KernelException(
              Errno.ENOTDIR, "state directory " + dir + ": " + p + " is not a directory");
        }
        break;
      }
    }
    if (!mayCreate) {
      throw new KernelException(Errno.ENOENT, "no state directory " + dir);
    }
  }

  // ---- locks ------------------------------------------------------------------------------------

  static FileLock tryLock(FileChannel ch, boolean shared) throws IOException {
    try {
      return ch.tryLock(0, Long.MAX_VALUE, shared);
    } catch (OverlappingFileLockException e) {
      return null; // held by this JVM
    }
  }

  /**
   * True if a live kernel holds a lock on {@code file}: an exclusive probe fails against the
   * kernel's lock (or Chronicle's shared one on the memmap) from another process, and with {@link
   * OverlappingFileLockException} in this JVM. A file this process cannot write is probed shared,
   * which only an exclusive lock stops.
   */
  static boolean heldByKernel(Path file) {
    if (!Files.exists(file)) {
      return false;
    }
    boolean rw = Files.isWritable(file);
    try (FileChannel ch =
        rw
            ? FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)
            : FileChannel.open(file, StandardOpenOption.READ)) {
      FileLock l = tryLock(ch, !rw);
      if (l == null) {
        return true;
      }
      l.release();
      return false;
    } catch (IOException e) {
      return false;
    }
  }

  /** See {@link MemmapFile#isLive(Path)}. */
  static boolean isLive(Path dir) {
    return heldByKernel(dir.resolve(LOCK_FILE)) || heldByKernel(dir.resolve(MAP_FILE));
  }

  /** Who holds (or held) the directory, for an {@code EBUSY}/{@code EEXIST} message. */
  static String describe(Path dir) {
    Properties p;
    try {
      p = readProps(dir);
    } catch (KernelException e) {
      return e.getMessage();
    }
    if (p == null) {
      return "no " + PROPS_FILE;
    }
    return "pid "
        + p.getProperty("pid", "?")
        + ", status "
        + p.getProperty("status", "?")
        + ", booted "
        + p.getProperty("boot_time", "?");
  }

  static void release(FileChannel ch, FileLock lock) {
    try {
      if (lock != null && lock.isValid()) {
        lock.release();
      }
      if (ch != null) {
        ch.close();
      }
    } catch (IOException ignored) {
      // best effort on a failed boot
    }
  }

  // ---- kernel.properties ------------------------------------------------------------------------

  /** See {@link MemmapFile#readProps(Path)}. */
  static Properties readProps(Path dir) {
    Path f = dir.resolve(PROPS_FILE);
    if (!Files.exists(f)) {
      return null;
    }
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(f)) {
      p.load(in);
      return p;
    } catch (IllegalArgumentException e) {
      throw new KernelException(Errno.EINVAL, "corrupt state: " + f + ": " + e.getMessage());
    } catch (IOException e) {
      throw ioError("cannot read " + f, e);
    }
  }

  /** Replaces {@code kernel.properties} atomically (write aside, then rename). */
  static void storeProps(Path dir, Properties props) {
    Path tmp = dir.resolve(PROPS_FILE + ".tmp");
    try {
      try (OutputStream out = Files.newOutputStream(tmp)) {
        props.store(out, "refkern kernel state; memmap in " + MAP_FILE);
      }
      Files.move(
          tmp,
          dir.resolve(PROPS_FILE),
          StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException ignored) {
        // best effort
      }
      throw ioError("cannot write " + dir.resolve(PROPS_FILE), e);
    }
  }

  static void requireEquals(Path dir, Properties p, String key, String expect) {
    String v = p.getProperty(key);
    if (!expect.equals(v)) {
      throw new KernelException(
          Errno.EINVAL,
          "incompatible memmap in "
              + dir
              + ": "
              + key
              + "="
              + v
              + ", this refkern needs "
              + expect);
    }
  }

  /** See {@link MemmapFile#longProp(Path, Properties, String)}. */
  static long longProp(Path dir, Properties p, String key) {
    String v = p.getProperty(key);
    try {
      return Long.parseLong(v == null ? "" : v.trim());
    } catch (NumberFormatException e) {
      throw new KernelException(
          Errno.EINVAL,
          "corrupt state: "
              + key
              + "="
              + (v == null ? "(missing)" : v)
              + " in "
              + dir.resolve(PROPS_FILE));
    }
  }

  // ---- free space -------------------------------------------------------------------------------

  /** Free bytes on the file store of {@code dir}, as the current probe sees them. */
  static long usableSpace(Path dir) {
    return usableSpace.applyAsLong(dir);
  }

  private static long fileStoreUsableSpace(Path dir) {
    try {
      return Files.getFileStore(dir).getUsableSpace();
    } catch (IOException e) {
      return Long.MAX_VALUE; // unknown: let the allocation itself report ENOSPC
    }
  }

  /** See {@link MemmapFile#setUsableSpaceProbe(ToLongFunction)}. */
  static void setUsableSpaceProbe(ToLongFunction<Path> probe) {
    usableSpace = probe != null ? probe : StateDir::fileStoreUsableSpace;
  }

  /** See {@link MemmapFile#isNoSpace(Throwable)}. */
  static boolean isNoSpace(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t.getMessage() != null && t.getMessage().contains("No space left on device")) {
        return true;
      }
    }
    return false;
  }

  static KernelException noSpace(Path dir, long need, long free) {
    return new KernelException(
        Errno.ENOSPC,
        String.format(
            java.util.Locale.ROOT,
            "memmap needs %.1f GiB, only %.1f GiB free on %s",
            need / (double) (1L << 30),
            Math.max(0, free) / (double) (1L << 30),
            dir.toAbsolutePath()));
  }

  // ---- errors -----------------------------------------------------------------------------------

  /** See {@link MemmapFile#ioError(String, Throwable)}. */
  static KernelException ioError(String what, Throwable e) {
    if (isNoSpace(e)) {
      return new KernelException(Errno.ENOSPC, what + ": no space left on device");
    }
    if (e instanceof AccessDeniedException) {
      return new KernelException(Errno.EACCES, what + ": permission denied: " + e.getMessage());
    }
    if (e instanceof NoSuchFileException) {
      return new KernelException(Errno.ENOENT, what + ": no such file: " + e.getMessage());
    }
    if (e instanceof NotDirectoryException
        || e instanceof java.nio.file.FileAlreadyExistsException) {
      return new KernelException(Errno.ENOTDIR, what + ": not a directory: " + e.getMessage());
    }
    return new KernelException(Errno.EIO, what + ": " + e);
  }

  static KernelException corrupt(Path dir, String why) {
    return new KernelException(Errno.EINVAL, "corrupt memmap in " + dir + ": " + why);
  }
}
