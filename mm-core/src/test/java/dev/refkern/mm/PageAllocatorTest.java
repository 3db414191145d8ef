package dev.refkern.mm;

import static dev.refkern.mm.PageAllocator.MAX_ORDER;
import static dev.refkern.mm.PageAllocator.NO_PFN;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.internal.memmap.MemmapFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PageAllocatorTest {
  @TempDir Path dir;
  private PhysicalMemory mem;

  private PhysicalMemory boot(String cmdline) {
    mem = PhysicalMemory.boot(BootParams.parse(cmdline), dir, false);
    return mem;
  }

  @AfterEach
  void close() {
    if (mem != null) {
      mem.close();
    }
  }

  private long[] freeByOrder(ZoneType t) {
    return mem.allocator().zones().stream()
        .filter(z -> z.type() == t)
        .findFirst()
        .orElseThrow()
        .freeByOrder();
  }

  @Test
  void bootFreesAllRamInMaxOrderBlocks() {
    boot("mem=64M");
    assertEquals(16384, mem.ramPfns());
    assertEquals(16384, mem.allocator().nrFreePages());
    assertEquals(16384, mem.vmstat().get(VmItem.NR_FREE_PAGES));
    assertEquals(16, freeByOrder(ZoneType.NORMAL)[MAX_ORDER]);
    mem.debugVm().assertConsistent();
  }

  @Test
  void allocSplitsAndFreeMergesBack() {
    boot("mem=64M");
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 3);
    assertNotEquals(NO_PFN, pfn);
    assertEquals(1, mem.memmap().refcount(pfn));
    assertFalse(mem.memmap().testFlag(pfn, PageFlags.PG_BUDDY));
    long[] f = freeByOrder(ZoneType.NORMAL);
    // expand(): one free half at each order from 3 to 9, one fewer order-10 block
    for (int o = 3; o < MAX_ORDER; o++) {
      assertEquals(1, f[o], "order " + o);
    }
    assertEquals(15, f[MAX_ORDER]);
    assertEquals(16384 - 8, mem.allocator().nrFreePages());
    mem.allocator().freePages(pfn, 3);
    assertEquals(16, freeByOrder(ZoneType.NORMAL)[MAX_ORDER]);
    assertEquals(16384, mem.allocator().nrFreePages());
    assertEquals(8, mem.vmstat().get(VmItem.PGFREE));
    mem.debugVm().assertConsistent();
  }

  @Test
  void largeFolioHasHeadTailsAndPincount() {
    boot("mem=64M");
    long head = mem.allocator().folioAlloc(Gfp.KERNEL, 2);
    Memmap m = mem.memmap();
    assertTrue(m.testFlag(head, PageFlags.PG_HEAD));
    assertEquals(2, m.folioOrder(head));
    assertEquals(0, m.pincount(head));
    for (int i = 1; i < 4; i++) {
      assertTrue(m.testFlag(head + i, PageFlags.PG_TAIL));
      assertEquals(head, m.compoundHead(head + i));
      assertEquals(0, m.refcount(head + i));
    }
    mem.allocator().getPage(head + 3); // a reference through a tail lands on the folio
    assertEquals(2, m.refcount(head));
    mem.allocator().putPage(head + 2);
    assertEquals(1, m.refcount(head));
    mem.allocator().putPage(head);
    assertEquals(16384, mem.allocator().nrFreePages());
    assertFalse(m.testFlag(head + 1, PageFlags.PG_TAIL));
    mem.debugVm().assertConsistent();
  }

  @Test
  void gfpZeroClearsAndPlainAllocationKeepsOldContents() {
    boot("mem=64M");
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    mem.ram().writeLong(pfn, 8, 0xdeadbeefL);
    mem.allocator().putPage(pfn);
    long again = mem.allocator().allocPages(Gfp.KERNEL, 0);
    assertEquals(pfn, again, "the buddy allocator reuses the most recently freed block");
    assertEquals(0xdeadbeefL, mem.ram().readLong(again, 8), "the kernel does not zero freed pages");
    mem.allocator().putPage(again);
    long zeroed = mem.allocator().allocPages(Gfp.KERNEL | Gfp.ZERO, 0);
    assertEquals(0, mem.ram().readLong(zeroed, 8));
  }

  @Test
  void movableAllocationsPreferZoneMovableAndOthersNeverUseIt() {
    boot("mem=64M movablecore=16M");
    ZoneInfo movable = mem.allocator().zones().get(1);
    assertEquals(ZoneType.MOVABLE, movable.type());
    assertEquals(4096, movable.managedPages());
    long user = mem.allocator().allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    assertEquals(ZoneType.MOVABLE, mem.memmap().zone(user));
    assertEquals(1, mem.vmstat().get(VmItem.PGALLOC_MOVABLE));
    List<Long> got = new ArrayList<>();
    long pfn;
    while ((pfn = mem.allocator().allocPages(Gfp.KERNEL | Gfp.NOWARN, 0)) != NO_PFN) {
      assertEquals(ZoneType.NORMAL, mem.memmap().zone(pfn));
      got.add(pfn);
    }
    ZoneInfo normal = mem.allocator().zones().get(0);
    // the slow path stops at the min watermark
    assertTrue(normal.freePages() <= normal.wmarkMin() + 1, normal.toString());
    assertTrue(normal.freePages() >= normal.wmarkMin() - 1, normal.toString());
    assertTrue(mem.allocator().zones().get(1).freePages() > 4000);
    got.forEach(mem.allocator()::putPage);
    mem.allocator().putPage(user);
    mem.debugVm().assertConsistent();
  }

  @Test
  void watermarksFollowSetupPerZoneWmarks() {
    boot("mem=1G");
    ZoneInfo z = mem.allocator().zones().get(0);
    long lowmemKb = 262144L * 4;
    long minFree = (long) Math.sqrt(lowmemKb * 16.0); // 4096 KiB
    assertEquals(minFree / 4, z.wmarkMin());
    long tmp = Math.max(z.wmarkMin() / 4, 262144L * 10 / 10000);
    assertEquals(z.wmarkMin() + tmp, z.wmarkLow());
    assertEquals(z.wmarkMin() + 2 * tmp, z.wmarkHigh());
  }

  @Test
  void gfpHighDipsBelowMin() {
    boot("mem=64M");
    while (mem.allocator().allocPages(Gfp.KERNEL | Gfp.NOWARN, 0) != NO_PFN) {}
    long min = mem.allocator().zones().get(0).wmarkMin();
    long free = mem.allocator().nrFreePages();
    assertNotEquals(NO_PFN, mem.allocator().allocPages(Gfp.ATOMIC, 0));
    assertEquals(free - 1, mem.allocator().nrFreePages());
    while (mem.allocator().allocPages(Gfp.ATOMIC | Gfp.NOWARN, 0) != NO_PFN) {}
    assertTrue(mem.allocator().nrFreePages() <= min - min / 2 + 1);
  }

  @Test
  void orderAboveMaxWarnsAndFails() {
    boot("mem=64M");
    assertEquals(NO_PFN, mem.allocator().allocPages(Gfp.KERNEL, MAX_ORDER + 1));
    assertEquals(1, mem.health().warnCount());
    assertFalse(mem.health().isDead());
  }

  @Test
  void unknownGfpAndInvalidPfnAreEinval() {
    boot("mem=64M");
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> mem.allocator().allocPages(1 << 20, 0)).errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> mem.allocator().freePages(-1, 0)).errno());
    long beyond = mem.memmap().nrPfns();
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> mem.allocator().putPage(beyond)).errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> mem.allocator().getPage(beyond)).errno());
    mem.debugVm().assertConsistent();
  }

  @Test
  void unalignedFreeIsBugAndLeavesTheMemmapForPostMortem() {
    boot("mem=64M");
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 2);
    KernelBugException bug =
        assertThrows(KernelBugException.class, () -> mem.allocator().freePages(pfn + 1, 2));
    assertTrue(bug.getMessage().contains("not aligned"), bug.getMessage());
    assertTrue(mem.health().isDead());
    assertEquals(1, mem.memmap().refcount(pfn), "memmap untouched by the failed free");
    assertThrows(KernelBugException.class, () -> mem.allocator().allocPages(Gfp.KERNEL, 0));
    assertEquals("crashed", MemmapFile.readProps(dir).getProperty("status"));
  }

  @Test
  void doubleFreeIsBugWithTheFreeListIntact() {
    boot("mem=64M");
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    mem.allocator().putPage(pfn);
    long free = mem.allocator().nrFreePages();
    assertThrows(KernelBugException.class, () -> mem.allocator().putPage(pfn));
    assertEquals(0, mem.memmap().refcount(pfn), "refcount did not underflow");
    assertEquals(free, mem.allocator().nrFreePages());
    assertTrue(mem.debugVm().check().isEmpty(), mem.debugVm().check().toString());
  }

  @Test
  void getPageOnFreePageIsBugAndTryGetPageWarns() {
    boot("mem=64M");
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    mem.allocator().putPage(pfn);
    assertFalse(mem.allocator().tryGetPage(pfn));
    assertEquals(1, mem.health().warnCount());
    assertThrows(KernelBugException.class, () -> mem.allocator().getPage(pfn));
    assertEquals(0, mem.memmap().refcount(pfn));
  }

  @Test
  void badPageStateLeaksThePageAndTaints() {
    boot("mem=64M");
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    MemmapTesting.ops(mem).setMapping(pfn, 99);
    long free = mem.allocator().nrFreePages();
    mem.allocator().putPage(pfn);
    assertEquals(1, mem.health().badPageCount());
    assertEquals(free, mem.allocator().nrFreePages(), "a bad page is not freed");
    assertFalse(mem.health().isDead());
    mem.debugVm().assertConsistent();
  }

  @Test
  void concurrentAllocFreeKeepsTheFreeListsConsistent() throws Exception {
    boot("mem=64M");
    long seed = System.nanoTime();
    int threads = 2;
    List<Thread> ts = new ArrayList<>();
    List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
    for (int t = 0; t < threads; t++) {
      long s = seed + t;
      Thread th =
          new Thread(
              () -> {
                java.util.SplittableRandom r = new java.util.SplittableRandom(s);
                List<long[]> held = new ArrayList<>();
                try {
                  for (int i = 0; i < 20000; i++) {
                    if (held.isEmpty() || (r.nextBoolean() && held.size() < 64)) {
                      int order = r.nextInt(4);
                      long pfn = mem.allocator().allocPages(Gfp.KERNEL | Gfp.NOWARN, order);
                      if (pfn != NO_PFN) {
                        held.add(new long[] {pfn, order});
                      }
                    } else {
                      long[] h = held.remove(r.nextInt(held.size()));
                      mem.allocator().freePages(h[0], (int) h[1]);
                    }
                  }
                  for (long[] h : held) {
                    mem.allocator().freePages(h[0], (int) h[1]);
                  }
                } catch (Throwable e) {
                  errors.add(e);
                }
              });
      ts.add(th);
      th.start();
    }
    for (Thread th : ts) {
      th.join(60_000);
    }
    assertTrue(errors.isEmpty(), "seed=" + seed + " " + errors);
    assertEquals(16384, mem.allocator().nrFreePages(), "seed=" + seed);
    assertEquals(
        16, freeByOrder(ZoneType.NORMAL)[MAX_ORDER], "seed=" + seed + ": every block merged back");
    assertTrue(mem.debugVm().check().isEmpty(), "seed=" + seed + " " + mem.debugVm().check());
  }
}
