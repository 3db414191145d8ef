package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelBugException;
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
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ext4_error()} at run time under each {@code errors=}: an extent out of range in a leaf
 * node found when a file is read, one in the inode found at {@code iget}, a bad directory entry and
 * a bogus inode found when the tree is read.
 */
class Ext4ErrorsTest {
  private static final long SECTORS = (4 << 20) / 512;
  private static final int BLOCK = 4096;
  private static final long INO = 11; // the first file's inode (EXT4_FIRST_INO)
  private static final long TABLE = 4; // group 0's inode table
  private static final int I_BLOCK = 0x28;

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

  private long peekInt(long off) throws IOException {
    try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(b, off);
      return b.getInt(0) & 0xffffffffL;
    }
  }

  private int sState() throws IOException {
    return (int) (peekInt(0x38) >>> 16); // s_magic then s_state
  }

  private void pokeInt(long off, int v) throws IOException {
    try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, v), off);
    }
  }

  private static long inodeOff(long ino) {
    return TABLE * BLOCK + (ino - 1) * 256;
  }

  /**
   * /mnt/big with 7 extents (a block every other block), so a depth-1 tree whose leaf node's first
   * extent is made to map block 1 (the descriptors), its tail checksum fixed: only {@code
   * ext4_find_extent()} sees it, when the file is read. Returns the leaf's block.
   */
  private long imageWithBadLeafExtent() throws IOException {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    int fd = a.vfs.open(a.task, "/mnt/big", O_RDWR | O_CREAT, 0640);
    a.task.store(a.buf, Ext4Machine.pattern(BLOCK, 1), 0, BLOCK);
    for (int i = 0; i < 7; i++) {
      assertEquals(BLOCK, a.vfs.pwrite(a.task, fd, a.buf, BLOCK, 2L * i * BLOCK));
    }
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    a.vfs.umount("/mnt");
    a.shutdown();
    long in = inodeOff(INO);
    assertEquals(13 * BLOCK, peekInt(in + 4), "inode 11 is /mnt/big");
    assertEquals(0xF30A | (1L << 16), peekInt(in + I_BLOCK), "root: magic, 1 entry");
    assertEquals(1, peekInt(in + I_BLOCK + 4) >>> 16, "depth 1");
    long leaf = peekInt(in + I_BLOCK + 12 + 4); // ext4_extent_idx.ei_leaf_lo
    assertEquals(0xF30A | (7L << 16), peekInt(leaf * BLOCK), "the leaf: magic, 7 extents");
    pokeInt(leaf * BLOCK + 12 + 8, 1); // the first ext4_extent's ee_start_lo
    fixNodeCrc(leaf);
    assertEquals(1, sState(), "EXT4_VALID_FS before");
    return leaf;
  }

  /** {@code ext4_extent_block_csum_set()} as this ext4 does it: CRC32C of the rest of the block. */
  private void fixNodeCrc(long blk) throws IOException {
    try (FileChannel ch =
        FileChannel.open(image(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.allocate(BLOCK);
      ch.read(b, blk * BLOCK);
      CRC32C c = new CRC32C();
      c.update(b.array(), 0, BLOCK - 4);
      ch.write(
          ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, (int) c.getValue()),
          blk * BLOCK + BLOCK - 4);
    }
  }

  private static String leafError(long leaf) {
    return "EXT4-fs error (device /dev/sda): ext4_find_extent: inode #11: pblk "
        + leaf
        + " bad header/extent: invalid extent entries - magic f30a, entries 7, max 340(340),"
        + " depth 0(0)";
  }

  private static void assertEuclean(Runnable r) {
    KernelException e = assertThrows(KernelException.class, r::run);
    assertTrue(e.errno() == Errno.EIO || e.errno() == Errno.EUCLEAN, e.getMessage());
  }

  @Test
  void remountRoLogsMarksTheSuperblockAndRefusesWrites() throws IOException {
    long leaf = imageWithBadLeafExtent();
    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertEquals(0, b.stats().errorsCount(), "iget checks only the root in the inode");
    assertEuclean(() -> b.read("/mnt/big"));
    Ext4Stats s = b.stats();
    assertEquals(1, s.errorsCount());
    assertEquals(leafError(leaf), s.firstError());
    assertTrue(s.readOnly() && s.errorFs());
    assertEquals(3, sState(), "ERROR_FS on disk at once");
    KernelException w = // SB_RDONLY: open for writing is refused (mnt_want_write())
        assertThrows(KernelException.class, () -> b.vfs.open(b.task, "/mnt/big", O_RDWR, 0));
    assertEquals(Errno.EROFS, w.errno(), w.getMessage());
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(3, sState(), "still marked after umount");
    assertTrue(
        new Ext4().check(image().toString()).stream().anyMatch(p -> p.contains("ERROR_FS")),
        "fsck says so");
    assertTrue(
        new Ext4()
            .check(image().toString())
            .contains(
                "inode 11: extent tree: "
                    + leafError(leaf).substring(leafError(leaf).indexOf("inode #"))),
        "fsck names the bad leaf");
  }

  @Test
  void continueLogsAndMarksButKeepsWriting() throws IOException {
    long leaf = imageWithBadLeafExtent();
    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "errors=continue");
    assertEuclean(() -> b.read("/mnt/big"));
    assertEquals(1, b.stats().errorsCount());
    assertEquals(leafError(leaf), b.stats().firstError());
    assertFalse(b.stats().readOnly());
    b.put("/mnt/new", Ext4Machine.pattern(10, 2));
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(3, sState(), "the umount's superblock keeps ERROR_FS");
    Ext4Machine c = machine(false);
    c.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertArrayEquals(Ext4Machine.pattern(10, 2), c.read("/mnt/new"));
  }

  @Test
  void panicIsBug() throws IOException {
    imageWithBadLeafExtent();
    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "errors=panic");
    KernelBugException e = assertThrows(KernelBugException.class, () -> b.read("/mnt/big"));
    assertTrue(e.getMessage().contains("panic forced after error"), e.getMessage());
    assertTrue(b.mem.health().isDead());
    b.abandon();
    assertEquals(3, sState(), "the error was saved before the panic");
  }

  @Test
  void aBadExtentInTheInodeIsAnIgetErrorAndTheNameStaysUnreachable() throws IOException {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.put("/mnt/f", Ext4Machine.pattern(3 * BLOCK, 5));
    a.put("/mnt/g", Ext4Machine.pattern(10, 6));
    a.vfs.umount("/mnt");
    a.shutdown();
    long in = inodeOff(INO);
    assertEquals(0xF30A | (1L << 16), peekInt(in + I_BLOCK), "/mnt/f: one extent in i_block");
    pokeInt(in + I_BLOCK + 12 + 8, 1); // ee_start_lo: the descriptors

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "errors=continue");
    assertEquals(List.of("g"), b.vfs.readdir("/mnt"), "f's iget failed, the rest is mounted");
    assertEquals(
        "EXT4-fs error (device /dev/sda): ext4_ext_check_inode: inode #11: comm mount: pblk 0 bad"
            + " header/extent: invalid extent entries - magic f30a, entries 1, max 4(4), depth"
            + " 0(0)",
        b.stats().firstError());
    assertArrayEquals(Ext4Machine.pattern(10, 6), b.read("/mnt/g"));
  }

  @Test
  void aBadDirectoryEntryFoundAfterMountGoesReadOnly() throws IOException {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.vfs.mkdir("/mnt/d", 0755);
    a.vfs.sync(); // d gets inode 11 before f's first block does
    a.put("/mnt/d/f", Ext4Machine.pattern(10, 3));
    a.vfs.umount("/mnt");
    a.shutdown();
    long dblk = peekInt(inodeOff(INO) + I_BLOCK); // /mnt/d is inode 11, its block 0
    pokeInt(dblk * BLOCK + 4, 3); // "." gets rec_len 3: ext4_check_dir_entry() fails

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertEquals(List.of(), b.vfs.readdir("/mnt/d"), "the rest of the block is skipped");
    Ext4Stats s = b.stats();
    assertTrue(
        s.firstError()
            .startsWith(
                "EXT4-fs error (device /dev/sda): ext4_readdir: inode #11:" + " directory block 0"),
        s.firstError());
    assertTrue(s.readOnly());
  }

  @Test
  void aBogusInodeIsAnErrorAndStaysUnreachable() throws IOException {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    a.put("/mnt/f", Ext4Machine.pattern(10, 4));
    a.vfs.umount("/mnt");
    a.shutdown();
    pokeInt(inodeOff(INO), 0xc1ff); // i_mode: a socket, which this ext4 never makes

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "errors=continue");
    assertEquals(List.of(), b.vfs.readdir("/mnt"));
    assertEquals(
        "EXT4-fs error (device /dev/sda): ext4_iget: inode #11: comm mount: iget: bogus i_mode"
            + " (140777)",
        b.stats().firstError());
  }
}
