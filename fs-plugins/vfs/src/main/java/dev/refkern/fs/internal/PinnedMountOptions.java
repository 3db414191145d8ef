package dev.refkern.fs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.vm.PinnedTruncateDecision;
import dev.refkern.mm.vm.PinnedWritebackDecision;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.StringJoiner;
import org.apiguardian.api.API;

/**
 * The mount options every filesystem takes for pinned page-cache folios, {@code
 * pinned_writeback=ignore|wait|bounce|skip} and {@code pinned_truncate=orphan|revoke|wait}: parsed
 * by the VFS (as {@code vfs_parse_fs_param()} takes the generic {@code sb_flags} options) before
 * the filesystem's {@code ->mount} sees the rest. The values are the {@code writeback.pinned=} and
 * {@code truncate.pinned=} policy names of the registry; without {@code pinned_writeback=} the
 * type's {@link FileSystemType#defaultPinnedWriteback()} applies, and without that the booted
 * policy.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class PinnedMountOptions {
  /** The option choosing the {@code writeback.pinned} policy of the mount. */
  public static final String WRITEBACK = "pinned_writeback";

  /** The option choosing the {@code truncate.pinned} policy of the mount. */
  public static final String TRUNCATE = "pinned_truncate";

  private PinnedMountOptions() {}

  /**
   * {@code type->mount(vm, [bdev,] source, rest)} where {@code rest} is {@code options} without the
   * pinned options, then gives the superblock (and so each of its files' mappings) the chosen
   * decisions. The policies are created before the filesystem is asked, so a bad value mounts
   * nothing.
   *
   * @throws KernelException {@code EINVAL} for an unknown or empty value, or an option given twice
   */
  public static SuperBlock mount(
      FileSystemType type,
      VirtualMemory vm,
      dev.refkern.block.BlockDevice bdev,
      String source,
      String options) {
    String writeback = null;
    String truncate = null;
    StringJoiner rest = new StringJoiner(",");
    if (options != null && !options.isEmpty()) {
      for (String opt : options.split(",")) {
        int eq = opt.indexOf('=');
        String key = eq < 0 ? opt : opt.substring(0, eq);
        if (key.equals(WRITEBACK)) {
          writeback = value(writeback, opt, eq);
        } else if (key.equals(TRUNCATE)) {
          truncate = value(truncate, opt, eq);
        } else {
          rest.add(opt);
        }
      }
    }
    if (writeback == null) {
      writeback = type.defaultPinnedWriteback();
    }
    PinnedWritebackDecision wb = null;
    PinnedTruncateDecision tr = null;
    try {
      wb = writeback == null ? null : vm.newPinnedWriteback(writeback);
      tr = truncate == null ? null : vm.newPinnedTruncate(truncate);
    } catch (KernelException e) {
      throw new KernelException(Errno.EINVAL, type.name() + ": " + e.getMessage());
    }
    SuperBlock sb =
        bdev != null
            ? type.mount(vm, bdev, source, rest.toString())
            : type.mount(vm, source, rest.toString());
    sb.setPinnedPolicies(wb, tr);
    return sb;
  }

  private static String value(String before, String opt, int eq) {
    String v = eq < 0 ? "" : opt.substring(eq + 1);
    if (v.isEmpty() || before != null) {
      throw new KernelException(Errno.EINVAL, "'" + opt + "': needs one value, given once");
    }
    return v;
  }
}
