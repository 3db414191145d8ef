package dev.refkern.fs.flat;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Vfs;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * flatfs on a FileDisk image: persistence across kernels, power cuts around fsync, running out of
 * slots and extent, fsck, and a clean kernel (no pins, no leaked pages) after each.
 */
class FlatFsTest {
  private static final long SECTORS = (1 << 20) / 512; // a 1 MiB image
  private static final int EXTENT = 16 << 10;

  @TempDir Path dir;
  private final List<Machine> machines = new ArrayList<>();

  /** One booted kernel with a VFS and the image as {@code /dev/flat0}. */
  private final class Machine {
    final VirtualMemory vm;
    final PhysicalMemory mem;
    final long freeAtStart;
    final FileDisk disk;
    final Vfs vfs;
    final Task task;
    final long buf;
    boolean down;

    Machine(boolean create) {
      vm =
          VirtualMemory.boot(
              BootParams.parse("mem=64M"), dir.resolve("k" + machines.size()), false);
      mem = vm.physicalMemory();
      freeAtStart = free();
      disk =
          create
              ? FileDisk.create(mem, image(), SECTORS, DiskOptions.defaults())
              : FileDisk.open(mem, image(), DiskOptions.defaults());
      vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/flat0", disk);
      task = vm.createTask("t");
      buf = task.mmapAnon(1 << 16);
      machines.add(this);
    }

    long free() {
      vm.lru().lruAddDrainAll();
      return mem.allocator().nrFreePages();
    }

    int create(String path) {
      return vfs.open(task, path, O_RDWR | O_CREAT, 0640);
    }

    long write(int fd, byte[] data, long off) {
      task.store(buf, data, 0, data.length);
      return vfs.pwrite(task, fd, buf, data.length, off);
    }

    byte[] read(String path) {
      int fd = vfs.open(task, path, O_RDONLY, 0);
      int len = (int) vfs.fstat(task, fd).size();
      long n = vfs.pread(task, fd, buf, len, 0);
      byte[] b = new byte[(int) n];
      task.load(buf, b, 0, b.length);
      vfs.close(task, fd);
      return b;
    }

    /** Shuts down and asserts the kernel's invariants: no pins held, every page back. */
    void shutdown() {
      if (down) {
        return;
      }
      down = true;
      vfs.shutdown();
      task.exit();
      disk.close();
      List<String> pins = mem.debugVm().checkNoPinsHeld();
      long free = free();
      mem.close();
      assertTrue(pins.isEmpty(), pins.toString());
      assertEquals(freeAtStart, free, "pages leaked");
    }
  }

  private Path image() {
    return dir.resolve("flat.img");
  }

  @AfterEach
  void cleanKernels() {
    for (Machine m : machines) {
      m.shutdown();
    }
  }

  private static void assertErrno(Errno e, Executable call) {
    KernelException ex = assertThrows(KernelException.class, call);
    assertEquals(e, ex.errno(), ex.getMessage());
  }

  private static byte[] pattern(int len, int seed) {
    byte[] b = new byte[len];
    for (int i = 0; i < len; i++) {
      b[i] = (byte) (i * 7 + seed);
    }
    return b;
  }

  @Test
  void dataWrittenAndFsyncedIsSeenByTheNextKernel() {
    Machine a = new Machine(true);
    a.vfs.mount("flatfs", "/dev/flat0", "/mnt", "mkfs,extent=16k");
    int fd = a.create("/mnt/hello");
    byte[] data = pattern(10_000, 3);
    assertEquals(data.length, a.write(fd, data, 0));
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    a.vfs.umount("/mnt");
    a.shutdown();

    Machine b = new Machine(false);
    b.vfs.mount("flatfs", "/dev/flat0", "/mnt", "");
    assertEquals(List.of("hello"), b.vfs.readdir("/mnt"));
    assertEquals(0640, b.vfs.stat("/mnt/hello").mode() & 07777);
    assertArrayEquals(data, b.read("/mnt/hello"));
    b.shutdown();
    assertEquals(List.of(), new FlatFs().check(image().toString()));
  }

  /**
   * Blocks past EOF still hold what a truncated file wrote there. Growing the file again, by a
   * write past EOF or by ftruncate, must not expose them: the gap reads as zeros, in this kernel
   * and on disk for the next (xfs_file_write_zero_eof(), xfs_setattr_size()).
   */
  @Test
  void oldBlocksPastEofReadAsZerosWhenTheFileGrowsAgain() {
    Machine a = new Machine(true);
    a.vfs.mount("flatfs", "/dev/flat0", "/mnt", "mkfs,extent=64k");
    int fd = a.create("/mnt/f");
    a.write(fd, pattern(12_288, 9), 0);
    a.vfs.fsync(a.task, fd); // three blocks of non-zero bytes on disk
    a.vfs.ftruncate(a.task, fd, 100);
    a.vfs.fsync(a.task, fd);
    a.write(fd, new byte[] {42}, 8_191); // grows by a write past EOF
    a.vfs.ftruncate(a.task, fd, 2 * 4096 + 4096); // and by ftruncate
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    byte[] want = new byte[12_288];
    System.arraycopy(pattern(100, 9), 0, want, 0, 100);
    want[8_191] = 42;
    assertArrayEquals(want, a.read("/mnt/f"), "this kernel");
    a.vfs.umount("/mnt");
    a.shutdown();
    Machine b = new Machine(false);
    b.vfs.mount("flatfs", "/dev/flat0", "/mnt", "");
    assertArrayEquals(want, b.read("/mnt/f"), "the next kernel");
    b.shutdown();
  }

  @Test
  void powerCutKeepsWhatFsyncMadeDurableAndMayLoseTheRest() {
    Machine a = new Machine(true);
    a.vfs.mount("flatfs", "/dev/flat0", "/mnt", "mkfs,extent=16k");
    int kept = a.create("/mnt/kept");
    byte[] data = pattern(5000, 1);
    a.write(kept, data, 0);
    a.vfs.fsync(a.task, kept);
    int lost = a.create("/mnt/lost");
    a.write(lost, pattern(100, 2), 0); // never fsynced: only in the page cache
    a.disk.powerCut();
    a.shutdown(); // the unmount's writes fail on the dead disk; the kernel is still clean

    Machine b = new Machine(false);
    b.vfs.mount("flatfs", "/dev/flat0", "/mnt", "");
    assertEquals(List.of("kept"), b.vfs.readdir("/mnt"), "no slot of 'lost' reached the disk");
    assertArrayEquals(data, b.read("/mnt/kept"));
  }

  @Test
  void slotsAndExtentsRunOut() {
    Machine a = new Machine(true);
    a.vfs.mount("flatfs", "/dev/flat0", "/mnt", "mkfs,extent=256k");
    // 256 blocks: superblock, one table block, three 64-block extents
    for (int i = 0; i < 3; i++) {
      a.vfs.close(a.task, a.create("/mnt/f" + i));
    }
    assertErrno(Errno.ENOSPC, () -> a.create("/mnt/f3"));
    int fd = a.vfs.open(a.task, "/mnt/f0", O_RDWR, 0);
    assertErrno(Errno.EFBIG, () -> a.write(fd, new byte[1], 256 << 10));
    assertEquals(10, a.write(fd, new byte[20], (256 << 10) - 10), "short at the extent's end");
    a.vfs.close(a.task, fd);
    a.vfs.unlink("/mnt/f2");
    a.vfs.close(a.task, a.create("/mnt/f3")); // the slot is free again
    assertErrno(Errno.EPERM, () -> a.vfs.mkdir("/mnt/d", 0755));
  }

  @Test
  void checkReportsCorruptSlots() throws IOException {
    Machine a = new Machine(true);
    a.vfs.mount("flatfs", "/dev/flat0", "/mnt", "mkfs,extent=16k");
    for (String n : List.of("a", "b")) {
      int fd = a.create("/mnt/" + n);
      a.write(fd, pattern(100, 0), 0);
      a.vfs.fsync(a.task, fd);
      a.vfs.close(a.task, fd);
    }
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), new FlatFs().check(image().toString()));
    try (FileChannel ch =
        FileChannel.open(image(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer slot1 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
      // start at block 0 (the superblock), size past the extent
      slot1.putLong(0, 0).putLong(8, 1 << 20).rewind();
      ch.write(slot1, 4096 + 256 + 208);
    }
    List<String> problems = new FlatFs().check(image().toString());
    assertEquals(2, problems.size(), problems.toString());
    assertTrue(problems.get(0).contains("slot 1 (b): extent 0 out of range"), problems.toString());
    assertTrue(problems.get(1).contains("slot 1 (b): size 1048576 > extent"), problems.toString());
    try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.WRITE)) {
      ByteBuffer start = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      start.putLong(0, 2).rewind(); // slot 0's extent
      ch.write(start, 4096 + 256 + 208);
    }
    problems = new FlatFs().check(image().toString());
    assertTrue(problems.contains("slot 1 (b): extent overlaps slot 0"), problems.toString());
  }

  @Test
  void mountRefusesWhatIsNotFlatfsAndBadOptions() throws IOException {
    Machine a = new Machine(true);
    assertErrno(Errno.EINVAL, () -> a.vfs.mount("flatfs", "/dev/flat0", "/mnt", ""));
    assertErrno(Errno.EINVAL, () -> a.vfs.mount("flatfs", "/dev/flat0", "/mnt", "mkfs,bogus"));
    assertErrno(Errno.EINVAL, () -> a.vfs.mount("flatfs", "/dev/flat0", "/mnt", "extent=16k"));
    assertErrno(Errno.ENOENT, () -> a.vfs.mount("flatfs", "/dev/none", "/mnt", ""));
    assertEquals(1, a.vfs.mounts().size(), "nothing mounted");
    assertTrue(new FlatFs().check(image().toString()).get(0).contains("Can't find"));
  }

  @Test
  void syncAndUmountWriteTheTableWithoutFsync() {
    Machine a = new Machine(true);
    a.vfs.mount("flatfs", "/dev/flat0", "/mnt", "mkfs");
    int fd = a.create("/mnt/s");
    a.write(fd, pattern(3000, 9), 0);
    a.vfs.close(a.task, fd);
    a.vfs.sync();
    a.disk.powerCut(); // sync flushed: nothing of it is lost
    a.shutdown();
    Machine b = new Machine(false);
    b.vfs.mount("flatfs", "/dev/flat0", "/mnt", "");
    assertArrayEquals(pattern(3000, 9), b.read("/mnt/s"));
    assertTrue(
        Arrays.asList(FileSystems.standard().names().toArray()).contains("flatfs"),
        "ServiceLoader finds flatfs");
  }
}
