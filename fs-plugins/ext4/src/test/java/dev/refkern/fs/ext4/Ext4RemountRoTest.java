package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.Falloc;
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
 * {@code errors=remount-ro}: once a run-time error set {@code SB_RDONLY}, every change through the
 * VFS fails with {@code EROFS} ({@code mnt_want_write()}, or the journal start of {@code
 * ext4_setattr()}/{@code ext4_fallocate()}/{@code write_begin} for an already open file), and
 * nothing changes.
 */
class Ext4RemountRoTest {
  private static final long SECTORS = (4 << 20) / 512;
  private static final int BLOCK = 4096;
  private static final long INO = 11;
  private static final long TABLE = 4;
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

  private void pokeInt(long off, int v) throws IOException {
    try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, v), off);
    }
  }

  /**
   * /mnt/big with a depth-1 extent tree whose leaf maps block 1 (its checksum fixed), so reading it
   * is an {@code ext4_error()}; /mnt/a, /mnt/d and /mnt/d/e beside it.
   */
  private void imageWithBadLeafExtent() throws IOException {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    int fd = a.vfs.open(a.task, "/mnt/big", O_RDWR | O_CREAT, 0640);
    a.task.store(a.buf, Ext4Machine.pattern(BLOCK, 1), 0, BLOCK);
    for (int i = 0; i < 7; i++) {
      assertEquals(BLOCK, a.vfs.pwrite(a.task, fd, a.buf, BLOCK, 2L * i * BLOCK));
    }
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    a.put("/mnt/a", Ext4Machine.pattern(100, 2));
    a.vfs.mkdir("/mnt/d", 0755);
    a.vfs.mkdir("/mnt/d/e", 0755);
    a.vfs.umount("/mnt");
    a.shutdown();
    long in = TABLE * BLOCK + (INO - 1) * 256;
    assertEquals(1, peekInt(in + I_BLOCK + 4) >>> 16, "depth 1");
    long leaf = peekInt(in + I_BLOCK + 12 + 4);
    pokeInt(leaf * BLOCK + 12 + 8, 1);
    try (FileChannel ch =
        FileChannel.open(image(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.allocate(BLOCK);
      ch.read(b, leaf * BLOCK);
      CRC32C c = new CRC32C();
      c.update(b.array(), 0, BLOCK - 4);
      ch.write(
          ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, (int) c.getValue()),
          leaf * BLOCK + BLOCK - 4);
    }
  }

  private static void assertRofs(String what, Executable op) {
    KernelException e = assertThrows(KernelException.class, op, what);
    assertEquals(Errno.EROFS, e.errno(), what + ": " + e.getMessage());
  }

  @Test
  void afterRemountRoEveryChangeIsErofsAndNothingChanges() throws IOException {
    imageWithBadLeafExtent();
    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    int fd = b.vfs.open(b.task, "/mnt/a", O_RDWR, 0); // open for writing before the error
    KernelException err = assertThrows(KernelException.class, () -> b.read("/mnt/big"));
    assertEquals(Errno.EUCLEAN, err.errno(), err.getMessage());
    assertTrue(b.stats().readOnly(), "errors=remount-ro went read-only");
    assertTrue(b.mount().sb().readOnly(), "SB_RDONLY is set on the VFS superblock");

    assertRofs("create", () -> b.vfs.open(b.task, "/mnt/new", O_RDWR | O_CREAT, 0640));
    assertRofs("mkdir", () -> b.vfs.mkdir("/mnt/nd", 0755));
    assertRofs("rmdir", () -> b.vfs.rmdir("/mnt/d/e"));
    assertRofs("unlink", () -> b.vfs.unlink("/mnt/a"));
    assertRofs("rename", () -> b.vfs.rename("/mnt/a", "/mnt/b"));
    assertRofs("link", () -> b.vfs.link("/mnt/a", "/mnt/a2"));
    assertRofs("open O_TRUNC", () -> b.vfs.open(b.task, "/mnt/a", O_RDWR | O_TRUNC, 0));
    assertRofs("ftruncate", () -> b.vfs.ftruncate(b.task, fd, 10));
    assertRofs("write", () -> b.vfs.pwrite(b.task, fd, b.buf, 10, 0));
    assertRofs("fallocate", () -> b.vfs.fallocate(b.task, fd, 0, 0, BLOCK));
    assertRofs(
        "punch hole",
        () ->
            b.vfs.fallocate(
                b.task, fd, Falloc.FALLOC_FL_PUNCH_HOLE | Falloc.FALLOC_FL_KEEP_SIZE, 0, 10));
    b.vfs.close(b.task, fd);

    assertEquals(List.of("a", "big", "d"), b.vfs.readdir("/mnt").stream().sorted().toList());
    assertEquals(List.of("e"), b.vfs.readdir("/mnt/d"));
    assertArrayEquals(Ext4Machine.pattern(100, 2), b.read("/mnt/a"), "/mnt/a unchanged");
    b.vfs.umount("/mnt");
    b.shutdown();
  }
}
