package dev.refkern.fs;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.util.StringJoiner;

/**
 * The generic mount options the VFS takes for itself before the filesystem sees the rest ({@code
 * vfs_parse_sb_flag()}, {@code MS_RDONLY}): {@code ro} and {@code rw}, the last one winning.
 */
final class MountOptions {
  private MountOptions() {}

  /** True if {@code options} make the mount read-only. */
  static boolean readOnly(String options) {
    boolean ro = false;
    if (options != null) {
      for (String o : options.split(",")) {
        if (o.equals("ro")) {
          ro = true;
        } else if (o.equals("rw")) {
          ro = false;
        }
      }
    }
    return ro;
  }

  /** {@code options} without {@code ro} and {@code rw}, for the filesystem's own parser. */
  static String fsOptions(String options) {
    if (options == null || options.isEmpty()) {
      return options;
    }
    StringJoiner j = new StringJoiner(",");
    for (String o : options.split(",")) {
      if (!o.equals("ro") && !o.equals("rw")) {
        j.add(o);
      }
    }
    return j.toString();
  }

  /**
   * {@code mnt_want_write()}: a change through a read-only mount, or of a superblock that went
   * read-only ({@code __mnt_is_readonly()}: {@code MNT_READONLY || sb_rdonly()}), is {@code EROFS}.
   */
  static void mntWantWrite(Mount m, String what) {
    if (m.readOnly()) {
      throw new KernelException(Errno.EROFS, what + ": read-only mount " + m.path());
    }
    if (m.sb().readOnly()) {
      throw new KernelException(Errno.EROFS, what + ": " + m.sb().source() + " is read-only");
    }
  }
}
