package dev.refkern.fs.flat;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.Bio;
import dev.refkern.block.BioOp;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.block.ForwardingBlockDevice;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Mount;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.spi.IomapOps;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code O_DIRECT} on flatfs ({@code iomap_dio_rw()}): coherence with the page cache, alignment,
 * holes, {@code O_DSYNC} across a power cut, the buffered fallback and {@code dio.stable_bounce};
 * every kernel ends with no pin held and no page leaked.
 */
class FlatFsDirectIoTest {
  private static final long SECTORS = (1 << 20) / 512;
  private static final int PAGE = 4096;

  @TempDir Path dir;
  private final List<Machine> machines = new ArrayList<>();

  /** A device that runs a hook between a write bio's submission and its consumption. */
  private static final class HoldingDisk extends ForwardingBlockDevice {
    final FileDisk disk;
    Runnable inFlight; // run once, for the next data write

    HoldingDisk(FileDisk disk) {
      super(disk);
      this.disk = disk;
    }

    @Override
    public void submitBio(Bio bio) {
      disk.submitBio(bio); // protection information is generated now
      if (inFlight != null && bio.op() == BioOp.WRITE && bio.size() > 0) {
        Runnable r = inFlight;
        inFlight = null;
        r.run();
      }
      disk.consumeAll();
    }
  }

  private final class Machine {
    final VirtualMemory vm;
    final PhysicalMemory mem;
    final long freeAtStart;
    final FileDisk disk;
    final HoldingDisk holding;
    final Vfs vfs;
    final Task task;
    final long buf;
    Mount mnt;
    boolean down;

    Machine(boolean create, String cmdline, DiskOptions opts) {
      vm = VirtualMemory.boot(BootParams.parse(cmdline), dir.resolve("k" + machines.size()), false);
      mem = vm.physicalMemory();
      vm.lru().lruAddDrainAll();
      freeAtStart = mem.allocator().nrFreePages();
      Path img = dir.resolve("flat.img");
      disk = create ? FileDisk.create(mem, img, SECTORS, opts) : FileDisk.open(mem, img, opts);
      holding = new HoldingDisk(disk);
      vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/flat0", holding);
      task = vm.createTask("t");
      buf = task.mmapAnon(1 << 17);
      machines.add(this);
    }

    Machine(boolean create) {
      this(create, "mem=64M", DiskOptions.defaults());
    }

    void mount(String opts) {
      mnt = vfs.mount("flatfs", "/dev/flat0", "/mnt", opts);
    }

    Inode inode(String name) {
      return mnt.sb().root().lookup(name);
    }

    long pwrite(int fd, byte[] data, long off) {
      task.store(buf, data, 0, data.length);
      return vfs.pwrite(task, fd, buf, data.length, off);
    }

    byte[] pread(int fd, int len, long off) {
      long n = vfs.pread(task, fd, buf, len, off);
      byte[] b = new byte[(int) n];
      task.load(buf, b, 0, b.length);
      return b;
    }

    void shutdown() {
      if (down) {
        return;
      }
      down = true;
      vfs.shutdown();
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

  @AfterEach
  void cleanKernels() {
    for (Machine m : machines) {
      m.shutdown();
    }
  }

  private static byte[] pattern(int len, int seed) {
    byte[] b = new byte[len];
    for (int i = 0; i < len; i++) {
      b[i] = (byte) (i * 13 + seed);
    }
    return b;
  }

  private static void assertErrno(Errno e, Executable call) {
    KernelException ex = assertThrows(KernelException.class, call);
    assertEquals(e, ex.errno(), ex.getMessage());
  }

  @Test
  void directWriteInvalidatesTheCacheAndDirectReadSeesDirtyCache() {
    Machine a = new Machine(true);
    a.mount("mkfs,extent=64k");
    int buffered = a.vfs.open(a.task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    int direct = a.vfs.open(a.task, "/mnt/f", O_RDWR | O_DIRECT, 0);
    a.pwrite(buffered, pattern(2 * PAGE, 1), 0);
    assertArrayEquals(pattern(2 * PAGE, 1), a.pread(buffered, 2 * PAGE, 0)); // cached

    assertEquals(2 * PAGE, a.pwrite(direct, pattern(2 * PAGE, 2), 0));
    assertEquals(0, a.inode("f").mapping().nrPages(), "kiocb_invalidate_pages() emptied it");
    assertArrayEquals(pattern(2 * PAGE, 2), a.pread(buffered, 2 * PAGE, 0), "buffered sees it");

    a.pwrite(buffered, pattern(PAGE, 3), PAGE); // dirty in the cache only
    byte[] expect = Arrays.copyOf(pattern(2 * PAGE, 2), 2 * PAGE);
    System.arraycopy(pattern(PAGE, 3), 0, expect, PAGE, PAGE);
    assertArrayEquals(expect, a.pread(direct, 2 * PAGE, 0), "written back before the read");
    assertArrayEquals(expect, a.disk.peek(sectorOf(a, "f"), 16));
    assertEquals(0, a.vfs.directIo().fallbacks());
  }

  private static long sectorOf(Machine m, String name) {
    Iomap map = new Iomap();
    m.mnt.sb().iomapOps().iomapBegin(m.inode(name), 0, PAGE, IomapOps.IOMAP_READ, map);
    return map.sector(0);
  }

  @Test
  void misalignedBufferOffsetOrLengthIsEinval() {
    Machine a = new Machine(true);
    a.mount("mkfs");
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR | O_CREAT | O_DIRECT, 0644);
    a.pwrite(fd, pattern(PAGE, 4), 0);
    assertErrno(Errno.EINVAL, () -> a.vfs.pwrite(a.task, fd, a.buf + 100, PAGE, 0));
    assertErrno(Errno.EINVAL, () -> a.vfs.pwrite(a.task, fd, a.buf, PAGE, 100));
    assertErrno(Errno.EINVAL, () -> a.vfs.pwrite(a.task, fd, a.buf, 100, 0));
    assertErrno(Errno.EINVAL, () -> a.vfs.pread(a.task, fd, a.buf + 100, PAGE, 0));
    assertErrno(Errno.EINVAL, () -> a.vfs.pread(a.task, fd, a.buf, PAGE, 100));
    assertErrno(Errno.EINVAL, () -> a.vfs.pread(a.task, fd, a.buf, 100, 0));
    assertEquals(512, a.vfs.pread(a.task, fd, a.buf + 512, 512, 512), "512 is enough");
    assertEquals(0, a.vfs.pread(a.task, fd, a.buf + 1, 1, PAGE), "at EOF: 0 before any check");
  }

  @Test
  void holesAndUnwrittenExtentsReadAsZerosAndAWriteToAHoleIsEio() {
    Machine a = new Machine(true);
    a.mount("mkfs");
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR | O_CREAT | O_DIRECT, 0644);
    a.pwrite(fd, pattern(4 * PAGE, 5), 0);
    IomapOps flat = a.mnt.sb().iomapOps();
    // a filesystem that reports page 1 a hole and page 2 unwritten
    a.mnt
        .sb()
        .setIomapOps(
            (inode, pos, length, flags, iomap) -> {
              if (pos >= PAGE && pos < 3 * PAGE) {
                int type = pos < 2 * PAGE ? Iomap.HOLE : Iomap.UNWRITTEN;
                long start = pos < 2 * PAGE ? PAGE : 2 * PAGE;
                iomap.set(
                    type, 0, start, PAGE, type == Iomap.HOLE ? Iomap.NULL_ADDR : 0, a.holding);
                return;
              }
              flat.iomapBegin(inode, pos, length, flags, iomap);
              if (pos < PAGE && iomap.end() > PAGE) {
                iomap.set(iomap.type(), 0, 0, PAGE, iomap.addr(), iomap.bdev());
              }
            });
    byte[] got = a.pread(fd, 4 * PAGE, 0);
    byte[] expect = pattern(4 * PAGE, 5);
    Arrays.fill(expect, PAGE, 3 * PAGE, (byte) 0);
    assertArrayEquals(expect, got);
    long warns = a.mem.health().warnCount();
    assertErrno(Errno.EIO, () -> a.pwrite(fd, pattern(PAGE, 6), PAGE));
    assertEquals(warns + 1, a.mem.health().warnCount(), "WARN_ON_ONCE: the fs left a hole");
    a.mnt.sb().setIomapOps(flat);
  }

  @Test
  void oDsyncDirectWritesSurviveAPowerCut() {
    Machine a = new Machine(true);
    a.mount("mkfs");
    int fd = a.vfs.open(a.task, "/mnt/d", O_RDWR | O_CREAT | O_DIRECT | O_DSYNC, 0644);
    assertEquals(2 * PAGE, a.pwrite(fd, pattern(2 * PAGE, 7), 0)); // extends i_size: fsync
    assertEquals(1, a.vfs.directIo().syncs());
    assertEquals(0, a.vfs.directIo().fuaBios());
    long flushes = a.disk.flushes();
    assertEquals(PAGE, a.pwrite(fd, pattern(PAGE, 8), PAGE)); // a pure overwrite: REQ_FUA
    assertEquals(1, a.vfs.directIo().syncs(), "no fsync for a write-through overwrite");
    assertEquals(1, a.vfs.directIo().fuaBios());
    assertEquals(flushes, a.disk.flushes(), "no cache flush either");
    a.disk.powerCut();
    a.shutdown();

    Machine b = new Machine(false);
    b.mount("");
    int fd2 = b.vfs.open(b.task, "/mnt/d", O_RDONLY | O_DIRECT, 0);
    byte[] expect = pattern(2 * PAGE, 7);
    System.arraycopy(pattern(PAGE, 8), 0, expect, PAGE, PAGE);
    assertArrayEquals(expect, b.pread(fd2, 2 * PAGE, 0));
  }

  @Test
  void aDirtyPinnedFolioMakesTheDirectWriteFallBackToBuffered() {
    Machine a = new Machine(true);
    a.mount("mkfs,pinned_writeback=bounce"); // a pinned folio stays dirty after writeback
    int fd = a.vfs.open(a.task, "/mnt/p", O_RDWR | O_CREAT, 0644);
    a.pwrite(fd, pattern(PAGE, 9), 0);
    long map =
        a.task.mmap(
            0, PAGE, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, a.inode("p").mapping(), 0);
    long[] pages = new long[1];
    assertEquals(1, a.vm.gup().pinUserPages(a.task, map, 1, Foll.FOLL_WRITE, pages));
    a.task.storeLong(map, 42); // the page is dirty and pinned, as under a device's DMA
    int direct = a.vfs.open(a.task, "/mnt/p", O_RDWR | O_DIRECT, 0);
    assertEquals(PAGE, a.pwrite(direct, pattern(PAGE, 10), 0), "done buffered");
    assertEquals(1, a.vfs.directIo().fallbacks());
    assertArrayEquals(pattern(PAGE, 10), a.pread(fd, PAGE, 0));
    a.vm.gup().unpinUserPagesDirtyLock(pages, 1, true);
    a.task.munmap(map, PAGE);
  }

  @Test
  void tmpfsTakesODirectAndServesItBuffered() {
    Machine a = new Machine(true);
    a.vfs.mkdir("/t", 0755);
    int fd = a.vfs.open(a.task, "/t/f", O_RDWR | O_CREAT | O_DIRECT, 0644);
    assertEquals(3, a.vfs.pwrite(a.task, fd, a.buf + 1, 3, 7), "no alignment on tmpfs");
    assertEquals(3, a.vfs.pread(a.task, fd, a.buf + 1, 3, 7));
  }

  private void stableWrite(String bounce, boolean expectError) {
    Machine a =
        new Machine(
            true,
            "mem=64M dio.stable_bounce=" + bounce,
            DiskOptions.defaults().integrity(true).manualConsumption());
    a.mount("mkfs");
    assertTrue(a.mnt.sb().stableWrites(), "BLK_FEAT_STABLE_WRITES from integrity");
    int fd = a.vfs.open(a.task, "/mnt/s", O_RDWR | O_CREAT | O_DIRECT, 0644);
    a.task.store(a.buf, pattern(2 * PAGE, 11), 0, 2 * PAGE);
    a.holding.inFlight = () -> a.task.storeLong(a.buf + 100, 0xdeadbeefL); // user changes it
    if (expectError) {
      assertErrno(Errno.EIO, () -> a.vfs.pwrite(a.task, fd, a.buf, 2 * PAGE, 0));
      assertEquals(1, a.disk.integrityErrors());
      assertEquals(0, a.vfs.directIo().bytesBounced());
    } else {
      assertEquals(2 * PAGE, a.vfs.pwrite(a.task, fd, a.buf, 2 * PAGE, 0));
      assertEquals(0, a.disk.integrityErrors());
      assertEquals(2 * PAGE, a.vfs.directIo().bytesBounced());
      assertArrayEquals(pattern(2 * PAGE, 11), a.pread(fd, 2 * PAGE, 0), "what was submitted");
    }
    assertNull(a.holding.inFlight, "the hook ran");
  }

  @Test
  void stableBounceOffLetsAChangedBufferBreakTheChecksum() {
    stableWrite("off", true);
  }

  @Test
  void stableBounceOnWritesTheSubmittedCopy() {
    stableWrite("on", false);
  }
}
