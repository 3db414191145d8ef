package dev.refkern.fs;

import static dev.refkern.mm.Page.PAGE_SHIFT;
import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.BlockDevice;
import dev.refkern.fs.internal.BdevTable;
import dev.refkern.fs.internal.PinnedMountOptions;
import dev.refkern.fs.internal.Tmpfs;
import dev.refkern.fs.iomap.IomapBufferedIo;
import dev.refkern.fs.iomap.IomapDirectIo;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Filemap;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The VFS system calls ({@code fs/open.c}, {@code fs/namei.c}, {@code fs/read_write.c}) over one
 * mount namespace, with each {@link Task}'s file table.
 *
 * <p>Buffered I/O copies between the task's memory ({@link Task#load}, {@link Task#store}) and the
 * page cache ({@code filemap_read()}, {@code generic_perform_write()} with {@code libfs}'s {@code
 * simple_write_begin/end}). Paths are absolute (there is no working directory yet); {@code ..} at a
 * mount's root stays there. Namespace changes are serialized by one lock ({@code rename_lock}).
 * Errors are {@link KernelException}s with the kernel's errno.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Vfs {
  /** {@code PATH_MAX}, counting the terminating NUL. */
  public static final int PATH_MAX = 4096;

  /** {@code NAME_MAX}: the longest file name. */
  public static final int NAME_MAX = 255;

  private static final byte[] ZEROES = new byte[PAGE_SIZE];

  private final VirtualMemory vm;
  private final PhysicalMemory mem;
  private final Filemap filemap;
  private final FileSystems types;
  private final Object ns = new Object();
  private final Mount rootMount;
  private final Map<Inode, Mount> mounts = new IdentityHashMap<>(); // by mountpoint
  private final Map<Task, FileTable> tables = new IdentityHashMap<>();
  private final BdevTable bdevs = new BdevTable();
  private final Writeback writeback;
  private final FileSyscalls sys;
  private final IomapDirectIo directIo;

  /** A namespace on {@code vm} whose root is a fresh {@code tmpfs}, with the standard types. */
  public Vfs(VirtualMemory vm) {
    this(vm, FileSystems.standard(), "tmpfs", "");
  }

  /** A namespace on {@code vm} whose root is {@code rootType} mounted with {@code rootOptions}. */
  public Vfs(VirtualMemory vm, FileSystems types, String rootType, String rootOptions) {
    this.vm = vm;
    this.mem = vm.physicalMemory();
    this.filemap = vm.filemap();
    this.types = types;
    this.writeback = new Writeback(vm);
    this.sys = new FileSyscalls(this, vm);
    this.directIo = new IomapDirectIo(vm);
    this.rootMount =
        new Mount(
            PinnedMountOptions.mount(
                types.get(rootType), vm, null, "none", MountOptions.fsOptions(rootOptions)),
            "/",
            rootOptions,
            null);
  }

  public FileSystems fileSystems() {
    return types;
  }

  /** The flusher, dirty throttling and their counters ({@code fs/fs-writeback.c}). */
  public Writeback writeback() {
    return writeback;
  }

  /** {@code O_DIRECT} through iomap and its counters ({@code fs/iomap/direct-io.c}). */
  public IomapDirectIo directIo() {
    return directIo;
  }

  /** The file table of {@code task}, created on first use. */
  public FileTable files(Task task) {
    synchronized (tables) {
      return tables.computeIfAbsent(task, t -> new FileTable());
    }
  }

  // ---------------------------------------------------------------- mounts

  /**
   * Makes {@code dev} the block device that mount sources named {@code path} resolve to (a device
   * node under {@code /dev}, kept apart from the namespace).
   *
   * @throws KernelException {@code EEXIST} if {@code path} names another device already
   */
  public void registerBlockDevice(String path, BlockDevice dev) {
    bdevs.register(path, dev);
  }

  /**
   * {@code mount(source, target, type, 0, options)}.
   *
   * <p>Mounting where something is mounted already stacks the new mount on top, as Linux does.
   *
   * @throws KernelException {@code EINVAL} for an unknown type or option, {@code ENOENT}, {@code
   *     ENOTDIR} for a bad target
   */
  public Mount mount(String type, String source, String target, String options) {
    FileSystemType t = types.get(type);
    synchronized (ns) {
      Nd nd = walk(target);
      if (!nd.dir.isDir()) {
        throw new KernelException(Errno.ENOTDIR, target + " is not a directory");
      }
      BlockDevice bdev = t.requiresDev() ? bdevs.lookupBdev(source, this::exists) : null;
      SuperBlock sb =
          PinnedMountOptions.mount(t, vm, bdev, source, MountOptions.fsOptions(options));
      Mount m = new Mount(sb, target, options, nd.dir);
      mounts.put(nd.dir, m);
      return m;
    }
  }

  /**
   * {@code umount(target)}: kills the superblock.
   *
   * @throws KernelException {@code EINVAL} if {@code target} is not a mount's root, {@code EBUSY}
   *     if a file on it is open or something is mounted inside it
   */
  public void umount(String target) {
    synchronized (ns) {
      Nd nd = walk(target);
      Mount m = nd.mnt;
      if (m == rootMount || nd.dir != m.sb().root()) {
        throw new KernelException(Errno.EINVAL, target + " is not a mount point");
      }
      checkIdle(m.sb(), target);
      mounts.remove(m.mountpoint());
      writeback.umount(m.sb()); // sync_filesystem(), then the flusher stops
      m.sb().type().killSb(m.sb());
    }
  }

  private void checkIdle(SuperBlock sb, String target) {
    for (Inode i : sb.inodes()) {
      if (i.openCount() > 0 || (i.isDir() && mounts.containsKey(i))) {
        throw new KernelException(Errno.EBUSY, target + " is busy: " + i);
      }
    }
  }

  private boolean exists(String path) {
    try {
      walk(path);
      return true;
    } catch (KernelException e) {
      return false;
    }
  }

  /**
   * {@code sync()}: every mounted filesystem writes its files' pages back, then its metadata
   * ({@code sync_filesystem()}: {@code ->sync_fs}).
   *
   * @throws KernelException the first writeback error met; the rest are still synced
   */
  public void sync() {
    KernelException first = null;
    for (Mount m : mounts()) {
      try {
        syncFilesystem(m.sb());
      } catch (KernelException e) {
        first = first == null ? e : first;
      }
    }
    if (first != null) {
      throw first;
    }
  }

  private void syncFilesystem(SuperBlock sb) {
    writeback.syncSb(sb); // every dirty inode, WB_SYNC_ALL, for_sync; errors stay for fsync
    sb.type().syncFs(sb);
  }

  /** The mount table, root first ({@code /proc/mounts}). */
  public List<Mount> mounts() {
    synchronized (ns) {
      List<Mount> l = new ArrayList<>();
      l.add(rootMount);
      l.addAll(mounts.values());
      return l;
    }
  }

  /**
   * Closes every task's files and kills every superblock, mounts first (what shutdown does).
   *
   * @throws KernelException {@code EBUSY} never: open files are closed first
   */
  public void shutdown() {
    List<FileTable> all;
    synchronized (tables) {
      all = new ArrayList<>(tables.values());
      tables.clear();
    }
    for (FileTable t : all) {
      t.removeAll().forEach(OpenFile::put);
    }
    sys.putAllMapped();
    synchronized (ns) {
      while (!mounts.isEmpty()) {
        // innermost first: a mount with nothing mounted inside it
        Mount leaf = null;
        for (Mount m : mounts.values()) {
          boolean inner = false;
          for (Inode mp : mounts.keySet()) {
            inner |= mp.sb() == m.sb();
          }
          if (!inner) {
            leaf = m;
          }
        }
        mounts.remove(leaf.mountpoint());
        writeback.umount(leaf.sb());
        leaf.sb().type().killSb(leaf.sb());
      }
      writeback.umount(rootMount.sb());
      rootMount.sb().type().killSb(rootMount.sb());
    }
    writeback.shutdown();
  }

  // ---------------------------------------------------------------- path walk

  /** {@code struct nameidata}: where a walk stands. */
  private static final class Nd {
    Mount mnt;
    Inode dir;
    String last; // the final component, null for "/"
    boolean trailingSlash;
  }

  /** {@code path_parentat()}: walks to the parent of the last component. */
  private Nd walkParent(String path) {
    if (path == null) {
      throw new KernelException(Errno.EFAULT, "null path");
    }
    if (path.isEmpty()) {
      throw new KernelException(Errno.ENOENT, "empty path");
    }
    if (path.length() >= PATH_MAX) {
      throw new KernelException(Errno.ENAMETOOLONG, "path of " + path.length() + " characters");
    }
    List<String> comps = new ArrayList<>();
    for (String c : path.split("/")) {
      if (c.length() > NAME_MAX) {
        throw new KernelException(Errno.ENAMETOOLONG, "name of " + c.length() + " characters");
      }
      if (!c.isEmpty() && !c.equals(".")) {
        comps.add(c);
      }
    }
    Nd nd = new Nd();
    nd.mnt = rootMount;
    nd.dir = rootMount.sb().root();
    followMounts(nd);
    nd.trailingSlash = path.endsWith("/") || path.endsWith("/.");
    for (int i = 0; i < comps.size() - 1; i++) {
      step(nd, comps.get(i));
    }
    if (!nd.dir.isDir()) {
      throw new KernelException(Errno.ENOTDIR, "a component of " + path + " is not a directory");
    }
    nd.last = comps.isEmpty() ? null : comps.get(comps.size() - 1);
    return nd;
  }

  /** {@code walk_component()}: one step down, crossing into a mount ({@code follow_mount()}). */
  private void step(Nd nd, String name) {
    if (!nd.dir.isDir()) {
      throw new KernelException(Errno.ENOTDIR, nd.dir + " is not a directory");
    }
    if (name.equals("..")) {
      nd.dir = nd.dir.parent();
      return;
    }
    Inode c = nd.dir.lookup(name);
    if (c == null) {
      throw new KernelException(Errno.ENOENT, "no " + name + " in " + nd.dir);
    }
    nd.dir = c;
    followMounts(nd);
  }

  /** {@code follow_mount()}: down through every mount stacked on {@code nd.dir}. */
  private void followMounts(Nd nd) {
    for (Mount m = mounts.get(nd.dir); m != null; m = mounts.get(nd.dir)) {
      nd.mnt = m;
      nd.dir = m.sb().root();
    }
  }

  /** {@code path_lookupat()}: the whole path; {@code nd.dir} is what it names. */
  private Nd walk(String path) {
    Nd nd = walkParent(path);
    if (nd.last != null) {
      step(nd, nd.last);
    }
    if (nd.trailingSlash && !nd.dir.isDir()) {
      throw new KernelException(Errno.ENOTDIR, path + " is not a directory");
    }
    return nd;
  }

  // ---------------------------------------------------------------- namespace calls

  /**
   * {@code open(path, flags, mode)}.
   *
   * @return the lowest free descriptor of {@code task}
   * @throws KernelException {@code ENOENT}, {@code EEXIST} ({@code O_CREAT|O_EXCL}), {@code EISDIR}
   *     (a directory opened for writing or with {@code O_CREAT}), {@code ENOTDIR}, {@code ENOSPC},
   *     {@code ENAMETOOLONG}
   */
  public int open(Task task, String path, int flags, int mode) {
    OpenFile f;
    boolean created = false;
    synchronized (ns) {
      Nd nd = walkParent(path);
      if (nd.last != null && !nd.last.equals("..")) {
        Inode child = nd.dir.lookup(nd.last);
        if (child == null) {
          if ((flags & Fcntl.O_CREAT) == 0) {
            throw new KernelException(Errno.ENOENT, path);
          }
          if (nd.trailingSlash) {
            throw new KernelException(Errno.EISDIR, path + ": O_CREAT of a name ending in /");
          }
          MountOptions.mntWantWrite(nd.mnt, path);
          child = nd.dir.sb().newInode(Inode.S_IFREG | (mode & 07777));
          nd.dir.addEntry(nd.last, child);
          created = true;
        } else if ((flags & (Fcntl.O_CREAT | Fcntl.O_EXCL)) == (Fcntl.O_CREAT | Fcntl.O_EXCL)) {
          throw new KernelException(Errno.EEXIST, path);
        }
        if (!created) {
          step(nd, nd.last);
        } else {
          nd.dir = child;
        }
      } else if (nd.last != null) {
        step(nd, nd.last);
      }
      Inode inode = nd.dir;
      if (inode.isDir()) {
        // may_open(): a directory is never written, nor created over
        if ((flags & Fcntl.O_CREAT) != 0
            || (flags & Fcntl.O_ACCMODE) != Fcntl.O_RDONLY
            || (flags & Fcntl.O_TRUNC) != 0) {
          throw new KernelException(Errno.EISDIR, path + " is a directory");
        }
      } else if (nd.trailingSlash) {
        throw new KernelException(Errno.ENOTDIR, path + " is not a directory");
      } else if ((flags & Fcntl.O_DIRECT) != 0
          && !IomapDirectIo.supported(inode.sb())
          && !(inode.sb().type() instanceof Tmpfs)) {
        // no FMODE_CAN_ODIRECT; tmpfs has it since 6.6 and serves it buffered
        throw new KernelException(Errno.EINVAL, path + ": O_DIRECT not supported");
      }
      if ((flags & Fcntl.O_ACCMODE) != Fcntl.O_RDONLY || (flags & Fcntl.O_TRUNC) != 0) {
        MountOptions.mntWantWrite(nd.mnt, path); // do_dentry_open(), handle_truncate()
      }
      inode.iget();
      f = new OpenFile(inode, nd.mnt, flags);
    }
    try {
      if ((flags & Fcntl.O_TRUNC) != 0 && !created && f.inode.isReg()) {
        truncate(task, f.inode, 0); // handle_truncate()
      }
      return files(task).install(f);
    } catch (RuntimeException e) {
      f.put();
      throw e;
    }
  }

  /** {@code close(fd)}. @throws KernelException {@code EBADF} */
  public void close(Task task, int fd) {
    files(task).remove(fd).put();
    sys.reapMapped();
  }

  /** {@code exit_files()}: closes every descriptor of {@code task}. */
  public void exitFiles(Task task) {
    FileTable t;
    synchronized (tables) {
      t = tables.remove(task);
    }
    if (t != null) {
      t.removeAll().forEach(OpenFile::put);
    }
  }

  /**
   * {@code mkdir(path, mode)}.
   *
   * @throws KernelException {@code EEXIST}, {@code ENOENT}, {@code ENOTDIR}, {@code ENOSPC}
   */
  public void mkdir(String path, int mode) {
    synchronized (ns) {
      Nd nd = walkParent(path);
      if (nd.last == null || nd.last.equals("..") || nd.dir.lookup(nd.last) != null) {
        throw new KernelException(Errno.EEXIST, path);
      }
      MountOptions.mntWantWrite(nd.mnt, path);
      if (!nd.dir.sb().type().hasMkdir()) {
        throw new KernelException(Errno.EPERM, path + ": " + nd.dir.sb() + " has no directories");
      }
      nd.dir.addEntry(nd.last, nd.dir.sb().newInode(Inode.S_IFDIR | (mode & 07777)));
    }
  }

  /**
   * {@code rmdir(path)}.
   *
   * @throws KernelException {@code ENOENT}, {@code ENOTDIR}, {@code ENOTEMPTY}, {@code EBUSY} (a
   *     mount point or root), {@code EINVAL} (a last component {@code .})
   */
  public void rmdir(String path) {
    synchronized (ns) {
      if (path != null && (path.endsWith("/.") || path.equals("."))) {
        throw new KernelException(Errno.EINVAL, path + ": rmdir of .");
      }
      Nd nd = walkParent(path);
      if (nd.last == null) {
        throw new KernelException(Errno.EBUSY, path + " is the root");
      }
      if (nd.last.equals("..")) {
        throw new KernelException(Errno.ENOTEMPTY, path);
      }
      MountOptions.mntWantWrite(nd.mnt, path);
      Inode child = nd.dir.lookup(nd.last);
      if (child == null) {
        throw new KernelException(Errno.ENOENT, path);
      }
      if (!child.isDir()) {
        throw new KernelException(Errno.ENOTDIR, path + " is not a directory");
      }
      if (mounts.containsKey(child)) {
        throw new KernelException(Errno.EBUSY, path + " is a mount point");
      }
      if (!child.isEmptyDir()) {
        throw new KernelException(Errno.ENOTEMPTY, path);
      }
      nd.dir.removeEntry(nd.last);
    }
  }

  /**
   * {@code unlink(path)}: the inode lives on while a file has it open.
   *
   * @throws KernelException {@code ENOENT}, {@code EISDIR} (a directory), {@code ENOTDIR}
   */
  public void unlink(String path) {
    synchronized (ns) {
      Nd nd = walkParent(path);
      if (nd.last == null || nd.last.equals("..")) {
        throw new KernelException(Errno.EISDIR, path);
      }
      MountOptions.mntWantWrite(nd.mnt, path);
      Inode child = nd.dir.lookup(nd.last);
      if (child == null) {
        throw new KernelException(Errno.ENOENT, path);
      }
      if (child.isDir()) {
        throw new KernelException(Errno.EISDIR, path + " is a directory");
      }
      if (nd.trailingSlash) {
        throw new KernelException(Errno.ENOTDIR, path + " is not a directory");
      }
      nd.dir.removeEntry(nd.last);
    }
  }

  /**
   * {@code link(oldPath, newPath)}: a new name for a file.
   *
   * @throws KernelException {@code ENOENT}, {@code EEXIST}, {@code EPERM} (a directory), {@code
   *     EXDEV} (another mount)
   */
  public void link(String oldPath, String newPath) {
    synchronized (ns) {
      Nd old = walk(oldPath);
      Nd nd = walkParent(newPath);
      if (nd.last == null || nd.last.equals("..") || nd.dir.lookup(nd.last) != null) {
        throw new KernelException(Errno.EEXIST, newPath);
      }
      MountOptions.mntWantWrite(nd.mnt, newPath);
      if (old.mnt != nd.mnt) {
        throw new KernelException(Errno.EXDEV, oldPath + " and " + newPath + " are on two mounts");
      }
      if (old.dir.isDir()) {
        throw new KernelException(Errno.EPERM, oldPath + " is a directory");
      }
      nd.dir.addEntry(nd.last, old.dir);
    }
  }

  /**
   * {@code rename(oldPath, newPath)}: replaces an existing target atomically; the replaced inode
   * lives on while open.
   *
   * @throws KernelException {@code ENOENT}, {@code ENOTDIR}, {@code EISDIR}, {@code ENOTEMPTY},
   *     {@code EINVAL} (a directory into itself), {@code EBUSY}, {@code EXDEV}
   */
  public void rename(String oldPath, String newPath) {
    synchronized (ns) {
      Nd o = walkParent(oldPath);
      Nd n = walkParent(newPath);
      if (o.last == null || n.last == null || o.last.equals("..") || n.last.equals("..")) {
        throw new KernelException(Errno.EBUSY, oldPath + " -> " + newPath);
      }
      if (o.mnt != n.mnt) {
        throw new KernelException(Errno.EXDEV, oldPath + " and " + newPath + " are on two mounts");
      }
      MountOptions.mntWantWrite(o.mnt, oldPath);
      Inode source = o.dir.lookup(o.last);
      if (source == null) {
        throw new KernelException(Errno.ENOENT, oldPath);
      }
      if (!source.isDir() && (o.trailingSlash || n.trailingSlash)) {
        throw new KernelException(Errno.ENOTDIR, oldPath + " is not a directory");
      }
      Inode target = n.dir.lookup(n.last);
      if (source == target) {
        return; // two names of one inode: POSIX says do nothing
      }
      if (source.isDir()) {
        for (Inode d = n.dir; ; d = d.parent()) {
          if (d == source) {
            throw new KernelException(Errno.EINVAL, "moving " + oldPath + " into itself");
          }
          if (d.parent() == d) {
            break;
          }
        }
      }
      if (mounts.containsKey(source) || (target != null && mounts.containsKey(target))) {
        throw new KernelException(Errno.EBUSY, oldPath + " -> " + newPath + ": a mount point");
      }
      if (target != null) {
        if (source.isDir() && !target.isDir()) {
          throw new KernelException(Errno.ENOTDIR, newPath + " is not a directory");
        }
        if (!source.isDir() && target.isDir()) {
          throw new KernelException(Errno.EISDIR, newPath + " is a directory");
        }
        if (target.isDir() && !target.isEmptyDir()) {
          throw new KernelException(Errno.ENOTEMPTY, newPath);
        }
        n.dir.removeEntry(n.last);
      }
      o.dir.moveEntry(o.last, n.dir, n.last);
    }
  }

  /** {@code stat(path)}. @throws KernelException {@code ENOENT}, {@code ENOTDIR} */
  public Stat stat(String path) {
    synchronized (ns) {
      return stat(walk(path).dir);
    }
  }

  /** {@code fstat(fd)}. @throws KernelException {@code EBADF} */
  public Stat fstat(Task task, int fd) {
    OpenFile f = files(task).get(fd);
    try {
      return stat(f.inode);
    } finally {
      f.put();
    }
  }

  /** The names in directory {@code path}, sorted ({@code getdents}). */
  public List<String> readdir(String path) {
    synchronized (ns) {
      Nd nd = walk(path);
      if (!nd.dir.isDir()) {
        throw new KernelException(Errno.ENOTDIR, path + " is not a directory");
      }
      return nd.dir.names();
    }
  }

  private static Stat stat(Inode i) {
    AddressSpace m = i.mapping();
    long blocks = m == null ? 0 : m.nrPages() * (PAGE_SIZE / 512);
    return new Stat(
        i.ino(), i.mode(), i.nlink(), i.size(), blocks, i.atime(), i.mtime(), i.ctime());
  }

  // ---------------------------------------------------------------- file I/O

  /**
   * {@code read(fd, buf, count)} at the file position, which advances.
   *
   * @return bytes read, 0 at end of file
   * @throws KernelException {@code EBADF} (not open for reading), {@code EISDIR}, {@code EINVAL},
   *     {@code EFAULT} if nothing could be copied
   */
  public long read(Task task, int fd, long buf, long count) {
    OpenFile f = fileFor(task, fd, true);
    try {
      synchronized (f) {
        long n = readAt(task, f, buf, count, f.pos);
        f.pos += n;
        return n;
      }
    } finally {
      f.put();
    }
  }

  /** {@code pread(fd, buf, count, offset)}: the position does not move. */
  public long pread(Task task, int fd, long buf, long count, long offset) {
    OpenFile f = fileFor(task, fd, true);
    try {
      if (offset < 0) {
        throw new KernelException(Errno.EINVAL, "negative offset " + offset);
      }
      return readAt(task, f, buf, count, offset);
    } finally {
      f.put();
    }
  }

  /**
   * {@code write(fd, buf, count)} at the file position ({@code O_APPEND}: at the end), which
   * advances.
   *
   * @throws KernelException {@code EBADF} (not open for writing), {@code EFBIG} at or past {@code
   *     s_maxbytes}, {@code EINVAL}, {@code ENOMEM}, {@code EFAULT} if nothing could be copied
   */
  public long write(Task task, int fd, long buf, long count) {
    OpenFile f = fileFor(task, fd, false);
    try {
      long n;
      synchronized (f) {
        long[] at = {f.pos};
        n = writeAt(task, f, buf, count, at);
        f.pos = at[0] + n;
        sys.writeSync(f, at[0], n);
      }
      writeback.dirtied(f.inode); // balance_dirty_pages_ratelimited(), holding no lock
      return n;
    } finally {
      f.put();
    }
  }

  /** {@code pwrite(fd, buf, count, offset)}; with {@code O_APPEND} Linux appends all the same. */
  public long pwrite(Task task, int fd, long buf, long count, long offset) {
    OpenFile f = fileFor(task, fd, false);
    try {
      if (offset < 0) {
        throw new KernelException(Errno.EINVAL, "negative offset " + offset);
      }
      long[] at = {offset};
      long n = writeAt(task, f, buf, count, at);
      sys.writeSync(f, at[0], n);
      writeback.dirtied(f.inode);
      return n;
    } finally {
      f.put();
    }
  }

  /**
   * {@code lseek(fd, offset, whence)} ({@code generic_file_llseek()}).
   *
   * @throws KernelException {@code EBADF}, {@code EINVAL} for a bad whence or a resulting offset
   *     below 0 or past {@code s_maxbytes}
   */
  public long lseek(Task task, int fd, long offset, int whence) {
    OpenFile f = files(task).get(fd);
    try {
      synchronized (f) {
        long base =
            switch (whence) {
              case Fcntl.SEEK_SET -> 0;
              case Fcntl.SEEK_CUR -> f.pos;
              case Fcntl.SEEK_END -> f.inode.size();
              default -> throw new KernelException(Errno.EINVAL, "whence " + whence);
            };
        long to = base + offset;
        if (to < 0 || to > f.inode.sb().maxBytes() || ((base ^ to) & (offset ^ to)) < 0) {
          throw new KernelException(Errno.EINVAL, "offset " + offset + " from " + base);
        }
        f.pos = to;
        return to;
      }
    } finally {
      f.put();
    }
  }

  /**
   * {@code ftruncate(fd, length)}.
   *
   * @throws KernelException {@code EBADF}, {@code EINVAL} (negative length, not a regular file or
   *     not open for writing), {@code EFBIG} past {@code s_maxbytes}
   */
  public void ftruncate(Task task, int fd, long length) {
    OpenFile f = files(task).get(fd);
    try {
      if (length < 0) {
        throw new KernelException(Errno.EINVAL, "negative length " + length);
      }
      if (!f.inode.isReg() || !f.writable()) {
        throw new KernelException(Errno.EINVAL, "fd " + fd + " is not a file open for writing");
      }
      truncate(task, f.inode, length);
    } finally {
      f.put();
    }
  }

  /**
   * {@code fsync(fd)}: the filesystem's {@code ->fsync} ({@code vfs_fsync_range()}), then a
   * writeback error reported once per open file description ({@code
   * file_check_and_advance_wb_err()}): one this call met or one recorded since the file last looked
   * (by the flusher, or another file's fsync). tmpfs writes nothing ({@code noop_fsync()}).
   *
   * @throws KernelException {@code EBADF}, or the writeback error ({@code EIO}, {@code ENOSPC})
   */
  public void fsync(Task task, int fd) {
    fsync(task, fd, false);
  }

  /** {@code fdatasync(fd)}: as {@link #fsync}, metadata only if needed to read the data. */
  public void fdatasync(Task task, int fd) {
    fsync(task, fd, true);
  }

  private void fsync(Task task, int fd, boolean datasync) {
    OpenFile f = files(task).get(fd);
    try {
      KernelException fsErr = null;
      try {
        if (f.inode.isReg()) { // directories: noop_fsync()
          f.inode.sb().type().fileOperations().fsync(f.inode, 0, Long.MAX_VALUE, datasync);
        }
      } catch (KernelException e) {
        fsErr = e;
      }
      int err = writeback.checkAndAdvanceFile(f);
      if (err < 0) {
        throw new KernelException(Errno.of(-err), "writeback of " + f.inode + " failed");
      }
      if (fsErr != null) {
        throw fsErr;
      }
    } finally {
      f.put();
    }
  }

  /**
   * {@code syncfs(fd)}: writes back the filesystem of {@code fd} ({@code sync_filesystem()}) and
   * reports a writeback error on it since this file last looked, once ({@code s_wb_err}).
   *
   * @throws KernelException {@code EBADF}, {@code EIO} or {@code ENOSPC}
   */
  public void syncfs(Task task, int fd) {
    OpenFile f = files(task).get(fd);
    try {
      syncFilesystem(f.inode.sb());
      int err = writeback.checkAndAdvanceSb(f);
      if (err < 0) {
        throw new KernelException(Errno.of(-err), "writeback on " + f.inode.sb() + " failed");
      }
    } finally {
      f.put();
    }
  }

  // ---------------------------------------------------------------- mmap, fallocate, vectors, fork

  /**
   * {@code mmap(addr, len, prot, flags, fd, offset)}: {@code MAP_SHARED} stores reach the page
   * cache (through {@code ->page_mkwrite}) and so {@code read()} and writeback; {@code MAP_PRIVATE}
   * stores go to private copies. The mapping holds the file open until the last VMA of it goes (see
   * {@link #munmap}). With {@code MAP_ANONYMOUS}, {@code fd} is ignored.
   *
   * @throws KernelException {@code EBADF}, {@code EACCES} (a shared writable map of a file not open
   *     for writing, or any map of one not open for reading), {@code ENODEV} (a directory), {@code
   *     EINVAL} (unaligned offset, length 0)
   */
  public long mmap(Task task, long addr, long len, int prot, int flags, int fd, long offset) {
    return sys.mmap(task, addr, len, prot, flags, fd, offset);
  }

  /** {@code munmap(addr, len)}; a file no VMA maps any more is released ({@code fput()}). */
  public void munmap(Task task, long addr, long len) {
    task.munmap(addr, len);
    sys.reapMapped();
  }

  /**
   * {@code fallocate(fd, mode, offset, len)} ({@code vfs_fallocate()}): mode 0 allocates and
   * extends the size, {@link Falloc#FALLOC_FL_KEEP_SIZE} allocates only, {@link
   * Falloc#FALLOC_FL_PUNCH_HOLE}{@code |KEEP_SIZE} frees the range, which reads zeros after.
   *
   * @throws KernelException {@code EBADF} (not open for writing), {@code EINVAL} ({@code len <= 0}
   *     or {@code offset < 0}), {@code EOPNOTSUPP} (punch without keep size, other modes, or a
   *     filesystem without it), {@code EISDIR}, {@code EFBIG} past {@code s_maxbytes}, {@code
   *     ENOMEM}
   */
  public void fallocate(Task task, int fd, int mode, long offset, long len) {
    sys.fallocate(task, fd, mode, offset, len);
  }

  /**
   * {@code ioctl(dst, FICLONERANGE, {src, srcOff, len, dstOff})}: {@code dst}'s bytes from {@code
   * dstOff} share {@code src}'s blocks from {@code srcOff} (reflink); {@code len} 0 means to the
   * source's EOF. Offsets must be block aligned, and the length too unless it reaches the source's
   * EOF.
   *
   * @return the bytes cloned
   * @throws KernelException {@code EBADF} (a bad fd, the source not open for reading, the
   *     destination not open for writing or {@code O_APPEND}), {@code EXDEV} (two mounts), {@code
   *     EISDIR}, {@code EINVAL} (not regular files, unaligned, overlapping, past EOF), {@code
   *     EOPNOTSUPP} (a filesystem without reflink), {@code ENOSPC}
   */
  public long ficloneRange(Task task, int srcFd, long srcOff, long len, int dstFd, long dstOff) {
    return sys.cloneFileRange(task, srcFd, srcOff, len, dstFd, dstOff);
  }

  /**
   * {@code ioctl(dst, FICLONE, src)}: the whole of {@code src} shared into {@code dst} ({@link
   * #ficloneRange} from 0 with length 0).
   */
  public void ficlone(Task task, int srcFd, int dstFd) {
    sys.cloneFileRange(task, srcFd, 0, 0, dstFd, 0);
  }

  /**
   * {@code readv(fd, iov, iovcnt)}: the segments filled in order from the file position.
   *
   * @throws KernelException {@code EBADF}, {@code EISDIR}, {@code EINVAL} (more than {@code
   *     UIO_MAXIOV} = 1024 segments, or a negative length), {@code EFAULT}
   */
  public long readv(Task task, int fd, Iovec... iov) {
    return sys.readv(task, fd, iov);
  }

  /** {@code writev(fd, iov, iovcnt)}: the segments written in order as one write. */
  public long writev(Task task, int fd, Iovec... iov) {
    return sys.writev(task, fd, iov);
  }

  /**
   * {@code fork()} with {@code dup_fd()}: the child gets a copy-on-write address space and a copy
   * of the parent's descriptor table whose entries share the parent's open file descriptions
   * (offset and flags); closing one in either task leaves the other open.
   */
  public Task fork(Task parent, String childName) {
    FileTable copy = files(parent).dup();
    Task child;
    try {
      child = parent.fork(childName);
    } catch (RuntimeException e) {
      copy.removeAll().forEach(OpenFile::put);
      throw e;
    }
    synchronized (tables) {
      tables.put(child, copy);
    }
    return child;
  }

  /** {@code do_exit()}: {@code exit_files()}, then {@code exit_mm()}; mapped files are released. */
  public void exit(Task task) {
    exitFiles(task);
    task.exit();
    sys.reapMapped();
  }

  OpenFile fileFor(Task task, int fd, boolean read) {
    OpenFile f = files(task).get(fd);
    if (read ? !f.readable() : !f.writable()) {
      f.put();
      throw new KernelException(
          Errno.EBADF, "fd " + fd + " is not open for " + (read ? "reading" : "writing"));
    }
    if (f.inode.isDir()) {
      f.put();
      throw new KernelException(Errno.EISDIR, "fd " + fd + " is a directory");
    }
    return f;
  }

  /** {@code filemap_read()}: copies from the page cache, reading holes in as zeros. */
  long readAt(Task task, OpenFile f, long buf, long count, long pos) {
    if (count < 0) {
      throw new KernelException(Errno.EINVAL, "negative count " + count);
    }
    Inode inode = f.inode;
    if (direct(f)) {
      return directIo.read(task, inode, buf, count, pos);
    }
    AddressSpace mapping = inode.mapping();
    long size = inode.size();
    if (pos >= size || count == 0) {
      return 0;
    }
    long n = Math.min(count, size - pos);
    byte[] bounce = new byte[(int) Math.min(n, PAGE_SIZE)]; // one per call, not per page
    long done = 0;
    while (done < n) {
      long p = pos + done;
      int off = (int) (p & (PAGE_SIZE - 1));
      int len = (int) Math.min(PAGE_SIZE - off, n - done);
      // order-0 folios only: Filemap allocates no larger ones yet
      long pfn = filemap.readMappingFolio(mapping, p >>> PAGE_SHIFT);
      try {
        mem.ram().read(pfn, off, bounce, 0, len);
      } finally {
        mem.allocator().putPage(pfn);
      }
      try {
        task.store(buf + done, bounce, 0, len);
      } catch (KernelException e) {
        if (done == 0) {
          throw e;
        }
        break; // a short read up to the fault, as copy_folio_to_iter() gives
      }
      done += len;
    }
    inode.touchAccessed();
    return done;
  }

  /**
   * {@code generic_perform_write()}: copies into the page cache folio by folio, extending {@code
   * i_size}. {@code at[0]} is the position, moved to the end first under {@code O_APPEND}.
   */
  long writeAt(Task task, OpenFile f, long buf, long count, long[] at) {
    if (count < 0) {
      throw new KernelException(Errno.EINVAL, "negative count " + count);
    }
    Inode inode = f.inode;
    AddressSpace mapping = inode.mapping();
    synchronized (inode) { // i_rwsem
      if (f.append()) {
        at[0] = inode.size();
      }
      long pos = at[0];
      if (count == 0) {
        return 0;
      }
      long max = inode.sb().maxBytes();
      if (pos >= max) { // generic_write_check_limits()
        throw new KernelException(Errno.EFBIG, "write at " + pos + " past s_maxbytes " + max);
      }
      long n = Math.min(count, max - pos);
      long size = inode.size();
      if (pos > size) { // xfs_file_write_zero_eof(): stale blocks between EOF and pos read as zeros
        IomapBufferedIo.zeroRange(inode, size, pos - size);
      }
      boolean sync = (f.flags & Fcntl.O_SYNC) == Fcntl.O_SYNC;
      boolean dsync = (f.flags & Fcntl.O_DSYNC) != 0;
      boolean fellBack = false;
      if (direct(f)) {
        try {
          return directIo.write(task, inode, buf, n, pos, dsync, sync);
        } catch (KernelException e) {
          if (e.errno() != Errno.ENOTBLK) {
            throw e;
          }
          directIo.countFallback(); // xfs_file_write_iter(): -ENOTBLK, redo it buffered
          fellBack = true;
        }
      }
      // iomap_file_buffered_write(): the filesystem maps (allocates) first; ENOSPC fails here
      IomapBufferedIo.Write iw = IomapBufferedIo.beginWrite(inode, pos, n);
      n = iw == null ? n : iw.length();
      byte[] bounce = new byte[(int) Math.min(n, PAGE_SIZE)]; // one per call, not per page
      long done = 0;
      try {
        while (done < n) {
          long p = pos + done;
          int off = (int) (p & (PAGE_SIZE - 1));
          int len = (int) Math.min(PAGE_SIZE - off, n - done);
          try {
            task.load(buf + done, bounce, 0, len); // fault in before the folio lock
          } catch (KernelException e) {
            if (done == 0) {
              throw e;
            }
            break;
          }
          long pfn = filemap.filemapGrabFolio(mapping, p >>> PAGE_SHIFT);
          try {
            vm.pageWriteback().folioWaitStable(pfn); // FGP_WRITEBEGIN includes FGP_STABLE
            boolean prepared;
            try { // ->write_begin: block_write_begin() allocates here; ENOSPC later is short
              prepared = inode.sb().type().writeBegin(inode, pfn, p, len);
            } catch (KernelException e) {
              if (done == 0) {
                throw e;
              }
              break;
            }
            // simple_write_begin(): a new folio partly written gets zeros around the data
            if (!prepared
                && len != PAGE_SIZE
                && !mem.memmap().testFlag(pfn, PageFlags.PG_UPTODATE)) {
              if (iw != null) {
                iw.readFolio(pfn); // __iomap_write_begin(): the rest of the block from disk
              } else {
                mem.ram().zeroPage(pfn);
              }
            }
            mem.ram().write(pfn, off, bounce, 0, len);
            // simple_write_end(): uptodate, dirty, i_size
            mapping.folios().folioMarkUptodate(pfn);
            mapping.aops().dirtyFolio(mapping, pfn);
          } finally {
            mapping.folios().folioUnlock(pfn);
            mem.allocator().putPage(pfn);
          }
          done += len;
          if (p + len > inode.size()) {
            inode.setSize(p + len);
          }
        }
      } finally {
        if (iw != null) {
          iw.end(done);
        }
      }
      inode.touchModified();
      if (fellBack && dsync && done > 0) { // generic_write_sync() of the buffered fallback
        inode.sb().type().fileOperations().fsync(inode, pos, pos + done - 1, !sync);
      }
      return done;
    }
  }

  /** {@code IOCB_DIRECT} on a filesystem that does it; tmpfs serves it buffered. */
  static boolean direct(OpenFile f) {
    return (f.flags & Fcntl.O_DIRECT) != 0 && IomapDirectIo.supported(f.inode.sb());
  }

  /**
   * {@code do_truncate()} to {@code shmem_setattr()}: sets {@code i_size}; on shrinking, {@code
   * truncate_pagecache()} drops the folios past the end and zeroes the tail of the partial one.
   */
  private void truncate(Task task, Inode inode, long length) {
    if (length > inode.sb().maxBytes()) { // inode_newsize_ok()
      throw new KernelException(Errno.EFBIG, "size " + length + " past s_maxbytes");
    }
    if (inode.sb().readOnly()) { // the fs's journal start in ->setattr (ext4_setattr()) says so
      throw new KernelException(Errno.EROFS, "truncate: " + inode.sb().source() + " is read-only");
    }
    AddressSpace mapping = inode.mapping();
    synchronized (inode) {
      long old = inode.size();
      if (length < old) { // ext4_break_layouts(): EINTR on a fatal signal, the file unchanged
        vm.truncate().breakLayouts(task, mapping, length >>> PAGE_SHIFT, AddressSpace.MAX_INDEX);
      }
      // iomap_truncate_page(): the block around the old or new end is zeroed past it, on disk too
      IomapBufferedIo.truncatePage(inode, Math.min(old, length));
      if (length > old) { // xfs_setattr_size(): growing zeroes what the blocks held past old EOF
        IomapBufferedIo.zeroRange(inode, old, length - old);
      }
      inode.setSize(length);
      if (length < old) {
        vm.truncate().truncateInodePages(mapping, (length + PAGE_SIZE - 1) >>> PAGE_SHIFT);
        int off = (int) (length & (PAGE_SIZE - 1));
        if (off != 0) {
          zeroTail(mapping, length >>> PAGE_SHIFT, off);
        }
      }
      inode.sb().type().setattrSize(inode, old, length); // ext4_setattr(): ext4_truncate()
      inode.touchModified();
    }
  }

  /** {@code truncate_inode_partial_folio()}: bytes past the new end read as zeros. */
  private void zeroTail(AddressSpace mapping, long index, int off) {
    long pfn = filemap.filemapGetFolio(mapping, index);
    if (pfn == PageAllocator.NO_PFN) {
      return;
    }
    mapping.folios().folioLock(pfn);
    try {
      if (mem.memmap().mapping(pfn) == mapping.id()) { // not truncated meanwhile
        mem.ram().write(pfn, off, ZEROES, 0, PAGE_SIZE - off);
      }
    } finally {
      mapping.folios().folioUnlock(pfn);
      mem.allocator().putPage(pfn);
    }
  }
}
