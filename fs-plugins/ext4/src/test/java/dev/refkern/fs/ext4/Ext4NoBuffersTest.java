package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.KernelBugException;
import dev.refkern.mm.MemmapInspection;
import dev.refkern.mm.Page;
import dev.refkern.mm.vm.Foll;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seed 001's objective O2 on ext4: a GUP user dirties a folio whose buffers writeback cleaned and
 * reclaim released ({@code unpin_user_pages_dirty_lock()} then {@code set_page_dirty()}, no {@code
 * ->page_mkwrite}). Before 5.18 the next writeback hit {@code BUG()}; since cc5095747edf it warns,
 * cleans the folio and the device's data never reaches the disk.
 */
class Ext4NoBuffersTest {
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

  /** State after the device wrote {@code 'D'} into a pinned folio without buffers and unpinned. */
  private record Dirtied(int fd, long addr, long pfn, Inode inode) {}

  private Dirtied dirtyWithoutBuffers(Ext4Machine m) {
    byte[] app = new byte[PAGE];
    Arrays.fill(app, (byte) 'A');
    m.put("/mnt/f", app);
    int fd = m.vfs.open(m.task, "/mnt/f", O_RDWR, 0);
    long addr = m.vfs.mmap(m.task, 0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    long[] pages = new long[1];
    assertEquals(1, m.vm.gup().pinUserPages(m.task, addr, 1, Foll.FOLL_WRITE, pages));
    Inode inode = m.inode("/mnt/f");
    m.vfs.fsync(m.task, fd); // writeback cleans the pinned folio (pinned_writeback=ignore)
    assertFalse(inode.mapping().folios().folioTestDirty(pages[0]), "clean after fsync");
    assertTrue(m.ext4().releaseFolio(inode, pages[0]), "reclaim released the clean buffers");
    byte[] dma = new byte[PAGE];
    Arrays.fill(dma, (byte) 'D');
    m.mem.ram().write(pages[0], 0, dma, 0, PAGE); // the device writes
    m.vm.gup().unpinUserPagesDirtyLock(pages, 1, true); // set_page_dirty(), no ->page_mkwrite
    assertTrue(inode.mapping().folios().folioTestDirty(pages[0]), "dirty without buffers");
    return new Dirtied(fd, addr, pages[0], inode);
  }

  @Test
  void mainlineWarnsCleansTheFolioAndLosesTheDevicesData() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs,pinned_writeback=ignore");
    Dirtied d = dirtyWithoutBuffers(a);
    long warns = a.mem.health().warnCount();

    a.vfs.fsync(a.task, d.fd()); // ext4_writepages(): ext4_warning, ClearPageDirty, no I/O

    assertEquals(warns + 1, a.mem.health().warnCount());
    String w = a.mem.health().warnings().get(a.mem.health().warnings().size() - 1);
    assertTrue(w.contains("page 0 does not have buffers attached"), w);
    assertFalse(d.inode().mapping().folios().folioTestDirty(d.pfn()), "cleaned");
    Ext4Stats s = a.stats();
    assertEquals(1, s.foliosWithoutBuffers());
    assertEquals(PAGE, s.bytesLostWithoutBuffers());
    assertFalse(a.mem.health().isDead());
    a.vfs.munmap(a.task, d.addr(), PAGE);
    a.vfs.close(a.task, d.fd());
    a.vfs.umount("/mnt");
    a.shutdown();
    assertEquals(List.of(), new Ext4().check(dir.resolve("ext4.img").toString()));

    Ext4Machine b = machine(false);
    b.vfs.mount("ext4", "/dev/sda", "/mnt", "");
    byte[] app = new byte[PAGE];
    Arrays.fill(app, (byte) 'A');
    assertArrayEquals(app, b.read("/mnt/f"), "the disk still holds the app's data, not the DMA");
  }

  @Test
  void before518WritebackHitsBugAndTheMemmapStaysForPostMortem() {
    Ext4Machine a = machine(true);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs,pinned_writeback=ignore,nobuffers=bug");
    Dirtied d = dirtyWithoutBuffers(a);

    KernelBugException bug =
        assertThrows(KernelBugException.class, () -> a.vfs.fsync(a.task, d.fd()));
    assertTrue(bug.getMessage().contains("page_buffers()"), bug.getMessage());
    assertTrue(a.mem.health().isDead(), "the kernel stopped");
    a.abandon();
    try (MemmapInspection in = MemmapInspection.open(a.state)) {
      assertEquals(MemmapInspection.KernelState.CRASHED, in.state());
      in.verify();
      assertNotEquals(0, in.memmap().mapping(d.pfn()), "the folio is still the file's");
      assertEquals(0, in.memmap().index(d.pfn()));
    }
  }
}
