package dev.refkern.hmm.dma;

import static dev.refkern.mm.vm.Mman.MAP_SHARED;
import static dev.refkern.mm.vm.Mman.PROT_READ;
import static dev.refkern.mm.vm.Mman.PROT_WRITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import org.junit.jupiter.api.Test;

/** {@code ib_umem}: registration pins, DMA lands in the pinned pages, deregistration unpins. */
class RdmaNicTest extends DmaTestBase {
  private static final int PAGES = 4;
  private Task task;
  private AddressSpace file;
  private long addr;

  private void anon() {
    boot("mem=64M");
    task = vm.createTask("app");
    addr = task.mmapAnon(PAGES * Page.PAGE_SIZE);
  }

  /** A ram-backed file of {@link #PAGES} pages mapped shared and written, so it is in the cache. */
  private void sharedFile(String cmdline) {
    boot("mem=64M " + cmdline);
    task = vm.createTask("app");
    file = AddressSpace.create(mem, new RamBackedAops());
    file.setSize(PAGES * Page.PAGE_SIZE);
    addr = task.mmap(0, PAGES * Page.PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    for (int p = 0; p < PAGES; p++) {
      task.storeLong(addr + (long) p * Page.PAGE_SIZE, p);
    }
  }

  @Test
  void registrationPinsEveryPageAndTheDmaLandsWhereTheTaskReads() {
    anon();
    DmaEngine engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
    RdmaNic nic = RdmaNic.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
    assertEquals(PAGES, nic.pinnedPages());
    assertEquals(PAGES, pinsAcquired());
    assertTrue(vm.gup().folioMaybeDmaPinned(nic.pinnedPfn(0)));
    DmaTransfer t = nic.dmaWrite(0, PAGES, 77);
    assertEquals(PAGES, engine.drain(), "one page a step");
    assertEquals(DmaTransfer.State.DONE, t.state());
    for (int p = 0; p < PAGES; p++) {
      assertEquals(DmaEngine.header(77), task.loadLong(addr + (long) p * Page.PAGE_SIZE));
      assertEquals(77, DmaEngine.stampOf(mem.ram(), nic.pinnedPfn(p)));
    }
    nic.deregister();
    assertEquals(0, nic.pinnedPages());
    assertPinsBalance();
    assertEquals(PAGES, pinsReleased());
    nic.deregister(); // twice is once
    assertPinsBalance();
    task.exit();
  }

  @Test
  void dmaAfterDeregistrationIsAbortedAndReachesNoPage() {
    anon();
    DmaEngine engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
    RdmaNic nic = RdmaNic.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
    DmaTransfer queued = nic.dmaWrite(0, 1, 5);
    nic.deregister();
    assertEquals(DmaTransfer.State.ABORTED, queued.state(), "torn down with the region");
    DmaTransfer late = nic.dmaWrite(0, 1, 6);
    engine.drain();
    assertEquals(DmaTransfer.State.ABORTED, late.state());
    assertEquals(0, engine.stats().bytesWritten());
    task.exit();
  }

  @Test
  void deregistrationDirtiesTheFilePagesTheNicCouldWrite() {
    sharedFile("gup.longterm_file=allow");
    DmaEngine engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
    RdmaNic nic = RdmaNic.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    assertEquals(0, file.nrDirty(), "written back while pinned");
    nic.dmaWrite(0, PAGES, 3);
    engine.drain();
    nic.deregister(); // unpin_user_pages_dirty_lock(..., true)
    assertEquals(PAGES, file.nrDirty(), "the DMA is not lost: every page is dirty again");
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void mainlineRefusesAWritableLongTermPinOfASharedFileMappingWithEfault() {
    sharedFile(""); // gup.longterm_file=refuse, mainline since 6.5
    DmaEngine engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
    KernelException e =
        assertThrows(
            KernelException.class,
            () -> RdmaNic.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine));
    assertEquals(Errno.EFAULT, e.errno());
    assertEquals(0, pinsAcquired(), "nothing pinned");
    assertFalse(task.mm().notifiers().hasSubscriptions(), "and no notifier left behind");
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void aFailedPinHalfWayReleasesThePagesAlreadyPinned() {
    anon();
    task.munmap(addr + 3L * Page.PAGE_SIZE, Page.PAGE_SIZE); // a hole at the last page
    DmaEngine engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
    KernelException e =
        assertThrows(
            KernelException.class,
            () -> RdmaNic.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine));
    assertEquals(Errno.EFAULT, e.errno());
    assertEquals(3, pinsAcquired(), "three pinned before the hole");
    assertPinsBalance();
    task.exit();
  }

  @Test
  void revokeOnTruncateRedirectsTheDmaToTheDummyPageAndUnpins() {
    sharedFile("gup.longterm_file=allow truncate.pinned=revoke");
    DmaEngine engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
    RdmaNic nic = RdmaNic.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
    long tail = nic.pinnedPfn(PAGES - 1);
    nic.dmaWrite(0, PAGES, 1);
    engine.drain();
    file.setSize(2 * Page.PAGE_SIZE); // truncate the last two pages
    vm.truncate().truncateInodePages(file, 2);
    assertEquals(2, vm.pinnedTruncate().stats().get("revoked"), "TRUNCATE, not CLEAR");
    assertEquals(2, nic.pinnedPages(), "the truncated pages are unpinned");
    assertTrue(nic.isRevoked(3));
    assertFalse(nic.isRevoked(1));
    assertEquals(PageAllocator.NO_PFN, nic.pinnedPfn(3));
    assertEquals(2, pinsReleased(), "at once, not at deregistration");
    vm.lru().lruAddDrainAll(); // the LRU batches' references
    assertEquals(0, mem.memmap().refcount(tail), "the truncated page is freed: no orphan");
    nic.dmaWrite(0, PAGES, 2);
    engine.drain();
    assertEquals(2, DmaEngine.stampOf(mem.ram(), nic.dummyPfn()), "its DMA lands in the dummy");
    assertEquals(2L * Page.PAGE_SIZE, nic.bytesRedirected());
    assertEquals(2L * Page.PAGE_SIZE, engine.stats().bytesRedirected());
    assertEquals(1, engine.stats().transfersRedirected());
    assertEquals(2, DmaEngine.stampOf(mem.ram(), nic.pinnedPfn(1)), "the kept pages still get it");
    nic.deregister();
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void mainlineTruncateIsClearWhichLeavesTheLongTermPinAndOrphansThePage() {
    sharedFile("gup.longterm_file=allow"); // truncate.pinned=orphan
    DmaEngine engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
    RdmaNic nic = RdmaNic.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
    long tail = nic.pinnedPfn(PAGES - 1);
    file.setSize(0);
    vm.truncate().truncateInodePages(file, 0);
    assertEquals(PAGES, nic.pinnedPages(), "CLEAR: the pin stays, as real RDMA does");
    assertEquals(0, mem.memmap().mapping(tail), "the page left the file");
    nic.dmaWrite(PAGES - 1, 1, 4);
    engine.drain();
    assertEquals(4, DmaEngine.stampOf(mem.ram(), tail), "the DMA goes to the orphan");
    assertEquals(0, nic.bytesRedirected());
    nic.deregister();
    task.exit();
  }

  @Test
  void revokeWhileTheDmaRunsOnASimulatedWorkqueueSendsTheRestToTheDummy() {
    try (SimScheduler sim = new SimScheduler(0x001)) {
      vm =
          VirtualMemory.boot(
              BootParams.parse("mem=64M gup.longterm_file=allow truncate.pinned=revoke"),
              dir,
              false,
              sim);
      mem = vm.physicalMemory();
      task = vm.createTask("app");
      file = AddressSpace.create(mem, new RamBackedAops());
      file.setSize(PAGES * Page.PAGE_SIZE);
      addr = task.mmap(0, PAGES * Page.PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
      for (int p = 0; p < PAGES; p++) {
        task.storeLong(addr + (long) p * Page.PAGE_SIZE, p);
      }
      DmaEngine engine = new DmaEngine(mem.ram(), 1024);
      engine.start(sim.allocWorkqueue("nic-dma"));
      RdmaNic nic = RdmaNic.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
      DmaTransfer t = nic.dmaWrite(0, PAGES, 8);
      sim.advance(5); // a page and a half
      long before = t.bytesDone();
      assertTrue(before > 0 && before < PAGES * Page.PAGE_SIZE, "under way: " + before);
      file.setSize(0);
      vm.truncate().truncateInodePages(file, 0);
      assertEquals(0, nic.pinnedPages());
      sim.runUntilIdle();
      assertEquals(DmaTransfer.State.DONE, t.state());
      assertEquals(PAGES * Page.PAGE_SIZE - before, nic.bytesRedirected(), "the rest: dummy");
      assertEquals(8, DmaEngine.stampOf(mem.ram(), nic.dummyPfn()));
      engine.stop();
      nic.deregister();
      task.exit();
    }
  }

  @Test
  void deregistrationWakesATruncateThatWaitsForThePin() {
    try (SimScheduler sim = new SimScheduler(0x3a17)) {
      vm =
          VirtualMemory.boot(
              BootParams.parse("mem=64M gup.longterm_file=allow truncate.pinned=wait"),
              dir,
              false,
              sim);
      mem = vm.physicalMemory();
      task = vm.createTask("app");
      file = AddressSpace.create(mem, new RamBackedAops());
      file.setSize(PAGES * Page.PAGE_SIZE);
      addr = task.mmap(0, PAGES * Page.PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
      task.storeLong(addr, 1);
      DmaEngine engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
      RdmaNic nic = RdmaNic.register(vm, task, addr, Page.PAGE_SIZE, true, engine);
      sim.kthreadRun(
          "truncate",
          () -> {
            file.setSize(0);
            vm.truncate().truncateInodePages(file, 0);
          });
      assertTrue(
          sim.runUntil(() -> vm.pinnedTruncate().stats().get("waits") == 1), "truncate waits");
      assertEquals(1, file.nrPages(), "for the pinned page");
      nic.deregister(); // ib_umem_release(): the unpin wakes it
      sim.runUntilIdle();
      assertEquals(0, file.nrPages(), "truncate finished");
      task.exit();
    }
  }
}
