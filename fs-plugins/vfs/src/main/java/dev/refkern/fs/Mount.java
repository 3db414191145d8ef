package dev.refkern.fs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import org.apiguardian.api.API;

/**
 * A mounted filesystem in the namespace, {@code struct vfsmount} ({@code fs/mount.h}'s {@code
 * struct mount}): its superblock, where it is mounted and the option string it was mounted with.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Mount {
  private final SuperBlock sb;
  private final String path;
  private final String options;
  private final Inode mountpoint;
  private final boolean readOnly;

  Mount(SuperBlock sb, String path, String options, Inode mountpoint) {
    this.sb = sb;
    this.path = path;
    this.options = options;
    this.mountpoint = mountpoint;
    this.readOnly = MountOptions.readOnly(options);
  }

  public SuperBlock sb() {
    return sb;
  }

  /** Where it is mounted, as given to {@code mount}. */
  public String path() {
    return path;
  }

  /** The option string the filesystem parsed. */
  public String options() {
    return options;
  }

  /** {@code MNT_READONLY}: mounted with {@code ro}; changes through it fail with {@code EROFS}. */
  public boolean readOnly() {
    return readOnly;
  }

  /** The directory it covers ({@code mnt_mountpoint}); null for the root mount. */
  Inode mountpoint() {
    return mountpoint;
  }

  @Override
  public String toString() {
    return sb.source() + " on " + path + " type " + sb.type().name() + " (" + options + ")";
  }
}
