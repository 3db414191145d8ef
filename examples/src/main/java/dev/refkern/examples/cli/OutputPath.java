package dev.refkern.examples.cli;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An output file a command writes at its end, checked up front with the {@code mkdir()}s and the
 * {@code open(O_WRONLY|O_CREAT)} that will write it, so a bad path fails at once with the errno the
 * kernel gives ({@code ENOTDIR}, {@code EISDIR}, {@code EACCES}, {@code EROFS}, ...).
 */
final class OutputPath {
  private OutputPath() {}

  /** Creates {@code file}'s directories and opens it for writing once; throws the errno. */
  static void checkWritable(Path file, String option) {
    Path abs = file.toAbsolutePath().normalize();
    boolean existed = Files.exists(abs);
    try {
      if (Files.isDirectory(abs)) {
        throw new KernelException(Errno.EISDIR, option + " " + file + ": Is a directory");
      }
      Path parent = abs.getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      Files.newOutputStream(abs, StandardOpenOption.CREATE, StandardOpenOption.WRITE).close();
      if (!existed) {
        Files.delete(abs);
      }
    } catch (IOException e) {
      throw new KernelException(errno(e), option + " " + file + ": " + reason(e));
    }
  }

  /** The errno behind a failed file operation, from its exception or the OS's message. */
  static Errno errno(IOException e) {
    if (e instanceof NoSuchFileException) {
      return Errno.ENOENT;
    }
    if (e instanceof AccessDeniedException) {
      return Errno.EACCES;
    }
    if (e instanceof FileAlreadyExistsException) {
      // createDirectories() met a file where a directory must be
      return Errno.ENOTDIR;
    }
    if (e instanceof NotDirectoryException) {
      return Errno.ENOTDIR;
    }
    String r = reason(e);
    if (r.contains("Not a directory")) {
      return Errno.ENOTDIR;
    }
    if (r.contains("Is a directory")) {
      return Errno.EISDIR;
    }
    if (r.contains("Read-only file system")) {
      return Errno.EROFS;
    }
    if (r.contains("Permission denied")) {
      return Errno.EACCES;
    }
    if (r.contains("No such file")) {
      return Errno.ENOENT;
    }
    if (r.contains("No space left")) {
      return Errno.ENOSPC;
    }
    return Errno.EIO;
  }

  /** The OS's words for a failed file operation, with the file it names. */
  static String reason(IOException e) {
    if (e instanceof FileAlreadyExistsException f) {
      return "Not a directory (" + f.getFile() + " is a file)";
    }
    if (e instanceof FileSystemException f && f.getReason() != null) {
      return f.getReason() + (f.getFile() != null ? " (" + f.getFile() + ")" : "");
    }
    if (e instanceof NoSuchFileException) {
      return "No such file or directory";
    }
    if (e instanceof AccessDeniedException) {
      return "Permission denied";
    }
    return String.valueOf(e.getMessage());
  }
}
