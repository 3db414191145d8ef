package dev.refkern.fs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.fs.internal.Tmpfs;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.util.List;
import java.util.ServiceLoader;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The registered filesystem types, the kernel's {@code file_systems} list ({@code
 * fs/filesystems.c}): {@code register_filesystem()} and {@code get_fs_type()}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class FileSystems {
  private final TreeMap<String, FileSystemType> types = new TreeMap<>();

  /** An empty registry. */
  public FileSystems() {}

  /**
   * The built-in {@code tmpfs} plus every {@link FileSystemType} that {@link ServiceLoader} finds
   * (a plugin of the same name as one already registered is skipped).
   */
  public static FileSystems standard() {
    FileSystems f = new FileSystems();
    f.register(new Tmpfs());
    for (FileSystemType t : ServiceLoader.load(FileSystemType.class)) {
      if (f.find(t.name()) == null) {
        f.register(t);
      }
    }
    return f;
  }

  /**
   * {@code register_filesystem()}.
   *
   * @throws KernelException {@code EBUSY} if a type of that name is registered already
   */
  public synchronized void register(FileSystemType type) {
    if (types.putIfAbsent(type.name(), type) != null) {
      throw new KernelException(Errno.EBUSY, "filesystem " + type.name() + " already registered");
    }
  }

  /**
   * {@code get_fs_type()}.
   *
   * @throws KernelException {@code EINVAL} naming the known types if {@code name} is unknown (the
   *     kernel's {@code mount(2)} says {@code ENODEV})
   */
  public synchronized FileSystemType get(String name) {
    FileSystemType t = types.get(name);
    if (t == null) {
      throw new KernelException(
          Errno.EINVAL, "unknown filesystem type '" + name + "'; known: " + types.keySet());
    }
    return t;
  }

  private synchronized FileSystemType find(String name) {
    return types.get(name);
  }

  /** The names of the registered types, sorted ({@code /proc/filesystems}). */
  public synchronized List<String> names() {
    return List.copyOf(types.keySet());
  }
}
