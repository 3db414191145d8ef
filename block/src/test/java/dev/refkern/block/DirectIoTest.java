package dev.refkern.block;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Direct I/O: pins, bios completed in random order, redirtying, bad input, no leaked pin. */
class DirectIoTest {
  @TempDir Path dir;
  private PhysicalMemory mem;
  private VirtualMemory vm;
  private DirectIo dio;
  private Task task;

  /** A test device that collects a request's bios and completes them in a seeded random order. */
  private final class ShuffleDevice implements BlockDevice {
    final ConcurrentHashMap<Long, byte[]> sectors = new ConcurrentHashMap<>();
    final List<Bio> pending = new ArrayList<>();
    final Random rnd = new Random(42);
    int expected = 1;
    boolean cleanOnCompletion;

    @Override
    public String name() {
      return "shuffle";
    }

    @Override
    public long capacitySectors() {
      return 8192;
    }

    @Override
    public int features() {
      return 0;
    }

    @Override
    public void submitBio(Bio bio) {
      pending.add(bio);
      if (pending.size() < expected) {
        return;
      }
      Collections.shuffle(pending, rnd);
      for (Bio b : pending) {
        long s = b.sector();
        for (BioVec v : b.vecs()) {
          for (int off = 0; off < v.len(); off += Bio.SECTOR_SIZE, s++) {
            byte[] buf = new byte[Bio.SECTOR_SIZE];
            if (b.op() == BioOp.WRITE) {
              mem.ram().read(v.pfn(), v.offset() + off, buf, 0, buf.length);
              sectors.put(s, buf);
            } else {
              byte[] data = sectors.getOrDefault(s, buf);
              mem.ram().write(v.pfn(), v.offset() + off, data, 0, data.length);
            }
          }
          if (cleanOnCompletion) { // writeback cleaned it meanwhile
            FolioOps folios = new FolioOps(mem);
            folios.folioLock(v.pfn());
            vm.pageWriteback().folioClearDirtyForIo(v.pfn());
            folios.folioUnlock(v.pfn());
          }
        }
        mem.scheduler().runInCompletionContext(b::endio);
      }
      pending.clear();
    }
  }

  @BeforeEach
  void boot() {
    vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir, false);
    mem = vm.physicalMemory();
    dio = new DirectIo(vm);
    task = vm.createTask("dio");
  }

  @AfterEach
  void check() {
    task.exit();
    vm.lru().lruAddDrainAll();
    List<String> p = mem.debugVm().checkNoPinsHeld();
    mem.close();
    assertTrue(p.isEmpty(), "CONFIG_DEBUG_VM: " + p);
  }

  @Test
  void writeThenReadAcrossSeveralBiosCompletedOutOfOrder() {
    ShuffleDevice dev = new ShuffleDevice();
    int pages = 200;
    dev.expected = (pages + DirectIo.MAX_BIO_PAGES - 1) / DirectIo.MAX_BIO_PAGES; // 4 bios
    long buf = task.mmapAnon(pages * 4096L);
    for (int i = 0; i < pages; i++) {
      task.storeLong(buf + i * 4096L, 7000 + i);
    }
    assertEquals(pages * 4096L, dio.write(task, dev, buf, pages * 4096L, 8192));
    long back = task.mmapAnon(pages * 4096L);
    assertEquals(pages * 4096L, dio.read(task, dev, back, pages * 4096L, 8192));
    for (int i = 0; i < pages; i++) {
      assertEquals(7000 + i, task.loadLong(back + i * 4096L));
    }
    long pfn = Pte.pfn(task.mm().pte(back));
    assertTrue(mem.memmap().testFlag(pfn, PageFlags.PG_DIRTY), "a DIO read dirties its pages");
  }

  @Test
  void pagesCleanedBeforeCompletionAreRedirtiedFromAWorkqueue() {
    ShuffleDevice dev = new ShuffleDevice();
    dev.cleanOnCompletion = true;
    long buf = task.mmapAnon(4 * 4096L);
    task.storeLong(buf, 1);
    assertEquals(4 * 4096L, dio.read(task, dev, buf, 4 * 4096L, 0));
    assertEquals(1, dio.deferredRedirty());
    long pfn = Pte.pfn(task.mm().pte(buf));
    assertTrue(mem.memmap().testFlag(pfn, PageFlags.PG_DIRTY), "redirtied before the unpin");
  }

  @Test
  void badInputGetsTheKernelsErrnoAndLeaksNoPin() {
    ShuffleDevice dev = new ShuffleDevice();
    long buf = task.mmapAnon(8 * 4096L);
    task.storeLong(buf, 1);
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> dio.read(task, dev, buf + 100, 512, 0)).errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> dio.read(task, dev, buf, 100, 0)).errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> dio.write(task, dev, buf, 512, 3)).errno());
    assertEquals(
        Errno.ENOSPC,
        assertThrows(KernelException.class, () -> dio.write(task, dev, buf, 512, 8192L * 512))
            .errno());
    assertEquals(0, dio.read(task, dev, buf, 512, 8192L * 512), "a read at the end returns 0");
    task.munmap(buf + 4 * 4096L, 4 * 4096L);
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> dio.read(task, dev, buf, 8 * 4096L, 0)).errno());
    assertEquals(
        mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED),
        mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED));
  }

  @Test
  void aWriteShorterThanAPageUsesPartOfIt() {
    ShuffleDevice dev = new ShuffleDevice();
    long buf = task.mmapAnon(4096);
    task.storeLong(buf + 512, 99);
    assertEquals(1024, dio.write(task, dev, buf + 512, 1024, 0));
    assertEquals(2, dev.sectors.size());
  }

  /** A driver that completes bios at once, and throws from {@code submitBio} on bio number N. */
  private final class ThrowingDevice implements BlockDevice {
    final int failAt;
    final RuntimeException failure;
    int submitted;

    ThrowingDevice(int failAt, RuntimeException failure) {
      this.failAt = failAt;
      this.failure = failure;
    }

    @Override
    public String name() {
      return "throwing";
    }

    @Override
    public long capacitySectors() {
      return 8192;
    }

    @Override
    public int features() {
      return 0;
    }

    @Override
    public void submitBio(Bio bio) {
      if (submitted++ == failAt) {
        throw failure;
      }
      mem.scheduler().runInCompletionContext(bio::endio);
    }
  }

  @Test
  void aDriverThatThrowsFromSubmitBioLeaksNoPin() {
    int pages = 3 * DirectIo.MAX_BIO_PAGES; // three bios
    long buf = task.mmapAnon(pages * 4096L);
    for (int i = 0; i < pages; i++) {
      task.storeLong(buf + i * 4096L, i);
    }
    record Case(int failAt, RuntimeException failure, Errno expect) {}
    for (Case c :
        List.of(
            new Case(0, new IllegalStateException("driver bug"), Errno.EIO),
            new Case(1, new KernelException(Errno.ENOSPC, "thin pool full"), Errno.ENOSPC),
            new Case(2, new IllegalStateException("driver bug"), Errno.EIO))) {
      for (boolean write : new boolean[] {true, false}) {
        ThrowingDevice dev = new ThrowingDevice(c.failAt(), c.failure());
        KernelException e =
            assertThrows(
                KernelException.class,
                () ->
                    (write
                            ? (Runnable) () -> dio.write(task, dev, buf, pages * 4096L, 0)
                            : (Runnable) () -> dio.read(task, dev, buf, pages * 4096L, 0))
                        .run(),
                c.toString());
        assertEquals(c.expect(), e.errno(), c.toString());
        assertEquals(
            mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED),
            mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED),
            "pins balance after " + c + (write ? " on a write" : " on a read"));
        vm.lru().lruAddDrainAll();
        assertEquals(List.of(), mem.debugVm().check());
      }
    }
    assertTrue(mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED) > 0);
    long pfn = Pte.pfn(task.mm().pte(buf));
    assertFalse(vm.gup().folioMaybeDmaPinned(pfn));
  }
}
