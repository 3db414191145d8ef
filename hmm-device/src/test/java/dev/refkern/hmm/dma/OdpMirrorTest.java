package dev.refkern.hmm.dma;

import static dev.refkern.mm.vm.Mman.MADV_DONTNEED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import org.junit.jupiter.api.Test;

/** {@code ib_umem_odp}: DMA through device faults, stopped by invalidation, never a pin. */
class OdpMirrorTest extends DmaTestBase {
  private static final int PAGES = 4;
  private Task task;
  private long addr;
  private DmaEngine engine;

  private void anon() {
    boot("mem=64M");
    setUp();
  }

  private void setUp() {
    task = vm.createTask("app");
    addr = task.mmapAnon(PAGES * Page.PAGE_SIZE);
    engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
  }

  private long page(int p) {
    return addr + (long) p * Page.PAGE_SIZE;
  }

  @Test
  void aDmaFaultsEachPageInOnceAndPinsNothing() {
    anon();
    OdpMirror mr = OdpMirror.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
    assertEquals(0, task.mm().pte(addr), "registration faults nothing in");
    DmaTransfer t = mr.dmaWrite(0, PAGES, 11);
    engine.drain();
    assertEquals(DmaTransfer.State.DONE, t.state());
    assertEquals(PAGES, mr.deviceFaults());
    for (int p = 0; p < PAGES; p++) {
      assertEquals(DmaEngine.header(11), task.loadLong(page(p)));
      assertFalse(vm.gup().folioMaybeDmaPinned(mr.mappedPfn(p)), "not pinned");
    }
    mr.dmaWrite(0, PAGES, 12);
    engine.drain();
    assertEquals(PAGES, mr.deviceFaults(), "mapped: no more faults");
    assertEquals(0, pinsAcquired(), "no page is ever pinned");
    mr.deregister();
    task.exit();
  }

  @Test
  void madvDontneedUnmapsFromTheNicAndTheNextDmaFaultsAgain() {
    anon();
    OdpMirror mr = OdpMirror.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
    mr.dmaWrite(0, PAGES, 1);
    engine.drain();
    long before = mr.invalidations();
    task.madvise(page(1), Page.PAGE_SIZE, MADV_DONTNEED);
    assertTrue(mr.invalidations() > before, "MMU_NOTIFY_CLEAR reached the mirror");
    assertEquals(PageAllocator.NO_PFN, mr.mappedPfn(1), "the NIC lost page 1");
    assertTrue(mr.mappedPfn(0) != PageAllocator.NO_PFN, "and only page 1");
    assertEquals(0, task.loadLong(page(1)), "the CPU sees a fresh zero page");
    mr.dmaWrite(1, 1, 2);
    engine.drain();
    assertEquals(PAGES + 1, mr.deviceFaults(), "page 1 faulted again");
    assertEquals(DmaEngine.header(2), task.loadLong(page(1)), "into the page the CPU sees");
    assertEquals(0, pinsAcquired());
    mr.deregister();
    task.exit();
  }

  @Test
  void afterMunmapTheDmaIsAbortedWithEfault() {
    anon();
    OdpMirror mr = OdpMirror.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
    mr.dmaWrite(0, PAGES, 1);
    engine.drain();
    task.munmap(addr, PAGES * Page.PAGE_SIZE);
    assertEquals(PageAllocator.NO_PFN, mr.mappedPfn(0), "MMU_NOTIFY_UNMAP cleared it");
    DmaTransfer t = mr.dmaWrite(0, PAGES, 2);
    engine.drain();
    assertEquals(DmaTransfer.State.ABORTED, t.state());
    assertEquals(Errno.EFAULT, t.error());
    assertEquals(0, t.bytesDone());
    mr.deregister();
    task.exit();
  }

  @Test
  void anInvalidationWhileTheDmaRunsOnASimulatedWorkqueueMakesTheRestFaultAgain() {
    try (SimScheduler sim = new SimScheduler(0x0D9)) {
      vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir, false, sim);
      mem = vm.physicalMemory();
      setUp();
      engine.start(sim.allocWorkqueue("odp-dma"));
      OdpMirror mr = OdpMirror.register(vm, task, addr, PAGES * Page.PAGE_SIZE, true, engine);
      mr.dmaWrite(0, PAGES, 1);
      sim.runUntilIdle();
      assertEquals(PAGES, mr.deviceFaults());
      DmaTransfer t = mr.dmaWrite(0, PAGES, 2);
      sim.advance(1); // one page a jiffy: pages 0 and 1
      assertEquals(2L * Page.PAGE_SIZE, t.bytesDone());
      task.madvise(addr, PAGES * Page.PAGE_SIZE, MADV_DONTNEED);
      sim.runUntilIdle();
      assertEquals(DmaTransfer.State.DONE, t.state());
      assertEquals(PAGES + 2, mr.deviceFaults(), "pages 2 and 3 faulted in again");
      assertEquals(0, task.loadLong(page(0)), "written before the invalidation: gone with it");
      assertEquals(DmaEngine.header(2), task.loadLong(page(3)));
      assertEquals(0, pinsAcquired());
      engine.stop();
      mr.deregister();
      task.exit();
    }
  }
}
