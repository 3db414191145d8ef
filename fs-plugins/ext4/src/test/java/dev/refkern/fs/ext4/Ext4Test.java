package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.fs.ext4.Ext4Machine.pattern;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.FileSystems;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * ext4 on a FileDisk image: the tree and data across kernels, unlink and rename across remounts,
 * ENOSPC, fsck of corrupted images, superblock validation, and a clean kernel (no pins, no leaked
 * pages) after each.
 */
class Ext4Test {
  private static final long SECTORS = (4 << 20) / 512; // a 4 MiB image, 1024 blocks
  private static final int BLOCK = 4096;
  private static final long TABLE = 4; // group 0: superblock, descriptors, 2 bitmaps, then this

  @TempDir Path dir;
  private final List<Ext4Machine> machines = new ArrayList<>();

  /** A kernel on the image: a new one of {@code sectors} if {@code create}, else the existing. */
  private Ext4Machine machine(boolean create, long sectors) {
    Ext4Machine m =
        new Ext4Machine(dir.resolve("k" + machines.size()), image(), create ? sectors : 0);
    machines.add(m);
    return m;
  }

  private Ext4Machine machine(boolean create) {
    return machine(create, SECTORS);
  }

  private Path image() {
    return dir.resolve("ext4.img");
  }

  @AfterEach
  void cleanKernels() {
    for (Ext4Machine m : machines) {
      m.shutdown();
    }
  }

  private static void assertErrno(Errno e, Executable call) {
    KernelException ex = assertThrows(KernelException.class, call);
    assertEquals(e, ex.errno(), ex.getMessage());
  }

  private List<String> fsck() {
    return new Ext4().check(image().toString());
  }

  private void poke(long off, byte[] bytes) throws IOException {
    try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(bytes), off);
    }
  }

  private ByteBuffer peek(long off, int len) throws IOException {
    try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(b, off);
      return b.flip();
    }
  }

  @Test
  void treeAndDataPersistAcrossKernels() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.vfs.mkdir("/mnt/d", 0755);
    a.vfs.mkdir("/mnt/d/e", 0700);
    byte[] top = pattern(10_000, 1);
    byte[] big = pattern(20 * BLOCK + 123, 2); // past the 12 direct blocks: an indirect block
    byte[] small = pattern(5, 3);
    a.put("/mnt/top", top);
    a.put("/mnt/d/big", big);
    a.put("/mnt/d/e/small", small);
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), fsck());

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertEquals(List.of("d", "top"), b.vfs.readdir("/mnt"));
    assertEquals(List.of("big", "e"), b.vfs.readdir("/mnt/d"));
    assertEquals(List.of("small"), b.vfs.readdir("/mnt/d/e"));
    assertArrayEquals(top, b.read("/mnt/top"));
    assertArrayEquals(big, b.read("/mnt/d/big"));
    assertArrayEquals(small, b.read("/mnt/d/e/small"));
    assertEquals(0700, b.vfs.stat("/mnt/d/e").mode() & 07777);
    assertEquals(0640, b.vfs.stat("/mnt/top").mode() & 07777);
    assertEquals(3, b.vfs.stat("/mnt/d").nlink(), "itself, '.', and e's '..'");
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(List.of(), fsck());
  }

  @Test
  void fsyncAloneMakesANewFileAndItsNameDurable() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.vfs.mkdir("/mnt/d", 0755);
    byte[] data = pattern(3 * BLOCK + 7, 4);
    a.put("/mnt/d/f", data);
    a.disk.powerCut(); // no umount: only what fsync made durable
    a.shutdown();

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertArrayEquals(data, b.read("/mnt/d/f"));
  }

  /**
   * {@code __ext4_new_inode()} writes a fresh raw inode: a directory reusing a freed extent file's
   * inode must not keep its {@code EXT4_EXTENTS_FL}, or the next mount reads its block list as an
   * extent header and fails with {@code EUCLEAN}.
   */
  @Test
  void aDirectoryReusingAFreedExtentFilesInodeMountsAgain() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.put("/mnt/f", pattern(2 * BLOCK, 8));
    a.vfs.sync();
    a.vfs.unlink("/mnt/f");
    a.vfs.sync(); // inode 11 free again
    a.vfs.mkdir("/mnt/d", 0755); // gets inode 11
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), fsck());

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertEquals(List.of("d"), b.vfs.readdir("/mnt"));
  }

  /** A file reusing a freed file's inode does not inherit its extent tree (its freed blocks). */
  @Test
  void aFileReusingAFreedFilesInodeHasNoneOfItsBlocks() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.put("/mnt/f", pattern(3 * BLOCK, 9));
    a.vfs.sync();
    a.vfs.unlink("/mnt/f");
    a.vfs.sync();
    a.vfs.close(a.task, a.vfs.open(a.task, "/mnt/g", O_RDWR | O_CREAT, 0640)); // inode 11, empty
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), fsck(), "no block of the freed file is mapped by the new one");

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertEquals(0, b.read("/mnt/g").length);
  }

  @Test
  void unlinkRenameAndRmdirSurviveRemountAndFreeTheirBlocks() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.vfs.mkdir("/mnt/d", 0755);
    a.vfs.mkdir("/mnt/gone", 0755);
    a.put("/mnt/keep", pattern(BLOCK, 5));
    a.put("/mnt/drop", pattern(2 * BLOCK, 6));
    a.put("/mnt/old", pattern(100, 7));
    a.vfs.sync();
    a.vfs.unlink("/mnt/drop");
    a.vfs.rename("/mnt/old", "/mnt/d/new");
    a.vfs.rmdir("/mnt/gone");
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), fsck(), "freed blocks and inodes are free in the bitmaps");

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertEquals(List.of("d", "keep"), b.vfs.readdir("/mnt"));
    assertEquals(List.of("new"), b.vfs.readdir("/mnt/d"));
    assertArrayEquals(pattern(100, 7), b.read("/mnt/d/new"));
    assertArrayEquals(pattern(BLOCK, 5), b.read("/mnt/keep"));
  }

  @Test
  void enospcOnAFullFilesystemKeepsEarlierData() {
    // 64 blocks: 5 of metadata, 1 for the root directory, 58 for data
    Ext4Machine a = machine(true, 64 * BLOCK / 512);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs,blocks_per_group=64,inodes_per_group=16");
    byte[] first = pattern(10 * BLOCK, 8);
    a.put("/mnt/first", first);
    int fd = a.vfs.open(a.task, "/mnt/fill", O_RDWR | O_CREAT, 0600);
    byte[] more = pattern(60 * BLOCK, 9);
    long n = a.write(fd, more, 0);
    assertTrue(n > 0 && n < more.length, "a short write up to the last free block: " + n);
    assertErrno(Errno.ENOSPC, () -> a.write(fd, pattern(BLOCK, 10), n));
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    assertArrayEquals(first, a.read("/mnt/first"));
    a.vfs.unlink("/mnt/fill");
    a.put("/mnt/again", pattern(BLOCK, 11)); // the unlinked file's blocks are free again
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), fsck());

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertArrayEquals(first, b.read("/mnt/first"));
    assertArrayEquals(pattern(BLOCK, 11), b.read("/mnt/again"));
  }

  @Test
  void aPartialOverwriteOfAnUncachedBlockKeepsTheRestOfIt() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    byte[] data = pattern(2 * BLOCK, 12);
    a.put("/mnt/f", data);
    a.vfs.umount("/mnt");
    a.shutdown();

    Ext4Machine b = machine(false); // nothing cached: write_begin reads the block around
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    int fd = b.vfs.open(b.task, "/mnt/f", O_RDWR, 0);
    assertEquals(10, b.write(fd, pattern(10, 99), BLOCK + 100));
    b.vfs.fsync(b.task, fd);
    b.vfs.close(b.task, fd);
    System.arraycopy(pattern(10, 99), 0, data, BLOCK + 100, 10);
    assertArrayEquals(data, b.read("/mnt/f"));
  }

  @Test
  void writesPastTheLastExtentBlockAreEfbig() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR | O_CREAT, 0600);
    long max = 0xFFFFFFFFL * BLOCK; // ee_block is 32 bits: ext4_max_size()
    assertErrno(Errno.EFBIG, () -> a.write(fd, pattern(10, 1), max));
    assertEquals(1, a.write(fd, pattern(1, 1), max - 1));
    a.vfs.close(a.task, fd);
  }

  /** Two files of one block each, inodes 11 and 12, then unmounted. */
  private void twoFiles() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.put("/mnt/a", pattern(100, 1));
    a.put("/mnt/b", pattern(100, 2));
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), fsck());
  }

  /** The first block of the inode's first extent ({@code ee_start_lo} in {@code i_block}). */
  private long blockOf(long ino) throws IOException {
    return peek(TABLE * BLOCK + (ino - 1) * 256 + 0x28 + 20, 4).getInt();
  }

  @Test
  void checkFindsABlockFreeInTheBitmap() throws IOException {
    twoFiles();
    long blk = blockOf(11);
    ByteBuffer bm = peek(2 * BLOCK + blk / 8, 1);
    poke(2 * BLOCK + blk / 8, new byte[] {(byte) (bm.get() & ~(1 << (blk % 8)))});
    List<String> problems = fsck();
    assertTrue(
        problems.contains("block " + blk + " of inode 11 is free in the block bitmap"),
        problems.toString());
  }

  @Test
  void checkFindsABlockOwnedTwice() throws IOException {
    twoFiles();
    long blk = blockOf(11);
    ByteBuffer p = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, (int) blk);
    poke(TABLE * BLOCK + (12 - 1) * 256 + 0x28 + 20, p.array());
    List<String> problems = fsck();
    assertTrue(
        problems.contains("block " + blk + " owned by inodes 11 and 12"), problems.toString());
  }

  @Test
  void checkFindsAnEntryOfAFreeInode() throws IOException {
    twoFiles();
    ByteBuffer bm = peek(3 * BLOCK + 1, 1); // inode 12 is bit 11
    poke(3 * BLOCK + 1, new byte[] {(byte) (bm.get() & ~(1 << 3))});
    List<String> problems = fsck();
    assertTrue(
        problems.contains("directory 2: entry 'b' points at free inode 12"), problems.toString());
  }

  @Test
  void mountWithoutTheMagicIsEinval() throws IOException {
    twoFiles();
    poke(0x38, new byte[] {0, 0});
    Ext4Machine b = machine(false);
    KernelException e =
        assertThrows(KernelException.class, () -> b.vfs.mount("ext4", "/dev/sda", "/mnt", ""));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(e.getMessage().contains("VFS: Can't find ext4 filesystem"), e.getMessage());
  }

  @Test
  void mountWithABadSuperblockChecksumIsEuclean() throws IOException {
    twoFiles();
    poke(0x100, new byte[] {42});
    Ext4Machine b = machine(false);
    assertErrno(Errno.EUCLEAN, () -> b.vfs.mount("ext4", "/dev/sda", "/mnt", ""));
    assertFalse(fsck().isEmpty());
  }

  @Test
  void mountWithImpossibleCountsIsEuclean() throws IOException {
    twoFiles();
    ByteBuffer sb = peek(0, 1024);
    sb.putInt(0xC, sb.getInt(0x4) + 1); // more free blocks than blocks
    CRC32C c = new CRC32C();
    c.update(sb.array(), 0, 0x1FC);
    sb.putInt(0x1FC, (int) c.getValue());
    poke(0, sb.array());
    Ext4Machine b = machine(false);
    KernelException e =
        assertThrows(KernelException.class, () -> b.vfs.mount("ext4", "/dev/sda", "/mnt", ""));
    assertEquals(Errno.EUCLEAN, e.errno());
    assertTrue(e.getMessage().contains("superblock"), e.getMessage());
  }

  @Test
  void mountsChooseStablePagesForPinnedFolios() {
    assertEquals("wait", new Ext4().defaultPinnedWriteback());
    assertInstanceOf(Ext4.class, FileSystems.standard().get("ext4"), "found by ServiceLoader");
  }
}
