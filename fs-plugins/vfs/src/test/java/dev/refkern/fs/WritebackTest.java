package dev.refkern.fs;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.sched.Clock;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.Vmscan;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The flusher ({@code fs/fs-writeback.c}), {@code balance_dirty_pages()}, {@code sync}/{@code
 * syncfs} and errseq writeback errors, through the VFS on the seeded simulation and its clock.
 */
class WritebackTest {
  private static final int PAGE = Page.PAGE_SIZE;
  private static final long SEC = Clock.HZ;

  @TempDir Path dir;
  private SimScheduler sim;
  private VirtualMemory vm;
  private PhysicalMemory mem;
  private Vfs vfs;
  private BackedFs fs;
  private Task task;
  private long buf;

  private void boot(String cmdline, int bufPages) {
    sim = new SimScheduler(0x5eed);
    vm = VirtualMemory.boot(BootParams.parse(cmdline), dir, false, sim);
    mem = vm.physicalMemory();
    vfs = new Vfs(vm);
    fs = new BackedFs();
    vfs.fileSystems().register(fs);
    vfs.mkdir("/mnt", 0755);
    vfs.mount("backedfs", "disk0", "/mnt", "");
    task = vm.createTask("t");
    buf = task.mmapAnon((long) bufPages * PAGE);
    byte[] b = new byte[bufPages * PAGE];
    Arrays.fill(b, (byte) 0x5a);
    task.store(buf, b, 0, b.length);
  }

  @AfterEach
  void down() {
    if (vfs != null) {
      vfs.shutdown();
      task.exit();
      fs.destroy();
      mem.close();
      sim.shutdown();
    }
  }

  private int create(String path) {
    return vfs.open(task, path, O_CREAT | O_RDWR, 0644);
  }

  private SuperBlock mnt() {
    return vfs.mounts().get(1).sb();
  }

  private AddressSpace mapping(String name) {
    return mnt().root().lookup(name).mapping();
  }

  @Test
  void kupdateWritesAnInodeOnceItIsOlderThanDirtyExpire() {
    boot("mem=64M", 1);
    int fd = create("/mnt/f");
    assertEquals(PAGE, vfs.write(task, fd, buf, PAGE));
    AddressSpace m = mapping("f");
    assertEquals(1, m.nrDirty());
    assertEquals(1, vfs.writeback().nrDirtyInodes(mnt()));

    sim.advance(25 * SEC);
    assertEquals(1, m.nrDirty(), "not expired yet: dirty_expire_centisecs is 30 s");
    assertNull(fs.block(m, 0));

    sim.advance(10 * SEC); // t = 35 s
    assertEquals(0, m.nrDirty(), "written by the periodic writeback");
    assertEquals(0x5a, fs.block(m, 0)[0]);
    assertEquals(0, vfs.writeback().nrDirtyInodes(mnt()), "a clean inode leaves b_dirty");
    assertEquals(1, vfs.writeback().pagesWritten(mnt()));

    long now = sim.clock().jiffies();
    sim.runUntilIdle();
    assertEquals(now, sim.clock().jiffies(), "nothing dirty: the flusher's timer is not re-armed");
    vfs.close(task, fd);
  }

  @Test
  void dirtyExpireAndWritebackIntervalComeFromTheCommandLine() {
    boot("mem=64M vm.dirty_expire_centisecs=100 vm.dirty_writeback_centisecs=100", 1);
    int fd = create("/mnt/f");
    vfs.write(task, fd, buf, PAGE);
    sim.advance(3 * SEC);
    assertEquals(0, mapping("f").nrDirty(), "expired after 1 s, flushed within 1 s more");
    vfs.close(task, fd);
  }

  @Test
  void aWriterAboveDirtyRatioIsPausedAndDirtyPagesStayBounded() {
    boot("mem=64M", 16);
    fs.jiffiesPerWrite = 1; // a 4 MiB/s disk: the writer outruns it
    Writeback wb = vfs.writeback();
    int fd = create("/mnt/big");
    long max = 0;
    long limit = 0;
    for (int i = 0; i < 384; i++) { // 24 MiB in 64 KiB writes
      assertEquals(16L * PAGE, vfs.write(task, fd, buf, 16L * PAGE));
      max = Math.max(max, wb.nrDirtyAndWriteback());
      limit = Math.max(limit, wb.dirtyThresh());
    }
    assertTrue(wb.pauses() > 0, "the writer crossed dirty_ratio and was paused");
    assertTrue(wb.pausedJiffies() >= wb.pauses(), "each pause lasts at least a jiffy");
    assertTrue(max <= limit + 16, "dirty pages " + max + " stay under the limit " + limit);
    assertTrue(6144 > limit, "the test writes more than the limit: " + limit);
    vfs.fsync(task, fd);
    assertEquals(0, mapping("big").nrDirty());
    vfs.close(task, fd);
  }

  @Test
  void fsyncReportsAWritebackErrorOncePerOpenFileAndTheFolioIsCleanAnyway() {
    boot("mem=64M", 1);
    int fd = create("/mnt/f");
    int before = vfs.open(task, "/mnt/f", O_RDONLY, 0);
    vfs.write(task, fd, buf, PAGE);
    long lost = mem.vmstat().get(VmItem.WB_LOST_BYTES);
    fs.failWrites.set(1);

    KernelException e = assertThrows(KernelException.class, () -> vfs.fsync(task, fd));
    assertEquals(Errno.EIO, e.errno());
    assertDoesNotThrow(() -> vfs.fsync(task, fd), "reported once per open file");
    AddressSpace m = mapping("f");
    assertEquals(0, m.nrDirty(), "not redirtied, as ext4/xfs/btrfs do");
    assertFalse(m.taggedDirty());
    assertEquals(lost + PAGE, mem.vmstat().get(VmItem.WB_LOST_BYTES));
    assertNull(fs.block(m, 0), "the data never reached the disk");

    assertEquals(
        Errno.EIO, assertThrows(KernelException.class, () -> vfs.fdatasync(task, before)).errno());
    assertDoesNotThrow(() -> vfs.fsync(task, before));
    int after = vfs.open(task, "/mnt/f", O_RDONLY, 0);
    assertDoesNotThrow(() -> vfs.fsync(task, after), "opened after the error");

    assertEquals(
        Errno.EIO, assertThrows(KernelException.class, () -> vfs.syncfs(task, fd)).errno());
    assertDoesNotThrow(() -> vfs.syncfs(task, fd), "s_wb_err: once per file too");
    int later = vfs.open(task, "/mnt/f", O_RDONLY, 0);
    assertDoesNotThrow(() -> vfs.syncfs(task, later), "opened after syncfs saw the error");
    // nobody had seen s_wb_err when `after` was opened, so errseq_sample() gave it 0: it reports
    assertEquals(
        Errno.EIO, assertThrows(KernelException.class, () -> vfs.syncfs(task, after)).errno());
    vfs.close(task, fd);
    vfs.close(task, before);
    vfs.close(task, after);
    vfs.close(task, later);
  }

  @Test
  void anErrorTheFlusherHitIsReportedByTheNextFsync() {
    boot("mem=64M", 1);
    int fd = create("/mnt/f");
    vfs.write(task, fd, buf, PAGE);
    fs.failWrites.set(1);
    sim.advance(35 * SEC);
    assertEquals(1, fs.writes.get(), "the flusher wrote, and failed");
    assertEquals(0, mapping("f").nrDirty());
    assertEquals(Errno.EIO, assertThrows(KernelException.class, () -> vfs.fsync(task, fd)).errno());
    assertDoesNotThrow(() -> vfs.fsync(task, fd));
    vfs.close(task, fd);
  }

  @Test
  void syncWritesEveryDirtyInodeOfEveryMount() {
    boot("mem=64M", 2);
    int a = create("/mnt/a");
    int b = create("/mnt/b");
    vfs.write(task, a, buf, 2L * PAGE);
    vfs.write(task, b, buf, PAGE);
    assertEquals(2, vfs.writeback().nrDirtyInodes(mnt()));
    vfs.sync();
    assertEquals(0, mapping("a").nrDirty());
    assertEquals(0, mapping("b").nrDirty());
    assertNotNull(fs.block(mapping("a"), 1));
    assertNotNull(fs.block(mapping("b"), 0));
    assertEquals(0, vfs.writeback().nrDirtyInodes(mnt()));
    assertEquals(0, sim.clock().jiffies(), "sync needs no flusher wake-up");
    vfs.close(task, a);
    vfs.close(task, b);
  }

  @Test
  void umountWritesBackAndStopsTheFlusherAndShutdownLeavesNoThread() {
    boot("mem=64M", 1);
    int fd = create("/mnt/f");
    vfs.write(task, fd, buf, PAGE);
    sim.advance(35 * SEC); // the flusher has run once
    vfs.pwrite(task, fd, buf, PAGE, PAGE); // and its timer is armed again
    AddressSpace m = mapping("f");
    vfs.close(task, fd);
    long now = sim.clock().jiffies();
    vfs.umount("/mnt");
    assertEquals(0x5a, fs.block(m, 1)[0], "sync_filesystem() at umount");
    sim.runUntilIdle();
    assertEquals(now, sim.clock().jiffies(), "no flusher timer left armed");

    vfs.shutdown();
    assertFalse(vfs.writeback().running());
    sim.runUntilIdle();
    // sim workers exit when idle; this guards against one blocked for good
    assertEquals(0, writebackWorkers(), "a writeback worker thread is left");
  }

  private static long writebackWorkers() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith("kworker/writeback"))
        .count();
  }

  @Test
  void reclaimWritesADirtyFilePageThroughTheFilesystem() {
    boot("mem=64M", 4);
    int fd = create("/mnt/f");
    vfs.write(task, fd, buf, 4L * PAGE);
    AddressSpace m = mapping("f");
    assertEquals(4, m.nrDirty());
    vm.lru().lruAddDrainAll();
    Vmscan.Result r = vm.vmscan().shrinkNode(64);
    assertTrue(r.written() >= 1, r.toString());
    assertEquals(0, m.nrDirty(), "pageout() wrote them: " + r);
    for (int i = 0; i < 4; i++) {
      assertEquals(0x5a, fs.block(m, i)[0]);
    }
    assertEquals(0, vfs.writeback().pagesWritten(mnt()), "reclaim, not the flusher");
    vfs.close(task, fd);
  }

  @Test
  void tmpfsHasNoFlusherAndIsNeverThrottled() {
    boot("mem=64M", 1);
    int fd = create("/t");
    vfs.write(task, fd, buf, PAGE);
    Inode root = vfs.mounts().get(0).sb().root();
    assertEquals(0, vfs.writeback().nrDirtyInodes(root.sb()));
    assertEquals(0, vfs.writeback().pauses());
    vfs.close(task, fd);
  }
}
