package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.RamSwapDevice;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.ZoneInfo;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Reclaim as {@code mm/vmscan.c} does it, and what it must never do to a pinned folio. */
class VmscanTest extends VmTestBase {
  private Task task;

  private long anon(int pages) {
    task = vm.createTask("t");
    long a = task.mmapAnon(pages * 4096L);
    for (int i = 0; i < pages; i++) {
      task.storeLong(a + i * 4096L, 1000 + i);
    }
    settle();
    return a;
  }

  @Test
  void anonymousPagesGoToSwapAndComeBackIntact() {
    boot();
    SwapSpace swap = vm.swapon(new RamSwapDevice(1024));
    long a = anon(16);
    long free = mem.allocator().nrFreePages();
    Vmscan.Result r = vm.vmscan().shrinkNode(16);
    assertEquals(16, r.swappedOut(), r.toString());
    assertEquals(16, mem.vmstat().get(VmItem.PSWPOUT));
    assertEquals(free + 16, mem.allocator().nrFreePages());
    assertTrue(Pte.isSwap(task.mm().pte(a)));
    assertEquals(0, task.mm().rssAnon());
    assertEquals(16, swap.usedSlots());
    for (int i = 0; i < 16; i++) {
      assertEquals(1000 + i, task.loadLong(a + i * 4096L));
    }
    assertEquals(16, mem.vmstat().get(VmItem.PSWPIN));
    assertEquals(0, swap.usedSlots(), "every slot freed by its swap-in");
    task.exit();
  }

  @Test
  void withoutSwapAnonymousPagesStay() {
    boot();
    long a = anon(8);
    Vmscan.Result r = vm.vmscan().shrinkNode(8);
    assertEquals(0, r.reclaimed());
    assertTrue(Pte.present(task.mm().pte(a)));
    task.exit();
  }

  @Test
  void aPinnedAnonymousFolioIsNeverSwappedOut() {
    boot();
    vm.swapon(new RamSwapDevice(1024));
    long a = anon(8);
    long[] pages = new long[4];
    assertEquals(4, gup.pinUserPages(task, a, 4, Foll.FOLL_WRITE, pages));
    Vmscan.Result r = vm.vmscan().shrinkNode(8);
    assertEquals(4, r.swappedOut(), r.toString());
    assertTrue(r.pinnedKept() >= 4, r.toString());
    for (int i = 0; i < 4; i++) {
      assertEquals(pages[i], Pte.pfn(task.mm().pte(a + i * 4096L)), "still mapped, not swapped");
      assertTrue(mem.memmap().testFlag(pages[i], PageFlags.PG_ACTIVE), "kept and activated");
    }
    assertTrue(Pte.isSwap(task.mm().pte(a + 5 * 4096L)));
    gup.unpinUserPages(pages, 4);
    task.exit();
  }

  @Test
  void cleanFilePagesAreDroppedAndReadAgain() {
    boot();
    RamBackedAops disk = new RamBackedAops();
    AddressSpace file = AddressSpace.create(mem, disk);
    file.setSize(16 * 4096);
    task = vm.createTask("t");
    long a = task.mmap(0, 16 * 4096, PROT_READ, MAP_SHARED, file, 0);
    for (int i = 0; i < 16; i++) {
      task.loadLong(a + i * 4096L);
    }
    settle();
    assertEquals(16, file.nrPages());
    long reads = disk.reads();
    Vmscan.Result r = vm.vmscan().shrinkNode(16);
    assertEquals(16, r.reclaimed(), r.toString());
    assertEquals(0, file.nrPages());
    assertEquals(0, task.mm().pte(a));
    task.loadLong(a);
    assertEquals(reads + 1, disk.reads(), "a dropped page is read back from the file");
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void dirtyFilePagesAreWrittenBackBeforeTheyGo() {
    boot();
    RamBackedAops disk = new RamBackedAops();
    AddressSpace file = AddressSpace.create(mem, disk);
    file.setSize(4 * 4096);
    task = vm.createTask("t");
    long a = task.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    for (int i = 0; i < 4; i++) {
      task.storeLong(a + i * 4096L, 70 + i);
    }
    settle();
    Vmscan.Result r = vm.vmscan().shrinkNode(4);
    assertTrue(r.written() >= 1, r.toString());
    assertEquals(4, r.reclaimed(), r.toString());
    for (int i = 0; i < 4; i++) {
      assertEquals(70 + i, disk.readBlock(i)[0], "nothing lost");
      assertEquals(70 + i, task.loadLong(a + i * 4096L));
    }
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void aPinnedPageCacheFolioIsKeptAndActivated() {
    boot();
    RamBackedAops disk = new RamBackedAops();
    AddressSpace file = AddressSpace.create(mem, disk);
    file.setSize(2 * 4096);
    task = vm.createTask("t");
    long a = task.mmap(0, 2 * 4096, PROT_READ, MAP_SHARED, file, 0);
    task.loadLong(a);
    task.loadLong(a + 4096);
    settle();
    long[] pages = new long[1];
    gup.pinUserPages(task, a, 1, 0, pages);
    Vmscan.Result r = vm.vmscan().shrinkNode(2);
    assertEquals(1, r.reclaimed(), r.toString());
    assertEquals(1, file.nrPages(), "the pinned folio stays in the page cache");
    assertTrue(mem.memmap().testFlag(pages[0], PageFlags.PG_ACTIVE));
    gup.unpinUserPage(pages[0]);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void forkSharesASwapEntryAndBothSeeTheData() {
    boot();
    SwapSpace swap = vm.swapon(new RamSwapDevice(64));
    long a = anon(1);
    vm.vmscan().shrinkNode(1);
    long entry = task.mm().pte(a);
    assertTrue(Pte.isSwap(entry));
    Task child = task.fork("child");
    assertEquals(2, swap.count(Pte.swapOffset(entry)), "swap_duplicate()");
    assertEquals(1000, child.loadLong(a));
    assertEquals(1, swap.count(Pte.swapOffset(entry)));
    child.storeLong(a, 5);
    assertEquals(1000, task.loadLong(a));
    assertEquals(0, swap.usedSlots());
    child.exit();
    task.exit();
  }

  @Test
  void directReclaimLetsAnAllocationSucceedUnderPressure() {
    boot("mem=64M");
    vm.swapon(new RamSwapDevice(16384));
    int pages = 18000; // more than RAM
    task = vm.createTask("t");
    long a = task.mmapAnon(pages * 4096L);
    for (int i = 0; i < pages; i++) {
      task.storeLong(a + i * 4096L, i);
    }
    assertTrue(mem.vmstat().get(VmItem.ALLOCSTALL) > 0);
    assertTrue(mem.vmstat().get(VmItem.PSWPOUT) > 1000);
    for (int i = 0; i < pages; i += 997) {
      assertEquals(i, task.loadLong(a + i * 4096L));
    }
    task.exit();
  }

  /** {@code GFP_NOWAIT}: no direct reclaim and no access to the reserves below the watermarks. */
  private static final int GFP_NOWAIT = Gfp.NOWARN;

  /**
   * Kernel pages taken with {@code GFP_NOWAIT} until one allocation finds the zone below its low
   * watermark, which wakes kswapd ({@code wake_all_kswapds()} in the slow path). Nothing is
   * allocated after that, so only kswapd can restore the high watermark.
   */
  private List<Long> allocateUntilKswapdIsWoken(Kswapd kswapd) {
    long woken = kswapd.wakeups();
    List<Long> held = new ArrayList<>();
    while (kswapd.wakeups() == woken) {
      long pfn = mem.allocator().allocPages(GFP_NOWAIT, 0);
      assertNotEquals(PageAllocator.NO_PFN, pfn, "the min watermark reserve was reached first");
      held.add(pfn);
    }
    return held;
  }

  @Test
  void kswapdStoppedAndStartedAgainStillReclaims() throws Exception {
    boot("mem=64M");
    vm.swapon(new RamSwapDevice(16384));
    int pages = 8000;
    long a = anon(pages);
    vm.startKswapd().stop(); // kthread_stop(), then kswapd_run() again (memory hot-add does this)
    Kswapd kswapd = vm.startKswapd();
    List<Long> held = List.of();
    try {
      held = allocateUntilKswapdIsWoken(kswapd);
      long deadline = System.nanoTime() + 120_000_000_000L; // generous bound; asserts the state
      while (!mem.zonesBalanced() && System.nanoTime() < deadline) {
        Thread.sleep(2);
      }
      assertTrue(mem.zonesBalanced(), "the restarted kswapd reclaimed up to the high watermark");
      assertTrue(mem.vmstat().get(VmItem.PAGEOUTRUN) > 0);
    } finally {
      kswapd.stop();
      held.forEach(mem.allocator()::putPage);
    }
    for (int i = 0; i < pages; i += 97) {
      assertEquals(1000 + i, task.loadLong(a + i * 4096L));
    }
    task.exit();
  }

  @Test
  void kswapdWokenBelowTheLowWatermarkReclaimsUpToTheHighOne() throws Exception {
    boot("mem=64M");
    vm.swapon(new RamSwapDevice(16384));
    int pages = 8000;
    long a = anon(pages);
    Kswapd kswapd = vm.startKswapd();
    List<Long> held = List.of();
    try {
      held = allocateUntilKswapdIsWoken(kswapd);
      // balance_pgdat() runs until the zone has its high watermark free; the wait is a generous
      // bound on a loaded machine, the assertion is on the state reached
      long deadline = System.nanoTime() + 120_000_000_000L;
      while (!mem.zonesBalanced() && System.nanoTime() < deadline) {
        Thread.sleep(2);
      }
      ZoneInfo z = mem.allocator().zones().get(0);
      assertTrue(mem.zonesBalanced(), "kswapd reclaimed up to the high watermark: " + z);
      assertTrue(mem.vmstat().get(VmItem.PAGEOUTRUN) > 0);
      assertTrue(mem.vmstat().get(VmItem.PSWPOUT) > 0, "anonymous pages went to swap");
      assertEquals(0, mem.vmstat().get(VmItem.ALLOCSTALL), "no allocation reclaimed directly");
    } finally {
      kswapd.stop();
      held.forEach(mem.allocator()::putPage);
    }
    for (int i = 0; i < pages; i += 97) {
      assertEquals(1000 + i, task.loadLong(a + i * 4096L));
    }
    task.exit();
  }

  @Test
  void anAllocationBetweenTheLowAndHighWatermarksDoesNotWakeKswapd() {
    boot("mem=64M");
    Kswapd kswapd = vm.startKswapd();
    List<Long> held = new ArrayList<>();
    try {
      long low = mem.allocator().zones().get(0).wmarkLow();
      // a zone between its low and high watermarks is a steady state: only an allocation that
      // finds it below low (the slow path) wakes kswapd
      while (mem.allocator().zones().get(0).freePages() > low + 1) {
        held.add(mem.allocator().allocPages(GFP_NOWAIT, 0));
      }
      assertFalse(mem.zonesBalanced());
      assertEquals(0, kswapd.wakeups(), "kswapd sleeps while the zone is above its low watermark");
      held.add(mem.allocator().allocPages(GFP_NOWAIT, 0));
      held.add(mem.allocator().allocPages(GFP_NOWAIT, 0));
      assertEquals(1, kswapd.wakeups(), "the allocation that finds it below low wakes kswapd");
    } finally {
      kswapd.stop();
      held.forEach(mem.allocator()::putPage);
    }
  }

  @Test
  void kswapdUnderTheDeterministicScheduler() {
    for (long seed = 1; seed <= 6; seed++) {
      dev.refkern.mm.sched.SimScheduler sched = new dev.refkern.mm.sched.SimScheduler(seed);
      String tag = dev.refkern.mm.sched.SimScheduler.seedTag(seed);
      vm = VirtualMemory.boot(dev.refkern.mm.BootParams.parse("mem=64M"), dir, true, sched);
      mem = vm.physicalMemory();
      gup = vm.gup();
      vm.swapon(new RamSwapDevice(16384));
      task = vm.createTask("t");
      long a = task.mmapAnon(8000 * 4096L);
      Kswapd kswapd = vm.startKswapd();
      List<List<Long>> held = new ArrayList<>();
      sched.kthreadRun(
          "toucher",
          () -> {
            for (int i = 0; i < 8000; i++) {
              task.storeLong(a + i * 4096L, i);
              if (i % 64 == 0) {
                sched.condResched();
              }
            }
            settle();
            held.add(allocateUntilKswapdIsWoken(kswapd));
          });
      sched.runUntilIdle();
      assertTrue(mem.zonesBalanced(), tag + " " + mem.allocator().zones().get(0));
      assertTrue(mem.vmstat().get(VmItem.PAGEOUTRUN) > 0, tag);
      kswapd.stop();
      sched.shutdown();
      held.forEach(h -> h.forEach(mem.allocator()::putPage));
      for (int i = 0; i < 8000; i += 97) {
        assertEquals(i, task.loadLong(a + i * 4096L), tag);
      }
      task.exit();
      checkInvariants();
      mem = null;
    }
  }
}
