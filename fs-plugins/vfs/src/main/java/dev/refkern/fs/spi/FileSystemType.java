package dev.refkern.fs.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

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
   * {@code ->kill_sb}: tears the superblock down once unmounted; every inode's page cache goes
   * ({@code truncate_inode_pages_final()}).
   */
  void killSb(SuperBlock sb);

  /** A consistency check of {@code source} (fsck): the problems found, empty when clean. */
  List<String> check(String source);

  /** {@code inode->i_fop} of its regular files; default {@link FileOperations#GENERIC}. */
  default FileOperations fileOperations() {
    return FileOperations.GENERIC;
  }
}
