package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.fs.Falloc;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Mount;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.ext4.internal.BlockAlloc;
import dev.refkern.fs.ext4.internal.Ext4Sb;
import dev.refkern.fs.ext4.internal.ExtentTree;
import dev.refkern.fs.spi.Inode;
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
import org.junit.jupiter.api.io.TempDir;

/**
 * ext4's block map on a FileDisk image: extent trees past 4 MiB and to depth 2, delayed allocation
 * (reserve at write, allocate contiguously at writeback, ENOSPC at write), truncate and punch hole
 * freeing blocks, the orphan list across a crash, times across remounts; fsck clean and the kernel
 * clean after each.
 */
class Ext4BlockMapTest {
  private static final int BLOCK = 4096;
  private static final long TABLE = 4; // group 0's inode table block

  @TempDir Path dir;
  private final List<Machine> machines = new ArrayList<>();

  /** One booted kernel with a VFS and the image as {@code /dev/sda} mounted on /mnt. */
  private final class Machine {
    final VirtualMemory vm;
    final PhysicalMemory mem;
    final long freeAtStart;
    final FileDisk disk;
    final Vfs vfs;
    final Task task;
    final long buf;
    Ext4Sb fs;
    boolean down;

    Machine(long imageBytes, String options) {
      vm =
          VirtualMemory.boot(
              BootParams.parse("mem=64M"), dir.resolve("k" + machines.size()), false);
      mem = vm.physicalMemory();
      vm.lru().lruAddDrainAll();
      freeAtStart = mem.allocator().nrFreePages();
      disk =
          imageBytes > 0
              ? FileDisk.create(mem, image(), imageBytes / 512, DiskOptions.defaults())
              : FileDisk.open(mem, image(), DiskOptions.defaults());
      vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/sda", disk);
      task = vm.createTask("t");
      buf = task.mmapAnon(1 << 20);
      machines.add(this);
      Mount m = vfs.mount("ext4", "/dev/sda", "/mnt", options);
      fs = (Ext4Sb) m.sb().aops();
    }

    BlockAlloc alloc() {
      return fs.blockAlloc();
    }

    Inode inode(int fd) {
      long ino = vfs.fstat(task, fd).ino();
      return m().sb().inodes().stream().filter(i -> i.ino() == ino).findFirst().orElseThrow();
    }

    Mount m() {
      return vfs.mounts().stream().filter(x -> x.sb().type() instanceof Ext4).findFirst().get();
    }

    int create(String path) {
      return vfs.open(task, path, O_RDWR | O_CREAT, 0640);
    }

    long write(int fd, byte[] data, long off) {
      long done = 0;
      while (done < data.length) {
        int n = (int) Math.min(1 << 20, data.length - done);
        task.store(buf, data, (int) done, n);
        long w = vfs.pwrite(task, fd, buf, n, off + done);
        done += w;
        if (w < n) {
          break;
        }
      }
      return done;
    }

    byte[] read(String path) {
      int fd = vfs.open(task, path, O_RDONLY, 0);
      byte[] b = new byte[(int) vfs.fstat(task, fd).size()];
      for (int done = 0; done < b.length; ) {
        int n = (int) vfs.pread(task, fd, buf, Math.min(1 << 20, b.length - done), done);
        task.load(buf, b, done, n);
        done += n;
      }
      vfs.close(task, fd);
      return b;
    }

    void umount() {
      vfs.umount("/mnt");
      shutdown();
    }

    /** A power cut: what was not flushed is lost, nothing is unmounted cleanly. */
    void crash() {
      disk.powerCut();
      shutdown();
    }

    void shutdown() {
      if (down) {
        return;
      }
      down = true;
      try {
        vfs.shutdown();
      } catch (KernelException e) {
        // after a power cut the unmount's writes fail with EIO
      }
      task.exit();
      disk.close();
      List<String> pins = mem.debugVm().checkNoPinsHeld();
      vm.lru().lruAddDrainAll();
      long free = mem.allocator().nrFreePages();
      mem.close();
      assertTrue(pins.isEmpty(), pins.toString());
      assertEquals(freeAtStart, free, "pages leaked");
    }
  }

  private Path image() {
    return dir.resolve("ext4.img");
  }

  @AfterEach
  void cleanKernels() {
    for (Machine m : machines) {
      m.shutdown();
    }
  }

  private List<String> fsck() {
    return new Ext4().check(image().toString());
  }

  private static byte[] pattern(int len, int seed) {
    byte[] b = new byte[len];
    for (int i = 0; i < len; i++) {
      b[i] = (byte) (i * 7 + seed + i / 4093);
    }
    return b;
  }

  private ByteBuffer peek(long off, int len) throws IOException {
    try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(b, off);
      return b.flip();
    }
  }

  private void poke(long off, ByteBuffer bytes) throws IOException {
    try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.WRITE)) {
      ch.write(bytes, off);
    }
  }

  private static long inodeOff(long ino) {
    return TABLE * BLOCK + (ino - 1) * 256;
  }

  @Test
  void aFragmentedFileBiggerThan4MiBReadsBackInANewKernel() {
    Machine a = new Machine(32 << 20, "mkfs");
    int fa = a.create("/mnt/a");
    int fb = a.create("/mnt/b");
    byte[] da = pattern(5 << 20, 1);
    byte[] db = pattern(1 << 20, 2);
    int chunk = 64 * BLOCK;
    for (int off = 0; off < da.length; off += chunk) { // interleaved: b's blocks split a's
      assertEquals(chunk, a.write(fa, Arrays.copyOfRange(da, off, off + chunk), off));
      a.vfs.fsync(a.task, fa);
      int boff = (off / 5) & ~(BLOCK - 1);
      assertEquals(BLOCK, a.write(fb, Arrays.copyOfRange(db, boff, boff + BLOCK), boff));
      a.vfs.fsync(a.task, fb);
    }
    assertEquals(db.length, a.write(fb, db, 0));
    ExtentTree ta = a.fs.extentTree(a.inode(fa));
    assertTrue(ta.extents() > 4, "fragmented: " + ta.extents() + " extents");
    a.vfs.close(a.task, fa);
    a.vfs.close(a.task, fb);
    a.umount();
    assertEquals(List.of(), fsck());
    assertEquals(1, depthOnDisk(11), "more than 4 extents: the root indexes leaf blocks");

    Machine b = new Machine(0, "");
    assertArrayEquals(da, b.read("/mnt/a"));
    assertArrayEquals(db, b.read("/mnt/b"));
    b.umount();
    assertEquals(List.of(), fsck());
  }

  private int depthOnDisk(long ino) {
    try {
      ByteBuffer in = peek(inodeOff(ino), 256);
      assertEquals(ExtentTree.EXTENTS_FL, in.getInt(0x20) & ExtentTree.EXTENTS_FL);
      assertEquals(ExtentTree.MAGIC, in.getShort(0x28) & 0xffff);
      return in.getShort(0x28 + 6);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void punchingEveryOtherBlockGrowsTheTreeToDepthTwo() {
    Machine a = new Machine(16 << 20, "mkfs");
    int n = 2 * (ExtentTree.ROOT_MAX * ExtentTree.NODE_MAX + 10); // > 1360 extents after
    byte[] data = pattern(n * BLOCK, 3);
    int fd = a.create("/mnt/f");
    assertEquals(data.length, a.write(fd, data, 0));
    a.vfs.fsync(a.task, fd);
    long free = a.alloc().free();
    for (int i = 1; i < n; i += 2) {
      a.vfs.fallocate(
          a.task,
          fd,
          Falloc.FALLOC_FL_PUNCH_HOLE | Falloc.FALLOC_FL_KEEP_SIZE,
          (long) i * BLOCK,
          BLOCK);
      Arrays.fill(data, i * BLOCK, (i + 1) * BLOCK, (byte) 0);
    }
    ExtentTree t = a.fs.extentTree(a.inode(fd));
    assertEquals(n / 2, t.extents());
    a.vfs.fsync(a.task, fd);
    assertEquals(2, t.depth());
    int nodes = t.nodeBlocks().length;
    assertEquals(free + n / 2 - nodes, a.alloc().free(), "punched blocks free, less tree nodes");
    a.vfs.close(a.task, fd);
    a.umount();
    assertEquals(List.of(), fsck());
    assertEquals(2, depthOnDisk(11));

    Machine b = new Machine(0, "");
    assertArrayEquals(data, b.read("/mnt/f"));
    b.umount();
    assertEquals(List.of(), fsck());
  }

  @Test
  void delallocReservesAtWriteAndAllocatesOneExtentAtWriteback() {
    Machine a = new Machine(8 << 20, "mkfs");
    long free = a.alloc().free();
    int fd = a.create("/mnt/f");
    byte[] data = pattern(64 * BLOCK, 4);
    assertEquals(data.length, a.write(fd, data, 0));
    Inode ino = a.inode(fd);
    assertEquals(free, a.alloc().free(), "write() allocates nothing");
    assertEquals(64, a.alloc().reserved(), "it reserves");
    assertEquals(64, a.fs.delayedBlocks(ino));
    assertEquals(0, a.fs.extentTree(ino).extents());
    a.vfs.fsync(a.task, fd);
    assertEquals(0, a.alloc().reserved());
    assertEquals(0, a.fs.delayedBlocks(ino));
    assertEquals(free - 64, a.alloc().free());
    assertEquals(1, a.fs.extentTree(ino).extents(), "64 blocks in one contiguous extent");
    a.vfs.close(a.task, fd);
    a.umount();
    assertEquals(List.of(), fsck());
  }

  @Test
  void mmapWriteFaultsReserveToo() {
    Machine a = new Machine(8 << 20, "mkfs");
    int fd = a.create("/mnt/f");
    a.vfs.ftruncate(a.task, fd, 4 * BLOCK);
    long map = a.vfs.mmap(a.task, 0, 4 * BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    byte[] data = pattern(4 * BLOCK, 5);
    a.task.store(map, data, 0, data.length);
    assertEquals(4, a.alloc().reserved(), "page_mkwrite reserved each block");
    a.vfs.fsync(a.task, fd);
    assertEquals(0, a.alloc().reserved());
    a.vfs.munmap(a.task, map, 4 * BLOCK);
    a.vfs.close(a.task, fd);
    a.umount();
    assertEquals(List.of(), fsck());
    Machine b = new Machine(0, "");
    assertArrayEquals(data, b.read("/mnt/f"));
  }

  @Test
  void enospcAtWriteWhenTheReservationFailsLosesNothingWritten() {
    // 128 blocks: 6 of metadata, 1 for the root directory, 8 kept back for metadata
    Machine a = new Machine(128 * BLOCK, "mkfs,blocks_per_group=128,inodes_per_group=16");
    byte[] first = pattern(10 * BLOCK, 6);
    int f1 = a.create("/mnt/first");
    assertEquals(first.length, a.write(f1, first, 0));
    a.vfs.fsync(a.task, f1);
    a.vfs.close(a.task, f1);
    int fd = a.create("/mnt/fill");
    byte[] more = pattern(200 * BLOCK, 7);
    long n = a.write(fd, more, 0);
    assertTrue(n > 0 && n < more.length, "a short write up to the reservation: " + n);
    assertEquals(0, a.alloc().free() - a.alloc().reserved() - a.alloc().resv());
    KernelException e =
        assertThrows(KernelException.class, () -> a.write(fd, pattern(BLOCK, 8), n));
    assertEquals(Errno.ENOSPC, e.errno(), "at write(), not at writeback");
    a.vfs.fsync(a.task, fd); // every reserved block can be allocated
    a.vfs.close(a.task, fd);
    a.umount();
    assertEquals(List.of(), fsck());

    Machine b = new Machine(0, "");
    assertArrayEquals(first, b.read("/mnt/first"));
    assertArrayEquals(Arrays.copyOf(more, (int) n), b.read("/mnt/fill"));
  }

  @Test
  void truncateFreesBlocksAndZeroesTheTailOnDisk() {
    Machine a = new Machine(8 << 20, "mkfs");
    int fd = a.create("/mnt/f");
    byte[] data = pattern(40 * BLOCK, 9);
    assertEquals(data.length, a.write(fd, data, 0));
    a.vfs.fsync(a.task, fd);
    long free = a.alloc().free();
    long cut = 10L * BLOCK + 100;
    a.vfs.ftruncate(a.task, fd, cut);
    assertEquals(free + 29, a.alloc().free(), "blocks 11..39 back in the bitmap");
    a.vfs.close(a.task, fd);
    a.umount();
    assertEquals(List.of(), fsck());

    Machine b = new Machine(0, ""); // nothing cached: the tail block comes from disk
    int g = b.vfs.open(b.task, "/mnt/f", O_RDWR, 0);
    b.vfs.ftruncate(b.task, g, 20L * BLOCK);
    b.vfs.close(b.task, g);
    byte[] want = new byte[20 * BLOCK];
    System.arraycopy(data, 0, want, 0, (int) cut);
    assertArrayEquals(want, b.read("/mnt/f"), "growing again reads zeros past the old end");
    b.umount();
    assertEquals(List.of(), fsck());
  }

  @Test
  void punchHoleReadsZerosAndFreesWholeBlocks() {
    Machine a = new Machine(8 << 20, "mkfs");
    int fd = a.create("/mnt/f");
    byte[] data = pattern(16 * BLOCK, 10);
    assertEquals(data.length, a.write(fd, data, 0));
    a.vfs.fsync(a.task, fd);
    long free = a.alloc().free();
    a.vfs.fallocate(
        a.task,
        fd,
        Falloc.FALLOC_FL_PUNCH_HOLE | Falloc.FALLOC_FL_KEEP_SIZE,
        BLOCK + 10,
        4 * BLOCK);
    Arrays.fill(data, BLOCK + 10, 5 * BLOCK + 10, (byte) 0);
    assertEquals(free + 3, a.alloc().free(), "blocks 2..4 freed, 1 and 5 partly zeroed");
    assertEquals(16L * BLOCK, a.vfs.fstat(a.task, fd).size(), "KEEP_SIZE");
    assertArrayEquals(data, a.read("/mnt/f"));
    a.vfs.close(a.task, fd);
    a.umount();
    assertEquals(List.of(), fsck());

    Machine b = new Machine(0, "");
    assertArrayEquals(data, b.read("/mnt/f"));
  }

  @Test
  void anUnlinkedOpenFileKeepsItsBlocksUntilClose() {
    Machine a = new Machine(8 << 20, "mkfs");
    long free = a.alloc().free();
    int fd = a.create("/mnt/f");
    byte[] data = pattern(20 * BLOCK, 11);
    assertEquals(data.length, a.write(fd, data, 0));
    a.vfs.fsync(a.task, fd);
    a.vfs.unlink("/mnt/f");
    a.vfs.sync();
    assertEquals(free - 20, a.alloc().free(), "still open: still allocated");
    byte[] back = new byte[data.length];
    for (int done = 0; done < back.length; ) {
      int n = (int) a.vfs.pread(a.task, fd, a.buf, back.length - done, done);
      a.task.load(a.buf, back, done, n);
      done += n;
    }
    assertArrayEquals(data, back);
    a.vfs.close(a.task, fd);
    assertEquals(free, a.alloc().free(), "the last close frees them");
    a.umount();
    assertEquals(List.of(), fsck());
  }

  @Test
  void aCrashWithAnUnlinkedFileOpenLeavesAnOrphanThatMountFrees() throws IOException {
    Machine a = new Machine(8 << 20, "mkfs");
    long free = a.alloc().free();
    int fd = a.create("/mnt/f");
    assertEquals(20 * BLOCK, a.write(fd, pattern(20 * BLOCK, 12), 0));
    a.vfs.fsync(a.task, fd);
    a.vfs.unlink("/mnt/f");
    a.vfs.sync(); // the name is gone on disk, the inode is on the orphan list
    a.crash();
    assertEquals(11, peek(0xE8, 4).getInt(), "s_last_orphan");
    assertEquals(0, peek(inodeOff(11) + 0x1A, 2).getShort(), "no link left");
    // e2fsck -n does not replay ("skipping journal recovery"), so that is all it may find here:
    // an inode on the orphan list is no "in use with no links", its blocks no leak
    assertEquals(List.of("journal needs recovery"), fsck(), "an orphan is not a leak");

    Machine b = new Machine(0, "");
    assertEquals(free, b.alloc().free(), "mount freed the orphan's blocks");
    assertEquals(List.of(), b.vfs.readdir("/mnt"));
    b.umount();
    assertEquals(0, peek(0xE8, 4).getInt(), "the orphan list is empty");
    assertEquals(0, peek(3 * BLOCK + 1, 1).get() & (1 << 2), "inode 11 is free");
    assertEquals(List.of(), fsck());
  }

  @Test
  void timesSurviveARemount() throws IOException {
    Machine a = new Machine(8 << 20, "mkfs");
    int fd = a.create("/mnt/f");
    assertEquals(10, a.write(fd, pattern(10, 13), 0));
    a.vfs.close(a.task, fd);
    a.umount();
    ByteBuffer t = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
    t.putInt(0, 1_000_000_001).putInt(4, 1_000_000_002).putInt(8, 1_000_000_003);
    poke(inodeOff(11) + 0x8, t); // i_atime, i_ctime, i_mtime: a time long past

    Machine b = new Machine(0, "");
    var st = b.vfs.stat("/mnt/f");
    assertEquals(1_000_000_001L, st.atime() / 1_000_000_000L);
    assertEquals(1_000_000_002L, st.ctime() / 1_000_000_000L);
    assertEquals(1_000_000_003L, st.mtime() / 1_000_000_000L);
    b.umount();
    ByteBuffer after = peek(inodeOff(11) + 0x8, 12);
    assertEquals(1_000_000_003, after.getInt(8), "written back as read");
  }

  @Test
  void aBadExtentHeaderIsAnIgetErrorAtMountAndFsckReportsIt() throws IOException {
    Machine a = new Machine(8 << 20, "mkfs");
    int fd = a.create("/mnt/f");
    assertEquals(BLOCK, a.write(fd, pattern(BLOCK, 14), 0));
    a.vfs.close(a.task, fd);
    a.umount();
    poke(inodeOff(11) + 0x28, ByteBuffer.wrap(new byte[] {0x0B, (byte) 0xF3}));
    String why =
        "inode #11: pblk 0 bad header/extent: invalid magic - magic f30b, entries 1, max 4(4),"
            + " depth 0(0)";
    List<String> problems = fsck();
    assertTrue(problems.contains("inode 11: extent tree: " + why), problems.toString());
    // ext4_ext_check_inode() fails __ext4_iget(): an ext4_error(), the mount goes on without f
    Machine b = new Machine(0, "errors=continue");
    assertEquals(List.of(), b.vfs.readdir("/mnt"));
    assertEquals(
        "EXT4-fs error (device /dev/sda): ext4_ext_check_inode: inode #11: comm mount: pblk 0 bad"
            + " header/extent: invalid magic - magic f30b, entries 1, max 4(4), depth 0(0)",
        b.fs.errors().counters().firstError());
  }
}
