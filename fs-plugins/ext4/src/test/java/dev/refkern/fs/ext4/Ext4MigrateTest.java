package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.Page;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compaction and {@code move_pages()} migrating an ext4 page-cache folio: {@code
 * buffer_migrate_folio()} moves the buffer heads with it, so the next write of the new folio
 * reaches the disk.
 */
class Ext4MigrateTest {
  private static final long SECTORS = (4 << 20) / 512;
  private static final int PAGE = Page.PAGE_SIZE;

  @TempDir Path dir;
  private final List<Ext4Machine> machines = new ArrayList<>();

  @AfterEach
  void clean() {
    for (Ext4Machine m : machines) {
      m.shutdown();
    }
  }

  private Ext4Machine machine(boolean create) {
    Ext4Machine m =
        new Ext4Machine(
            dir.resolve("k" + machines.size()), dir.resolve("ext4.img"), create ? SECTORS : 0);
    machines.add(m);
    return m;
  }

  /** The pfn caching index 0 (the lookup's reference dropped again). */
  private static long cached(Ext4Machine m, Inode inode) {
    long pfn = m.vm.filemap().filemapGetFolio(inode.mapping(), 0);
    assertTrue(pfn >= 0, "index 0 is cached");
    m.mem.allocator().putPage(pfn);
    return pfn;
  }

  @Test
  void aWriteAfterTheFolioMigratedReachesTheDisk() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
    byte[] first = new byte[PAGE];
    Arrays.fill(first, (byte) 'A');
    a.put("/mnt/f", first);
    Inode inode = a.inode("/mnt/f");
    long src = cached(a, inode);
    a.vm.lru().lruAddDrainAll();

    assertEquals(0, a.vm.migrateFolio(src, true), "migrated");
    long dst = cached(a, inode);
    assertNotEquals(src, dst, "a new folio holds index 0");

    byte[] second = new byte[PAGE];
    Arrays.fill(second, (byte) 'B');
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR, 0);
    assertEquals(PAGE, a.write(fd, second, 0));
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
    assertFalse(inode.mapping().folios().folioTestDirty(dst), "written back");
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), new Ext4().check(dir.resolve("ext4.img").toString()));

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    assertArrayEquals(second, b.read("/mnt/f"), "the disk holds the write made after migration");
  }
}
