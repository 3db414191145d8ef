package dev.refkern.examples.cli;

import dev.refkern.block.Bio;
import dev.refkern.block.BioOp;
import dev.refkern.block.BlockDevice;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.examples.FinalCheck;
import dev.refkern.fs.Fcntl;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Stat;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.ext4.Ext4;
import dev.refkern.fs.flat.FlatFs;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.xfs.Xfs;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code refkern fs}: filesystem images, as {@code mkfs}, {@code ls}, {@code fsck}, {@code cat}.
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "fs",
    description = "Filesystem images: list the types, make, list, check and read an image.",
    subcommands = {
      FsCommand.Types.class,
      FsCommand.Mkfs.class,
      FsCommand.Ls.class,
      FsCommand.Check.class,
      FsCommand.Cat.class
    })
final class FsCommand implements Runnable {
  /** The machine each command that mounts boots: small, the image is read through it. */
  static final String CMDLINE = "mem=64M zone_device=0";

  /** Exit status of a check that found problems it left alone, as e2fsck's 4. */
  static final int ERRORS_LEFT = 4;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** {@code refkern fs types}: the registered types, as {@code /proc/filesystems}. */
  @Command(
      mixinStandardHelpOptions = true,
      version = Main.VERSION,
      name = "types",
      description = "List the registered filesystem types (built in and found by ServiceLoader).")
  static final class Types implements Callable<Integer> {
    @Override
    public Integer call() {
      FileSystems fs = FileSystems.standard();
      for (String name : fs.names()) {
        System.out.println((fs.get(name).requiresDev() ? "" : "nodev") + "\t" + name);
      }
      return 0;
    }
  }

  /** {@code refkern fs mkfs -t flatfs|ext4|xfs IMAGE SIZE}, also {@code refkern mkfs}. */
  @Command(
      mixinStandardHelpOptions = true,
      version = Main.VERSION,
      name = "mkfs",
      description = "Create the image file IMAGE of SIZE bytes and make a filesystem on it.")
  static final class Mkfs implements Callable<Integer> {
    @Option(names = "-t", required = true, paramLabel = "TYPE", description = "Filesystem type.")
    String type;

    @Option(
        names = "--extent",
        defaultValue = "64k",
        paramLabel = "SIZE",
        description = "flatfs: the size of each file's extent, its largest file (default: 64k).")
    String extent;

    @Parameters(index = "0", paramLabel = "IMAGE")
    Path image;

    @Parameters(index = "1", paramLabel = "SIZE", description = "Bytes, with a k/M/G suffix.")
    String size;

    @Override
    public Integer call() {
      FileSystemType t = FileSystems.standard().get(type);
      if (!(t instanceof FlatFs) && !(t instanceof Ext4) && !(t instanceof Xfs)) {
        throw new KernelException(
            Errno.EINVAL, "mkfs: no mkfs for " + type + " (only flatfs, ext4 and xfs)");
      }
      long bytes = memparse(size, "SIZE");
      if (bytes <= 0 || bytes % Bio.SECTOR_SIZE != 0) {
        throw new KernelException(
            Errno.EINVAL, "mkfs: SIZE " + size + " is not a positive number of 512-byte sectors");
      }
      long ext = memparse(extent, "--extent");
      return withKernel(
          vm -> {
            FileDisk disk =
                FileDisk.create(vm.physicalMemory(), image, bytes / Bio.SECTOR_SIZE, opts());
            boolean made = false;
            try {
              if (t instanceof Ext4) {
                Ext4.mkfs(vm.physicalMemory(), disk);
              } else if (t instanceof Xfs) {
                Xfs.mkfs(vm.physicalMemory(), disk);
              } else {
                FlatFs.mkfs(vm.physicalMemory(), disk, ext);
              }
              made = true;
            } finally {
              disk.close();
              if (!made) {
                Files.deleteIfExists(image); // no half-made image left behind
              }
            }
            System.out.printf(
                Locale.ROOT,
                "mkfs.%s: %s, %d bytes%s%n",
                type,
                image,
                bytes,
                t instanceof FlatFs ? ", extent " + ext : ", 4096-byte blocks");
          });
    }
  }

  /** Options of the commands that mount an image. */
  static class ImageArgs {
    @Option(
        names = "-t",
        defaultValue = "flatfs",
        paramLabel = "TYPE",
        description = "Filesystem type (default: ${DEFAULT-VALUE}).")
    String type;

    @Parameters(index = "0", paramLabel = "IMAGE")
    Path image;
  }

  /** {@code refkern fs ls IMAGE}. */
  @Command(
      mixinStandardHelpOptions = true,
      version = Main.VERSION,
      name = "ls",
      description = "Mount IMAGE read-only on a small kernel and list its root: mode, size, name.")
  static final class Ls implements Callable<Integer> {
    @CommandLine.Mixin ImageArgs args = new ImageArgs();

    @Override
    public Integer call() {
      return mounted(
          args,
          (vm, vfs) -> {
            for (String name : vfs.readdir(MNT)) {
              if (name.equals(".") || name.equals("..")) {
                continue;
              }
              Stat st = vfs.stat(MNT + "/" + name);
              System.out.printf(
                  Locale.ROOT, "%s %10d %s%n", modeString(st.mode()), st.size(), name);
            }
          });
    }
  }

  /** {@code refkern fs check IMAGE}. */
  @Command(
      mixinStandardHelpOptions = true,
      version = Main.VERSION,
      name = "check",
      description = {
        "Check IMAGE with its type's fsck; repairs nothing.",
        "Exit status as e2fsck: 0 clean, 4 problems left (one per line on stdout)."
      })
  static final class Check implements Callable<Integer> {
    @CommandLine.Mixin ImageArgs args = new ImageArgs();

    @Override
    public Integer call() {
      FileSystemType t = FileSystems.standard().get(args.type);
      requireImage(args.image);
      List<String> problems = t.check(args.image.toString());
      for (String p : problems) {
        System.out.println(args.image + ": " + p);
      }
      if (problems.isEmpty()) {
        System.out.println(args.image + ": clean");
        return 0;
      }
      return ERRORS_LEFT;
    }
  }

  /** {@code refkern fs cat IMAGE NAME}. */
  @Command(
      mixinStandardHelpOptions = true,
      version = Main.VERSION,
      name = "cat",
      description = "Mount IMAGE read-only and write the file NAME to standard output.")
  static final class Cat implements Callable<Integer> {
    @CommandLine.Mixin ImageArgs args = new ImageArgs();

    @Parameters(index = "1", paramLabel = "NAME")
    String name;

    @Override
    public Integer call() {
      return mounted(
          args,
          (vm, vfs) -> {
            Task t = vm.createTask("cat");
            int chunk = 64 << 10;
            long buf = t.mmapAnon(chunk);
            byte[] bytes = new byte[chunk];
            int fd;
            try {
              fd = vfs.open(t, MNT + "/" + name, Fcntl.O_RDONLY, 0);
            } catch (KernelException e) {
              throw e.errno() == Errno.ENOENT
                  ? new KernelException(Errno.ENOENT, "no file " + name + " in " + args.image)
                  : e;
            }
            try {
              PrintStream out = System.out;
              for (long n; (n = vfs.read(t, fd, buf, chunk)) > 0; ) {
                t.load(buf, bytes, 0, (int) n);
                out.write(bytes, 0, (int) n);
              }
              out.flush();
            } finally {
              vfs.close(t, fd);
              t.exit();
            }
          });
    }
  }

  static final String MNT = "/mnt";
  static final String DEV = "/dev/img";

  /** {@code e} with the device node in its message replaced by the image's path. */
  private static KernelException about(KernelException e, Path image) {
    String m = e.getMessage().substring(e.errno().name().length() + 2);
    return new KernelException(e.errno(), m.replace(DEV, image.toString()));
  }

  interface KernelWork {
    void run(VirtualMemory vm) throws Exception;
  }

  interface MountWork {
    void run(VirtualMemory vm, Vfs vfs) throws Exception;
  }

  /** Boots a small kernel, runs {@code work}, shuts it down with the final debug_vm check. */
  static int withKernel(KernelWork work) {
    Path dir = KernelSession.stateDir(null, "refkern-fs");
    try {
      VirtualMemory vm = VirtualMemory.boot(BootParams.parse(CMDLINE), dir.resolve("kernel"), true);
      PhysicalMemory mem = vm.physicalMemory();
      try {
        work.run(vm);
        System.out.flush();
        return FinalCheck.exitStatus(System.err, FinalCheck.violations(mem));
      } catch (RuntimeException e) {
        throw e;
      } catch (Exception e) {
        throw KernelSession.errno("fs", e);
      } finally {
        mem.close();
      }
    } finally {
      KernelSession.release(dir);
    }
  }

  /** {@link #withKernel} with {@code a.image} mounted read-only at {@link #MNT}. */
  static int mounted(ImageArgs a, MountWork work) {
    FileSystemType type = FileSystems.standard().get(a.type);
    if (!type.requiresDev()) {
      throw new KernelException(Errno.ENOTBLK, a.type + " does not live on an image");
    }
    requireImage(a.image);
    return withKernel(
        vm -> {
          FileDisk disk = FileDisk.open(vm.physicalMemory(), a.image, opts());
          Vfs vfs = new Vfs(vm);
          try {
            vfs.mkdir(MNT, 0755);
            vfs.registerBlockDevice(DEV, new ReadOnlyDevice(disk));
            try {
              vfs.mount(a.type, DEV, MNT, "");
            } catch (KernelException e) {
              throw about(e, a.image); // the user named the image, not our device node
            }
            work.run(vm, vfs);
          } finally {
            try {
              vfs.shutdown();
            } finally {
              disk.close();
            }
          }
        });
  }

  static void requireImage(Path image) {
    if (!Files.exists(image)) {
      throw new KernelException(Errno.ENOENT, "no image " + image);
    }
    if (Files.isDirectory(image)) {
      throw new KernelException(Errno.EISDIR, image + " is a directory");
    }
  }

  private static DiskOptions opts() {
    return DiskOptions.defaults().name("img");
  }

  /** A number of bytes with an optional k/M/G suffix ({@code memparse()}). */
  static long memparse(String v, String what) {
    String s = v.strip();
    int shift = 0;
    if (!s.isEmpty()) {
      switch (Character.toLowerCase(s.charAt(s.length() - 1))) {
        case 'k' -> shift = 10;
        case 'm' -> shift = 20;
        case 'g' -> shift = 30;
        default -> shift = 0;
      }
    }
    String digits = shift == 0 ? s : s.substring(0, s.length() - 1);
    try {
      long n = Long.parseLong(digits);
      if (n < 0 || n > Long.MAX_VALUE >> shift) {
        throw new NumberFormatException();
      }
      return n << shift;
    } catch (NumberFormatException e) {
      throw new KernelException(Errno.EINVAL, what + " '" + v + "' is not a size (N[kMG])");
    }
  }

  /** {@code ls -l}'s mode column. */
  static String modeString(int mode) {
    StringBuilder b = new StringBuilder(10);
    b.append((mode & 0170000) == 0040000 ? 'd' : '-');
    String rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++) {
      b.append((mode & (0400 >> i)) != 0 ? rwx.charAt(i) : '-');
    }
    return b.toString();
  }

  /**
   * A block device opened read-only ({@code bdev_read_only()}): writes complete with {@code EROFS},
   * so nothing a read-only command does can change the image.
   */
  static final class ReadOnlyDevice implements BlockDevice {
    private final BlockDevice dev;

    ReadOnlyDevice(BlockDevice dev) {
      this.dev = dev;
    }

    @Override
    public String name() {
      return dev.name();
    }

    @Override
    public long capacitySectors() {
      return dev.capacitySectors();
    }

    @Override
    public int features() {
      return dev.features();
    }

    @Override
    public void submitBio(Bio bio) {
      if (bio.op() == BioOp.WRITE) {
        bio.setStatus(-Errno.EROFS.number());
        bio.endio();
        return;
      }
      dev.submitBio(bio);
    }
  }
}
