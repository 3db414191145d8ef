package dev.refkern.fs.ext4;

import static dev.refkern.fs.Falloc.*;
import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.ext4.internal.Ext4Sb;
import dev.refkern.fs.ext4.internal.ExtentTree;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
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
 * {@code ext4_fallocate()}: unwritten extents that read as zeros, survive a remount as unwritten,
 * are converted once their data is written, and never show the old contents of their blocks after a
 * power cut; {@code KEEP_SIZE}, {@code ZERO_RANGE} and {@code ENOSPC} as the kernel does them.
 */
class Ext4FallocateTest {
  private static final long SECTORS = (4 << 20) / 512;
  private static final int BLOCK = 4096;
  private static final byte STALE = (byte) 0xAB;

  @TempDir Path dir;
  private final List<Ext4Machine> machines = new ArrayList<>();

  @AfterEach
  void clean() {
    for (Ext4Machine m : machines) {
      m.shutdown();
    }
  }

  private Path image() {
    return dir.resolve("ext4.img");
  }

  private Ext4Machine machine(boolean create) {
    Ext4Machine m =
        new Ext4Machine(dir.resolve("k" + machines.size()), image(), create ? SECTORS : 0);
    machines.add(m);
    return m;
  }

  private List<String> fsck() {
    return new Ext4().check(image().toString());
  }

  private static Ext4Sb fs(Ext4Machine m) {
    return (Ext4Sb) m.mount().sb().aops();
  }

  /** Writes {@link #STALE} over device blocks {@code blks} of the image: what they held before. */
  private void stamp(long[] blks) throws IOException {
    byte[] junk = new byte[BLOCK];
    Arrays.fill(junk, STALE);
    try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.WRITE)) {
      for (long b : blks) {
        ch.write(ByteBuffer.wrap(junk), b * BLOCK);
      }
    }
  }

  private static long[] blocks(Ext4Machine m, String path, int n) {
    long[] b = new long[n];
    for (int i = 0; i < n; i++) {
      b[i] = m.ext4().bmap(m.inode(path), i);
      assertNotEquals(0, b[i], path + " block " + i + " allocated");
    }
    return b;
  }

  /** /mnt/f preallocated 8 blocks (mode 0) and fsync'd, its blocks then filled with stale bytes. */
  private long[] preallocatedOverStaleBlocks() throws IOException {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR | O_CREAT, 0640);
    a.vfs.fallocate(a.task, fd, 0, 0, 8 * BLOCK);
    assertEquals(8 * BLOCK, a.vfs.fstat(a.task, fd).size(), "mode 0 sets i_size");
    assertArrayEquals(new byte[8 * BLOCK], a.read("/mnt/f"), "unwritten reads as zeros");
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    long[] blks = blocks(a, "/mnt/f", 8);
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), fsck());
    stamp(blks);
    return blks;
  }

  @Test
  void preallocatedBlocksReadAsZerosAfterARemountWhateverTheyHeld() throws IOException {
    long[] blks = preallocatedOverStaleBlocks();
    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertArrayEquals(new byte[8 * BLOCK], b.read("/mnt/f"), "the extent is unwritten on disk");
    assertArrayEquals(blks, blocks(b, "/mnt/f", 8), "and keeps its blocks");
    b.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void aWriteConvertsOnlyWhatItWroteAndAPowerCutNeverShowsStaleBytes() throws IOException {
    preallocatedOverStaleBlocks();
    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    int fd = b.vfs.open(b.task, "/mnt/f", O_RDWR, 0);
    byte[] data = Ext4Machine.pattern(100, 5);
    assertEquals(100, b.write(fd, data, 2 * BLOCK + 10)); // the rest of block 2 must read zero
    byte[] want = new byte[8 * BLOCK];
    System.arraycopy(data, 0, want, 2 * BLOCK + 10, 100);
    assertArrayEquals(want, b.read("/mnt/f"));
    Inode f = b.inode("/mnt/f");
    FileOperations.fileWriteAndWaitRange(f, 0, Long.MAX_VALUE); // written, converted, no commit
    ExtentTree t = fs(b).extentTree(f);
    assertFalse(t.isUnwritten(2), "block 2 converted at I/O completion");
    assertTrue(t.isUnwritten(1) && t.isUnwritten(3), "its neighbours stay unwritten");
    b.disk.powerCut(); // the conversion never committed
    b.shutdown();

    Ext4Machine c = machine(false);
    c.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertArrayEquals(new byte[8 * BLOCK], c.read("/mnt/f"), "zeros, not the stale bytes");
    fd = c.vfs.open(c.task, "/mnt/f", O_RDWR, 0);
    c.write(fd, data, 2 * BLOCK + 10);
    c.vfs.fsync(c.task, fd);
    c.vfs.close(c.task, fd);
    c.disk.powerCut(); // after the fsync: the data and its conversion are durable
    c.shutdown();

    Ext4Machine d = machine(false);
    d.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertArrayEquals(want, d.read("/mnt/f"), "the data, zeros around it, nothing stale");
    d.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void keepSizeAllocatesPastEofAndLeavesTheSize() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.put("/mnt/f", Ext4Machine.pattern(100, 1));
    long free = fs(a).blockAlloc().free();
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR, 0);
    a.vfs.fallocate(a.task, fd, FALLOC_FL_KEEP_SIZE, 0, 4 * BLOCK);
    assertEquals(100, a.vfs.fstat(a.task, fd).size(), "KEEP_SIZE leaves i_size");
    assertEquals(free - 3, fs(a).blockAlloc().free(), "blocks 1..3 allocated, block 0 kept");
    long[] blks = blocks(a, "/mnt/f", 4);
    a.write(fd, Ext4Machine.pattern(10, 2), 3 * BLOCK); // into the preallocated tail
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    a.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    byte[] want = new byte[3 * BLOCK + 10];
    System.arraycopy(Ext4Machine.pattern(100, 1), 0, want, 0, 100);
    System.arraycopy(Ext4Machine.pattern(10, 2), 0, want, 3 * BLOCK, 10);
    assertArrayEquals(want, a.read("/mnt/f"));
    assertArrayEquals(blks, blocks(a, "/mnt/f", 4), "written into the preallocated blocks");
    a.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void zeroRangeZeroesWholeAndPartialBlocksAndGrowsTheFile() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    byte[] want = Ext4Machine.pattern(4 * BLOCK, 3);
    a.put("/mnt/f", want);
    long[] blks = blocks(a, "/mnt/f", 4);
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR, 0);
    a.vfs.fallocate(a.task, fd, FALLOC_FL_ZERO_RANGE, 100, 3 * BLOCK);
    Arrays.fill(want, 100, 3 * BLOCK + 100, (byte) 0);
    assertArrayEquals(want, a.read("/mnt/f"));
    a.vfs.fallocate(a.task, fd, FALLOC_FL_ZERO_RANGE, 4 * BLOCK - 10, 2 * BLOCK);
    assertEquals(6 * BLOCK - 10, a.vfs.fstat(a.task, fd).size(), "grows without KEEP_SIZE");
    want = Arrays.copyOf(want, 6 * BLOCK - 10);
    Arrays.fill(want, 4 * BLOCK - 10, 4 * BLOCK, (byte) 0);
    assertArrayEquals(want, a.read("/mnt/f"));
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    a.disk.powerCut();
    a.shutdown();
    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertArrayEquals(want, b.read("/mnt/f"));
    long[] now = blocks(b, "/mnt/f", 6);
    assertArrayEquals(blks, Arrays.copyOf(now, 4), "zeroed in place: the blocks are kept");
    b.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void enospcKeepsWhatWasAllocatedAndTheFilesystemStaysConsistent() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR | O_CREAT, 0640);
    long room = fs(a).blockAlloc().free() - fs(a).blockAlloc().resv();
    KernelException e =
        assertThrows(
            KernelException.class, () -> a.vfs.fallocate(a.task, fd, 0, 0, (room + 10) * BLOCK));
    assertEquals(Errno.ENOSPC, e.errno());
    // ext4_alloc_file_blocks(): each allocation is whole; those before the ENOSPC stay, i_size
    // follows them
    long size = a.vfs.fstat(a.task, fd).size();
    assertEquals(room * BLOCK, size, "every block but the reserve, and i_size up to them");
    assertEquals(fs(a).blockAlloc().resv(), fs(a).blockAlloc().free());
    for (long off : new long[] {0, size - 64 * 1024}) { // the task's buffer holds 1 MiB
      assertEquals(64 * 1024, a.vfs.pread(a.task, fd, a.buf, 64 * 1024, off));
      byte[] got = new byte[64 * 1024];
      a.task.load(a.buf, got, 0, got.length);
      assertArrayEquals(new byte[got.length], got, "zeros at " + off);
    }
    a.vfs.close(a.task, fd);
    a.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }
}
