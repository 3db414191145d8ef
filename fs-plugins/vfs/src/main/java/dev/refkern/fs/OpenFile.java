package dev.refkern.fs;

import dev.refkern.fs.spi.Inode;

/**
 * An open file description, {@code struct file}: inode, mount, flags and position. Shared by every
 * descriptor that refers to it; the last close drops the inode ({@code __fput()}).
 */
final class OpenFile {
  final Inode inode;
  final Mount mnt;
  final int flags;
  long pos; // f_pos, under the file's monitor (f_pos_lock)
  final int[] wbErr = new int[1]; // f_wb_err, sampled at open; its monitor is f_lock
  final int[] sbErr = new int[1]; // f_sb_err, for syncfs
  private int refs = 1;

  OpenFile(Inode inode, Mount mnt, int flags) {
    this.inode = inode;
    this.mnt = mnt;
    this.flags = flags;
    if (inode.mapping() != null) {
      wbErr[0] = inode.mapping().wbErr().sample();
    }
    sbErr[0] = inode.sb().wbErr().sample();
  }

  boolean readable() {
    int acc = flags & Fcntl.O_ACCMODE;
    return acc == Fcntl.O_RDONLY || acc == Fcntl.O_RDWR;
  }

  boolean writable() {
    int acc = flags & Fcntl.O_ACCMODE;
    return acc == Fcntl.O_WRONLY || acc == Fcntl.O_RDWR;
  }

  boolean append() {
    return (flags & Fcntl.O_APPEND) != 0;
  }

  synchronized void get() {
    refs++;
  }

  /** {@code fput()}: the last reference releases the inode. */
  void put() {
    synchronized (this) {
      if (--refs > 0) {
        return;
      }
    }
    inode.iput();
  }
}
