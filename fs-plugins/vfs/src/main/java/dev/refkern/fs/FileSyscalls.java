package dev.refkern.fs;

import static dev.refkern.mm.Page.PAGE_MASK;

import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The system calls of {@link Vfs} beyond open/read/write: {@code mmap} of files ({@code
 * mm/mmap.c}'s file checks), {@code fallocate} ({@code vfs_fallocate()}), {@code readv}/{@code
 * writev} ({@code fs/read_write.c}), {@code fsync} and {@code generic_write_sync()}.
 *
 * <p>A VMA holds its file open ({@code get_file()} in {@code mmap_region()}), but mm-core's VMA
 * knows only the address space and cannot call up into the VFS when it goes. So each file mapping
 * keeps a reference on its open file here, dropped once no VMA in any task maps the inode's pages
 * ({@code mapping_mapped()}): checked at {@link Vfs#munmap}, {@link Vfs#exit}, {@link Vfs#close}
 * and at shutdown. A {@code Task.munmap()} that bypasses the VFS releases its file late.
 */
final class FileSyscalls {
  /** {@code UIO_MAXIOV}: the most segments one vectored call takes. */
  static final int IOV_MAX = 1024;

  /** {@code MAX_RW_COUNT}: one call moves at most this many bytes. */
  static final long MAX_RW_COUNT = Integer.MAX_VALUE & PAGE_MASK;

  private final Vfs vfs;
  private final VirtualMemory vm;
  private final List<OpenFile> mapped = new ArrayList<>(); // one per file mmap() (vm_file)

  FileSyscalls(Vfs vfs, VirtualMemory vm) {
    this.vfs = vfs;
    this.vm = vm;
  }

  // ---------------------------------------------------------------- mmap

  long mmap(Task task, long addr, long len, int prot, int flags, int fd, long offset) {
    if ((flags & Mman.MAP_ANONYMOUS) != 0) {
      return task.mmap(addr, len, prot, flags, null, offset);
    }
    if ((offset & ~PAGE_MASK) != 0 || offset < 0) { // sys_mmap(): offset_in_page()
      throw new KernelException(Errno.EINVAL, "mmap: offset " + offset + " not page aligned");
    }
    OpenFile f = vfs.files(task).get(fd); // EBADF
    try {
      if (len <= 0) {
        throw new KernelException(Errno.EINVAL, "mmap: length " + len);
      }
      // do_mmap()'s file checks, in its order
      int type = flags & (Mman.MAP_SHARED | Mman.MAP_PRIVATE);
      if (type == Mman.MAP_SHARED && (prot & Mman.PROT_WRITE) != 0 && !f.writable()) {
        throw new KernelException(Errno.EACCES, "mmap: shared writable map of fd " + fd);
      }
      if (!f.readable()) {
        throw new KernelException(Errno.EACCES, "mmap: fd " + fd + " is not open for reading");
      }
      if (!f.inode.isReg()) {
        throw new KernelException(Errno.ENODEV, "mmap: fd " + fd + " has no ->mmap");
      }
      long at = task.mmap(addr, len, prot, flags, f.inode.mapping(), offset);
      synchronized (mapped) {
        mapped.add(f); // the VMA's reference: the file stays open while mapped
      }
      f = null;
      return at;
    } finally {
      if (f != null) {
        f.put();
      }
    }
  }

  /** Drops the mapping references of files no VMA maps any more. */
  void reapMapped() {
    List<OpenFile> gone = new ArrayList<>();
    synchronized (mapped) {
      for (Iterator<OpenFile> it = mapped.iterator(); it.hasNext(); ) {
        OpenFile f = it.next();
        if (!vm.rmap().mappingMapped(f.inode.mapping())) {
          it.remove();
          gone.add(f);
        }
      }
    }
    gone.forEach(OpenFile::put);
  }

  /** At shutdown: every mapping reference goes. */
  void putAllMapped() {
    List<OpenFile> all;
    synchronized (mapped) {
      all = new ArrayList<>(mapped);
      mapped.clear();
    }
    all.forEach(OpenFile::put);
  }

  // ---------------------------------------------------------------- fallocate

  /** {@code vfs_fallocate()}: the checks, in the kernel's order, then {@code ->fallocate}. */
  void fallocate(Task task, int fd, int mode, long offset, long len) {
    OpenFile f = vfs.files(task).get(fd);
    try {
      if (offset < 0 || len <= 0) {
        throw new KernelException(Errno.EINVAL, "fallocate: offset " + offset + " len " + len);
      }
      if ((mode & ~Falloc.SUPPORTED_MASK) != 0) {
        throw new KernelException(Errno.EOPNOTSUPP, "fallocate: unknown mode bits " + mode);
      }
      int punchOrZero = Falloc.FALLOC_FL_PUNCH_HOLE | Falloc.FALLOC_FL_ZERO_RANGE;
      if ((mode & punchOrZero) == punchOrZero) {
        throw new KernelException(Errno.EOPNOTSUPP, "fallocate: punch and zero range");
      }
      if ((mode & Falloc.FALLOC_FL_PUNCH_HOLE) != 0 && (mode & Falloc.FALLOC_FL_KEEP_SIZE) == 0) {
        throw new KernelException(Errno.EOPNOTSUPP, "fallocate: punch hole without keep size");
      }
      int collapseOrInsert = Falloc.FALLOC_FL_COLLAPSE_RANGE | Falloc.FALLOC_FL_INSERT_RANGE;
      if ((mode & collapseOrInsert) != 0
          && mode != Falloc.FALLOC_FL_COLLAPSE_RANGE
          && mode != Falloc.FALLOC_FL_INSERT_RANGE) {
        throw new KernelException(Errno.EINVAL, "fallocate: collapse/insert with other bits");
      }
      if ((mode & Falloc.FALLOC_FL_UNSHARE_RANGE) != 0
          && (mode & ~(Falloc.FALLOC_FL_UNSHARE_RANGE | Falloc.FALLOC_FL_KEEP_SIZE)) != 0) {
        throw new KernelException(Errno.EINVAL, "fallocate: unshare with other bits");
      }
      if (!f.writable()) {
        throw new KernelException(Errno.EBADF, "fallocate: fd " + fd + " is not open for writing");
      }
      Inode inode = f.inode;
      if (inode.isDir()) {
        throw new KernelException(Errno.EISDIR, "fallocate: fd " + fd + " is a directory");
      }
      if (!inode.isReg()) {
        throw new KernelException(Errno.ENODEV, "fallocate: fd " + fd + " is not a file");
      }
      long end = offset + len;
      if (end > inode.sb().maxBytes() || end < 0) {
        throw new KernelException(Errno.EFBIG, "fallocate: end " + end + " past s_maxbytes");
      }
      inode.sb().type().fileOperations().fallocate(inode, mode, offset, len);
    } finally {
      f.put();
    }
  }

  // ---------------------------------------------------------------- clone

  /**
   * {@code ioctl_file_clone()} + {@code vfs_clone_file_range()}: the descriptors, the mount, the
   * range's sign, the superblock and {@code generic_file_rw_checks()}, in the kernel's order, then
   * {@code ->remap_file_range}.
   */
  long cloneFileRange(Task task, int srcFd, long srcOff, long len, int dstFd, long dstOff) {
    OpenFile src = vfs.files(task).get(srcFd);
    OpenFile dst = null;
    try {
      dst = vfs.files(task).get(dstFd);
      if (src.mnt != dst.mnt) {
        throw new KernelException(
            Errno.EXDEV, "clone: fds " + srcFd + ", " + dstFd + " on two mounts");
      }
      if (srcOff < 0 || dstOff < 0 || len < 0 || srcOff + len < 0 || dstOff + len < 0) {
        throw new KernelException(
            Errno.EINVAL, "clone: offsets " + srcOff + ", " + dstOff + " len " + len);
      }
      Inode in = src.inode;
      Inode out = dst.inode;
      if (in.sb() != out.sb()) {
        throw new KernelException(Errno.EXDEV, "clone: two filesystems");
      }
      if (in.isDir() || out.isDir()) {
        throw new KernelException(Errno.EISDIR, "clone: a directory");
      }
      if (!in.isReg() || !out.isReg()) {
        throw new KernelException(Errno.EINVAL, "clone: not a regular file");
      }
      if (!src.readable() || !dst.writable() || dst.append()) {
        throw new KernelException(
            Errno.EBADF, "clone: fd " + srcFd + " not readable or fd " + dstFd + " not writable");
      }
      return in.sb().type().fileOperations().remapFileRange(in, srcOff, out, dstOff, len);
    } finally {
      if (dst != null) {
        dst.put();
      }
      src.put();
    }
  }

  // ---------------------------------------------------------------- readv, writev

  /** {@code import_iovec()}: at most {@link #IOV_MAX} segments, none negative. */
  private static void checkIovec(Iovec[] iov) {
    if (iov.length > IOV_MAX) {
      throw new KernelException(Errno.EINVAL, iov.length + " iovecs, more than UIO_MAXIOV");
    }
    for (Iovec v : iov) {
      if (v.len() < 0) {
        throw new KernelException(Errno.EINVAL, "iovec of negative length " + v.len());
      }
    }
  }

  /** {@code readv()}: fills the segments in order from the file position; stops short at EOF. */
  long readv(Task task, int fd, Iovec[] iov) {
    OpenFile f = vfs.fileFor(task, fd, true);
    try {
      checkIovec(iov);
      synchronized (f) {
        long total = 0;
        for (Iovec v : iov) {
          long want = Math.min(v.len(), MAX_RW_COUNT - total);
          long n = want == 0 ? 0 : vfs.readAt(task, f, v.base(), want, f.pos);
          f.pos += n;
          total += n;
          if (n < want || total == MAX_RW_COUNT) {
            break;
          }
        }
        return total;
      }
    } finally {
      f.put();
    }
  }

  /** {@code writev()}: one write of the segments in order, atomic against other writers. */
  long writev(Task task, int fd, Iovec[] iov) {
    OpenFile f = vfs.fileFor(task, fd, false);
    try {
      checkIovec(iov);
      synchronized (f) {
        long start;
        long total = 0;
        synchronized (f.inode) { // i_rwsem over every segment, as one ->write_iter
          long[] at = {f.pos};
          start = -1;
          for (Iovec v : iov) {
            long want = Math.min(v.len(), MAX_RW_COUNT - total);
            if (want == 0) {
              continue;
            }
            long n = vfs.writeAt(task, f, v.base(), want, at);
            if (start < 0) {
              start = at[0];
            }
            at[0] += n;
            total += n;
            if (n < want || total == MAX_RW_COUNT) {
              break;
            }
          }
          f.pos = start < 0 ? f.pos : at[0];
        }
        if (start >= 0) {
          writeSync(f, start, total);
        }
        return total;
      }
    } finally {
      f.put();
    }
  }

  // ---------------------------------------------------------------- sync

  /**
   * {@code generic_write_sync()}: with {@code O_DSYNC} the bytes just written reach the backing
   * store before the call returns, with {@code O_SYNC} the inode's metadata too (the path {@code
   * fsync} takes).
   */
  void writeSync(OpenFile f, long pos, long written) {
    if ((f.flags & Fcntl.O_DSYNC) == 0 || written <= 0 || Vfs.direct(f)) {
      return; // a direct write (or its buffered fallback) synced itself
    }
    boolean datasync = (f.flags & Fcntl.O_SYNC) != Fcntl.O_SYNC;
    vfsFsyncRange(f, pos, pos + written - 1, datasync);
  }

  /** {@code fsync(fd)} / {@code fdatasync(fd)}: {@code vfs_fsync_range(file, 0, LLONG_MAX)}. */
  void fsync(Task task, int fd, boolean datasync) {
    OpenFile f = vfs.files(task).get(fd);
    try {
      vfsFsyncRange(f, 0, Long.MAX_VALUE, datasync);
    } finally {
      f.put();
    }
  }

  private static void vfsFsyncRange(OpenFile f, long start, long end, boolean datasync) {
    Inode inode = f.inode;
    if (inode.isReg()) { // directories: simple_dir_operations' noop_fsync()
      inode.sb().type().fileOperations().fsync(inode, start, end, datasync);
    }
  }
}
