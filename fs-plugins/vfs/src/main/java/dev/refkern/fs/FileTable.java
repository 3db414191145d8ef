package dev.refkern.fs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * A task's file descriptors, {@code struct files_struct} ({@code include/linux/fdtable.h}): the
 * lowest free number is handed out first ({@code alloc_fd()}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class FileTable {
  private final List<OpenFile> fds = new ArrayList<>();

  FileTable() {}

  /** {@code fd_install()} at the lowest free descriptor. */
  synchronized int install(OpenFile f) {
    for (int fd = 0; fd < fds.size(); fd++) {
      if (fds.get(fd) == null) {
        fds.set(fd, f);
        return fd;
      }
    }
    fds.add(f);
    return fds.size() - 1;
  }

  /**
   * {@code fget()}: the open file behind {@code fd}, with a reference the caller puts.
   *
   * @throws KernelException {@code EBADF} if {@code fd} is not open
   */
  synchronized OpenFile get(int fd) {
    OpenFile f = fd >= 0 && fd < fds.size() ? fds.get(fd) : null;
    if (f == null) {
      throw new KernelException(Errno.EBADF, "fd " + fd + " is not open");
    }
    f.get();
    return f;
  }

  /** {@code close_fd()}: detaches {@code fd}; the caller puts the file. */
  synchronized OpenFile remove(int fd) {
    OpenFile f = fd >= 0 && fd < fds.size() ? fds.get(fd) : null;
    if (f == null) {
      throw new KernelException(Errno.EBADF, "fd " + fd + " is not open");
    }
    fds.set(fd, null);
    return f;
  }

  /** {@code dup_fd()}: a copy sharing every open file description, each with a new reference. */
  synchronized FileTable dup() {
    FileTable t = new FileTable();
    for (OpenFile f : fds) {
      if (f != null) {
        f.get();
      }
      t.fds.add(f);
    }
    return t;
  }

  /** Detaches every descriptor ({@code exit_files()}); the caller puts them. */
  synchronized List<OpenFile> removeAll() {
    List<OpenFile> all = new ArrayList<>();
    for (OpenFile f : fds) {
      if (f != null) {
        all.add(f);
      }
    }
    fds.clear();
    return all;
  }

  /** How many descriptors are open. */
  public synchronized int openCount() {
    int n = 0;
    for (OpenFile f : fds) {
      if (f != null) {
        n++;
      }
    }
    return n;
  }
}
