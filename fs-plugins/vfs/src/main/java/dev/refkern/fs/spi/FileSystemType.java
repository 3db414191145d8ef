package dev.refkern.fs.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.BlockDevice;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.List;
import org.apiguardian.api.API;

/**
 * A filesystem implementation, {@code struct file_system_type} ({@code include/linux/fs.h}): found
 * with {@link java.util.ServiceLoader} or registered explicitly ({@code register_filesystem()}).
 *
 * <p>The kernel's {@code ->mount} reaches memory through globals; here the booted {@link
 * VirtualMemory} is passed in.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface FileSystemType {
  /** The name {@code mount -t} uses ({@code fs_type->name}), unique in a registry. */
  String name();

  /**
   * {@code ->mount} ({@code fill_super}): reads {@code source} and returns its superblock with a
   * root directory. Each filesystem parses its own {@code options} (comma separated).
   *
   * @throws dev.refkern.mm.KernelException {@code EINVAL} for an unknown or malformed option
   */
  SuperBlock mount(VirtualMemory vm, String source, String options);

  /**
   * {@code fs_flags & FS_REQUIRES_DEV}: the VFS resolves the mount source to a block device ({@code
   * get_tree_bdev()}) and calls {@link #mount(VirtualMemory, BlockDevice, String, String)}.
   */
  default boolean requiresDev() {
    return false;
  }

  /**
   * {@code get_tree_bdev()}'s {@code fill_super} for a type that {@link #requiresDev()}: reads the
   * superblock from {@code bdev}, which the VFS found as {@code source}.
   *
   * @throws KernelException {@code EINVAL} for a bad option or no valid filesystem on {@code bdev}
   */
  default SuperBlock mount(VirtualMemory vm, BlockDevice bdev, String source, String options) {
    throw new KernelException(Errno.ENOTBLK, name() + " does not mount block devices");
  }

  /**
   * {@code dir->i_op->mkdir != NULL}: whether directories can be made; without it {@code
   * vfs_mkdir()} fails with {@code EPERM}.
   */
  default boolean hasMkdir() {
    return true;
  }

  /**
   * {@code super_operations->sync_fs}: after the VFS wrote every inode's pages back ({@code
   * sync_filesystem()}), writes the filesystem's metadata and flushes its device. Default: nothing.
   */
  default void syncFs(SuperBlock sb) {}

  /**
   * {@code ->kill_sb}: tears the superblock down once unmounted; every inode's page cache goes
   * ({@code truncate_inode_pages_final()}).
   */
  void killSb(SuperBlock sb);

  /**
   * The {@code writeback.pinned} policy name ({@code ignore}, {@code wait}, {@code bounce}, {@code
   * skip}) this filesystem's mounts use unless the {@code pinned_writeback=} mount option says
   * otherwise; null (the default) follows the booted {@code writeback.pinned=}. The VFS parses
   * {@code pinned_writeback=} and {@code pinned_truncate=} itself: {@link #mount} never sees them.
   */
  default String defaultPinnedWriteback() {
    return null;
  }

  /**
   * {@code ->write_begin} of a filesystem that maps blocks per write ({@code block_write_begin()}):
   * {@code generic_perform_write()} calls it with the folio {@code pfn} grabbed and locked, before
   * copying bytes {@code [pos, pos + len)} into it; it allocates their blocks and reads the rest of
   * partly written ones. Default false: the VFS zeroes a new folio ({@code simple_write_begin()}).
   *
   * @return true if the filesystem prepared the folio
   * @throws KernelException {@code ENOSPC}, {@code EFBIG}, {@code EIO}: at the first folio the
   *     write fails, at a later one it is short
   */
  default boolean writeBegin(Inode inode, long pfn, long pos, int len) {
    return false;
  }

  /**
   * {@code ->setattr} with {@code ATTR_SIZE} after {@code truncate_pagecache()}: {@code i_size}
   * went from {@code oldSize} to {@code newSize} and the folios past it are gone; the filesystem
   * frees the blocks past it ({@code ext4_truncate()}). Called with the inode's monitor held.
   * Default: nothing on disk to free.
   */
  default void setattrSize(Inode inode, long oldSize, long newSize) {}

  /**
   * {@code super_operations->evict_inode}, after the page cache is emptied: an inode with no link
   * left gives its blocks and on-disk inode back ({@code ext4_evict_inode()}). Default: nothing.
   */
  default void evictInode(Inode inode) {}

  /** A consistency check of {@code source} (fsck): the problems found, empty when clean. */
  List<String> check(String source);

  /** {@code inode->i_fop} of its regular files; default {@link FileOperations#GENERIC}. */
  default FileOperations fileOperations() {
    return FileOperations.GENERIC;
  }
}
