package dev.refkern.fs.xfs;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Mount;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.List;

/** One booted kernel with a VFS and an xfs image as {@code /dev/sda}, for this slice's tests. */
final class XfsMachine {
  final Path state;
  final VirtualMemory vm;
  final PhysicalMemory mem;
  final long freeAtStart;
  final FileDisk disk;
  final Vfs vfs;
  final Task task;
  final long buf;
  private boolean down;

  XfsMachine(Path state, Path image, long sectors) {
    this(state, image, sectors, "mem=64M");
  }

  /** Boots with kernel parameters {@code boot} (e.g. {@code gup.longterm_file=allow}). */
  XfsMachine(Path state, Path image, long sectors, String boot) {
    this(state, image, sectors, boot, DiskOptions.defaults());
  }

  /** Boots with {@code boot} on a disk made with {@code opts} (e.g. integrity: stable writes). */
  XfsMachine(Path state, Path image, long sectors, String boot, DiskOptions opts) {
    this.state = state;
    vm = VirtualMemory.boot(BootParams.parse(boot), state, true);
    mem = vm.physicalMemory();
    freeAtStart = free();
    disk =
        sectors > 0 ? FileDisk.create(mem, image, sectors, opts) : FileDisk.open(mem, image, opts);
    vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
    vfs.mkdir("/mnt", 0755);
    vfs.registerBlockDevice("/dev/sda", disk);
    task = vm.createTask("t");
    buf = task.mmapAnon(1 << 20);
  }

  long free() {
    vm.lru().lruAddDrainAll();
    return mem.allocator().nrFreePages();
  }

  Xfs xfs() {
    return (Xfs) mount().sb().type();
  }

  Mount mount() {
    for (Mount m : vfs.mounts()) {
      if (m.path().equals("/mnt")) {
        return m;
      }
    }
    throw new AssertionError("nothing on /mnt");
  }

  XfsCounts counts() {
    return xfs().counts(mount().sb());
  }

  Inode inode(String path) {
    Inode i = mount().sb().root();
    for (String name : path.substring("/mnt/".length()).split("/")) {
      i = i.lookup(name);
    }
    return i;
  }

  /** Creates {@code path} with {@code data}, fsyncs and closes it. */
  void put(String path, byte[] data) {
    int fd = vfs.open(task, path, O_RDWR | O_CREAT, 0640);
    assertEquals(data.length, write(fd, data, 0));
    vfs.fsync(task, fd);
    vfs.close(task, fd);
  }

  /** {@code pwrite(fd, data, off)} from the task's buffer. */
  long write(int fd, byte[] data, long off) {
    task.store(buf, data, 0, data.length);
    return vfs.pwrite(task, fd, buf, data.length, off);
  }

  byte[] read(String path) {
    int fd = vfs.open(task, path, O_RDONLY, 0);
    try {
      int len = (int) vfs.fstat(task, fd).size();
      long n = vfs.pread(task, fd, buf, len, 0);
      byte[] b = new byte[(int) n];
      task.load(buf, b, 0, b.length);
      return b;
    } finally {
      vfs.close(task, fd);
    }
  }

  /** Shuts down and asserts no pin is held and no page leaked. */
  void shutdown() {
    if (down) {
      return;
    }
    down = true;
    vfs.shutdown();
    task.exit();
    disk.close();
    List<String> debug = mem.debugVm().check();
    List<String> pins = mem.debugVm().checkNoPinsHeld();
    long free = free();
    mem.close();
    assertEquals(List.of(), debug, "CONFIG_DEBUG_VM");
    assertTrue(pins.isEmpty(), pins.toString());
    assertEquals(freeAtStart, free, "pages leaked");
  }

  /** After a BUG: the kernel is dead, only the disk and the memmap's file are closed. */
  void abandon() {
    if (down) {
      return;
    }
    down = true;
    disk.close();
    mem.close();
  }

  static byte[] pattern(int len, int seed) {
    byte[] b = new byte[len];
    for (int i = 0; i < len; i++) {
      b[i] = (byte) (i * 7 + seed);
    }
    return b;
  }
}
