package dev.refkern.fs.internal;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.List;
import org.apiguardian.api.API;

/**
 * The {@code tmpfs} filesystem type ({@code mm/shmem.c}, {@code shmem_fs_type}): files live only in
 * the page cache, with no writeback.
 *
 * <p>Options ({@code shmem_parse_one()}): {@code mode=} (octal, of the root directory) and {@code
 * nr_inodes=} (with a k/m/g suffix); anything else is {@code EINVAL}. {@code size=} and the rest
 * are not modelled yet and refused rather than ignored.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Tmpfs implements FileSystemType {
  private static final TmpfsAops AOPS = new TmpfsAops();
  private static final ShmemFileOps FOPS = new ShmemFileOps();

  @Override
  public String name() {
    return "tmpfs";
  }

  @Override
  public SuperBlock mount(VirtualMemory vm, String source, String options) {
    int rootMode = 01777;
    long nrInodes = Long.MAX_VALUE;
    if (options != null && !options.isEmpty()) {
      for (String opt : options.split(",")) {
        int eq = opt.indexOf('=');
        String key = eq < 0 ? opt : opt.substring(0, eq);
        String val = eq < 0 ? null : opt.substring(eq + 1);
        switch (key) {
          case "mode" -> rootMode = (int) parse(key, val, 8) & 07777;
          case "nr_inodes" -> nrInodes = memparse(key, val);
          default ->
              throw new KernelException(Errno.EINVAL, "tmpfs: unknown parameter '" + key + "'");
        }
      }
    }
    SuperBlock sb = new SuperBlock(this, vm, AOPS, source, SuperBlock.MAX_LFS_FILESIZE, nrInodes);
    sb.setRoot(sb.newInode(Inode.S_IFDIR | rootMode));
    return sb;
  }

  private static long parse(String key, String val, int radix) {
    if (val == null || val.isEmpty()) {
      throw new KernelException(Errno.EINVAL, "tmpfs: " + key + " needs a value");
    }
    try {
      long v = Long.parseLong(val, radix);
      if (v < 0) {
        throw new NumberFormatException();
      }
      return v;
    } catch (NumberFormatException e) {
      throw new KernelException(Errno.EINVAL, "tmpfs: bad value '" + val + "' for " + key);
    }
  }

  /** {@code memparse()}: a number with an optional k/m/g suffix. */
  private static long memparse(String key, String val) {
    if (val == null || val.isEmpty()) {
      return parse(key, val, 10);
    }
    int shift =
        switch (Character.toLowerCase(val.charAt(val.length() - 1))) {
          case 'k' -> 10;
          case 'm' -> 20;
          case 'g' -> 30;
          default -> 0;
        };
    long v = parse(key, shift == 0 ? val : val.substring(0, val.length() - 1), 10);
    return v << shift;
  }

  @Override
  public void killSb(SuperBlock sb) {
    // kill_litter_super(): every inode, linked or not, goes with its page cache
    for (Inode i : sb.inodes()) {
      i.evict();
    }
  }

  @Override
  public dev.refkern.fs.spi.FileOperations fileOperations() {
    return FOPS;
  }

  @Override
  public List<String> check(String source) {
    return List.of(); // nothing persists: always consistent
  }
}
