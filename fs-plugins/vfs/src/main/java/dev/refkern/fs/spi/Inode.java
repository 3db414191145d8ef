package dev.refkern.fs.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import java.util.List;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * A file or directory, {@code struct inode} ({@code include/linux/fs.h}): number, mode, link count,
 * size, times and, for a regular file, its page cache ({@code i_mapping}); a directory holds its
 * entries (the dentries of its children, as {@code libfs}'s in-memory directories do).
 *
 * <p>An inode lives while it has a link or an open file; the last of them going evicts it ({@code
 * iput()} then {@code evict()}), which empties its page cache. Callers serialize namespace changes
 * (the VFS's rename lock); size changes happen under the inode's monitor ({@code i_rwsem}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Inode {
  /** {@code S_IFMT}: the file type bits of {@link #mode()}. */
  public static final int S_IFMT = 0170000;

  /** {@code S_IFDIR}: a directory. */
  public static final int S_IFDIR = 0040000;

  /** {@code S_IFREG}: a regular file. */
  public static final int S_IFREG = 0100000;

  private final SuperBlock sb;
  private final long ino;
  private final int mode;
  private final AddressSpace mapping;
  private final TreeMap<String, Inode> entries;
  private Inode parent;
  private int nlink;
  private int openCount;
  private long size;
  private long atime;
  private long mtime;
  private long ctime;
  private boolean evicted;

  Inode(SuperBlock sb, long ino, int mode) {
    int type = mode & S_IFMT;
    if (type != S_IFDIR && type != S_IFREG) {
      throw new IllegalArgumentException("mode " + Integer.toOctalString(mode));
    }
    this.sb = sb;
    this.ino = ino;
    this.mode = mode;
    boolean dir = type == S_IFDIR;
    this.entries = dir ? new TreeMap<>() : null;
    this.mapping =
        dir ? null : AddressSpace.create(sb.vm().physicalMemory(), sb.aops(), sb.wbErr());
    if (mapping != null && sb.stableWrites()) {
      mapping.setStableWrites(true); // inode_init_always(): SB_I_STABLE_WRITES
    }
    long now = now();
    this.atime = now;
    this.mtime = now;
    this.ctime = now;
  }

  private static long now() {
    return System.currentTimeMillis() * 1_000_000L;
  }

  public SuperBlock sb() {
    return sb;
  }

  /** {@code i_ino}. */
  public long ino() {
    return ino;
  }

  /** {@code i_mode}: type and permission bits. */
  public int mode() {
    return mode;
  }

  public boolean isDir() {
    return (mode & S_IFMT) == S_IFDIR;
  }

  public boolean isReg() {
    return (mode & S_IFMT) == S_IFREG;
  }

  /** {@code i_mapping}: the page cache of a regular file, null for a directory. */
  public AddressSpace mapping() {
    return mapping;
  }

  /** {@code i_nlink}. */
  public synchronized int nlink() {
    return nlink;
  }

  /** {@code i_size}. */
  public synchronized long size() {
    return size;
  }

  /** {@code i_size_write()}; the mapping's size follows. */
  public synchronized void setSize(long bytes) {
    size = bytes;
    if (mapping != null) {
      mapping.setSize(bytes);
    }
  }

  public synchronized long atime() {
    return atime;
  }

  public synchronized long mtime() {
    return mtime;
  }

  public synchronized long ctime() {
    return ctime;
  }

  /** {@code file_update_time()}: a write or truncate changed the data. */
  public synchronized void touchModified() {
    mtime = now();
    ctime = mtime;
  }

  /**
   * Sets the times a filesystem read from disk ({@code ext4_iget()} filling {@code i_atime}, {@code
   * i_mtime}, {@code i_ctime}), in nanoseconds.
   */
  public synchronized void setTimes(long atimeNs, long mtimeNs, long ctimeNs) {
    atime = atimeNs;
    mtime = mtimeNs;
    ctime = ctimeNs;
  }

  /** {@code touch_atime()}. */
  public synchronized void touchAccessed() {
    atime = now();
  }

  /** True once evicted: its page cache is gone. */
  public synchronized boolean evicted() {
    return evicted;
  }

  // ---------------------------------------------------------------- directory entries

  /** {@code ->lookup} of a directory: the child named {@code name}, or null. */
  public synchronized Inode lookup(String name) {
    return entries.get(name);
  }

  /** The names in a directory, sorted ({@code ->iterate_shared}). */
  public synchronized List<String> names() {
    return List.copyOf(entries.keySet());
  }

  public synchronized boolean isEmptyDir() {
    return entries.isEmpty();
  }

  /** The directory containing this one ({@code d_parent}); the root is its own parent. */
  public synchronized Inode parent() {
    return parent == null ? this : parent;
  }

  /**
   * {@code d_instantiate()} plus {@code inc_nlink()}: enters {@code child} as {@code name}. A
   * directory child gets this one as parent and 2 links (itself and ".."); this one gets a link for
   * the child's "..".
   */
  public void addEntry(String name, Inode child) {
    synchronized (this) {
      entries.put(name, child);
      if (child.isDir()) {
        nlink++; // the child's ".."
      }
      touchDir();
    }
    synchronized (child) {
      if (child.isDir()) {
        child.parent = this;
        child.nlink += 2;
      } else {
        child.nlink++;
      }
      child.ctime = now();
    }
  }

  /**
   * {@code simple_unlink()}/{@code simple_rmdir()}: removes the entry {@code name}, drops the
   * child's link(s) and evicts it if nothing holds it any more.
   */
  public void removeEntry(String name) {
    Inode child;
    synchronized (this) {
      child = entries.remove(name);
      if (child == null) {
        return;
      }
      if (child.isDir()) {
        nlink--;
      }
      touchDir();
    }
    child.dropLinks(child.isDir() ? 2 : 1);
  }

  /**
   * Moves the entry {@code name} to {@code newDir} as {@code newName} without touching link counts
   * of the moved inode ({@code simple_rename()}'s move); the caller removed any target first.
   */
  public void moveEntry(String name, Inode newDir, String newName) {
    Inode child;
    synchronized (this) {
      child = entries.remove(name);
      if (child.isDir()) {
        nlink--;
      }
      touchDir();
    }
    synchronized (newDir) {
      newDir.entries.put(newName, child);
      if (child.isDir()) {
        newDir.nlink++;
      }
      newDir.touchDir();
    }
    synchronized (child) {
      if (child.isDir()) {
        child.parent = newDir;
      }
      child.ctime = now();
    }
  }

  private void touchDir() {
    mtime = now();
    ctime = mtime;
  }

  private void dropLinks(int n) {
    synchronized (this) {
      nlink -= n;
      ctime = now();
    }
    iputIfUnused();
  }

  // ---------------------------------------------------------------- open files

  /** An open file now refers to this inode ({@code ihold()} from {@code do_dentry_open()}). */
  public synchronized void iget() {
    if (evicted) {
      throw new IllegalStateException("inode " + ino + " was evicted");
    }
    openCount++;
  }

  /** {@code iput()} from the last {@code fput()} of an open file. */
  public void iput() {
    synchronized (this) {
      openCount--;
    }
    iputIfUnused();
  }

  /** Open files on this inode. */
  public synchronized int openCount() {
    return openCount;
  }

  private void iputIfUnused() {
    synchronized (this) {
      if (nlink > 0 || openCount > 0) {
        return;
      }
    }
    evict();
  }

  /**
   * {@code evict()}: empties the page cache ({@code truncate_inode_pages_final()}) and forgets the
   * inode, once. Also what {@code ->kill_sb} does to every inode still there.
   */
  public void evict() {
    synchronized (this) {
      if (evicted) {
        return;
      }
      evicted = true;
    }
    if (mapping != null) {
      sb.vm().truncate().truncateInodePagesFinal(mapping);
    }
    sb.type().evictInode(this);
    sb.forget(this);
  }

  @Override
  public String toString() {
    return "inode " + ino + " (" + Integer.toOctalString(mode) + ") of " + sb;
  }
}
