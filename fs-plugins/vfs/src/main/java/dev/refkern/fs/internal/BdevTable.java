package dev.refkern.fs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.block.BlockDevice;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.apiguardian.api.API;

/**
 * The block device nodes mount sources name, what {@code lookup_bdev()} ({@code block/bdev.c})
 * resolves a path to: here a table apart from the namespace, as devtmpfs would hold them.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class BdevTable {
  private final Map<String, BlockDevice> devices = new HashMap<>();

  /** Adds the node {@code path} for {@code dev}. @throws KernelException {@code EEXIST} */
  public synchronized void register(String path, BlockDevice dev) {
    if (path == null || dev == null) {
      throw new KernelException(Errno.EINVAL, "a block device needs a path and a device");
    }
    BlockDevice old = devices.putIfAbsent(path, dev);
    if (old != null && old != dev) {
      throw new KernelException(Errno.EEXIST, path + " is " + old.name() + " already");
    }
  }

  /**
   * {@code lookup_bdev()}: the device at {@code source}.
   *
   * @param inNamespace whether {@code source} names something in the namespace
   * @throws KernelException {@code EINVAL} for no source ({@code "No source specified"}), {@code
   *     ENOTBLK} if it names something that is no block device, {@code ENOENT} if nothing
   */
  public synchronized BlockDevice lookupBdev(String source, Predicate<String> inNamespace) {
    if (source == null || source.isEmpty()) {
      throw new KernelException(Errno.EINVAL, "No source specified");
    }
    BlockDevice d = devices.get(source);
    if (d != null) {
      return d;
    }
    if (inNamespace.test(source)) {
      throw new KernelException(Errno.ENOTBLK, source + " is not a block device");
    }
    throw new KernelException(Errno.ENOENT, "no block device " + source);
  }
}
