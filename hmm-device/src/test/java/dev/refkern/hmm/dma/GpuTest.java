package dev.refkern.hmm.dma;

import static dev.refkern.mm.vm.Mman.MAP_SHARED;
import static dev.refkern.mm.vm.Mman.PROT_READ;
import static dev.refkern.mm.vm.Mman.PROT_WRITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import org.junit.jupiter.api.Test;

/** A GPU with device-private memory: migrate_vma in, DMA there, migrate_to_ram on a CPU touch. */
class GpuTest extends DmaTestBase {
  private static final int PAGES = 4;
  private Task task;
  private long addr;
  private DmaEngine engine;

  private void anon() {
    boot("mem=64M zone_device=16M");
    task = vm.createTask("app");
    addr = task.mmapAnon(PAGES * Page.PAGE_SIZE);
    for (int p = 0; p < PAGES; p++) {
      task.storeLong(addr + (long) p * Page.PAGE_SIZE, 100 + p);
    }
    engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
  }

  private long page(int p) {
    return addr + (long) p * Page.PAGE_SIZE;
  }

  @Test
  void migrateToDeviceMovesTheDataAndLeavesDevicePrivateEntries() {
    anon();
    Gpu gpu = new Gpu(vm, task, addr, PAGES, 8, engine);
    assertEquals(PAGES, gpu.migrateToDevice(0, PAGES));
    assertEquals(8 - PAGES, gpu.freePages());
    for (int p = 0; p < PAGES; p++) {
      long pte = task.mm().pte(page(p));
      assertTrue(Pte.isDevicePrivate(pte), "device-private entry at page " + p);
      assertEquals(gpu.devicePfn(p), Pte.entryPfn(pte));
      assertEquals(100 + p, mem.ram().readLong(gpu.devicePfn(p), 0), "the data moved along");
    }
    assertEquals(0, gpu.migrateToDevice(0, PAGES), "already there");
    gpu.destroy();
    assertEquals(101, task.loadLong(page(1)), "evicted home with its data");
    assertTrue(Pte.present(task.mm().pte(page(1))));
    task.exit();
  }

  @Test
  void theGpuDmaWritesDeviceMemoryAndACpuTouchMigratesThePageBack() {
    anon();
    Gpu gpu = new Gpu(vm, task, addr, PAGES, 8, engine);
    gpu.migrateToDevice(0, PAGES);
    long dev2 = gpu.devicePfn(2);
    DmaTransfer t = gpu.dmaWrite(0, PAGES, 31);
    engine.drain();
    assertEquals(DmaTransfer.State.DONE, t.state());
    assertEquals(0, gpu.deviceFaults());
    assertEquals(31, DmaEngine.stampOf(mem.ram(), dev2));
    assertEquals(DmaEngine.header(31), task.loadLong(page(2)), "migrate_to_ram brought it home");
    assertEquals(1, gpu.migratedToRam());
    long pte = task.mm().pte(page(2));
    assertTrue(Pte.present(pte));
    assertEquals(31, DmaEngine.stampOf(mem.ram(), Pte.pfn(pte)), "whole");
    assertEquals(PageAllocator.NO_PFN, gpu.devicePfn(2), "out of the device page table");
    assertEquals(8 - PAGES + 1, gpu.freePages(), "page_free gave the device page back");
    gpu.destroy();
    task.exit();
  }

  @Test
  void aDmaToAPageInSystemMemoryFaultsAndMigratesItFirst() {
    anon();
    Gpu gpu = new Gpu(vm, task, addr, PAGES, 8, engine);
    gpu.dmaWrite(1, 1, 5);
    engine.drain();
    assertEquals(1, gpu.deviceFaults());
    assertEquals(1, gpu.migratedToDevice());
    assertTrue(Pte.isDevicePrivate(task.mm().pte(page(1))));
    assertEquals(5, DmaEngine.stampOf(mem.ram(), gpu.devicePfn(1)));
    assertEquals(100, task.loadLong(page(0)), "the others stayed");
    task.exit(); // zaps the device-private entry: page_free
    assertEquals(8, gpu.freePages());
    gpu.destroy();
  }

  @Test
  void fileBackedPagesStayInSystemMemory() {
    boot("mem=64M zone_device=16M");
    task = vm.createTask("app");
    AddressSpace file = AddressSpace.create(mem, new RamBackedAops());
    file.setSize(PAGES * Page.PAGE_SIZE);
    addr = task.mmap(0, PAGES * Page.PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(addr, 1);
    engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
    Gpu gpu = new Gpu(vm, task, addr, PAGES, 8, engine);
    assertEquals(0, gpu.migrateToDevice(0, PAGES), "migrate_vma moves anonymous memory only");
    assertEquals(8, gpu.freePages());
    DmaTransfer t = gpu.dmaWrite(0, 1, 2);
    engine.drain();
    assertEquals(DmaTransfer.State.ABORTED, t.state(), "no device page for it: the DMA fails");
    assertNotEquals(0, task.mm().pte(addr));
    gpu.destroy();
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  /** A ram-backed file that counts {@code ->page_mkwrite} calls and which pfn they named. */
  private static final class MkwriteCounting implements dev.refkern.mm.spi.AddressSpaceOperations {
    final RamBackedAops disk = new RamBackedAops();
    int mkwrites;
    long lastPfn = -1;

    @Override
    public int readFolio(AddressSpace mapping, long pfn) {
      return disk.readFolio(mapping, pfn);
    }

    @Override
    public int writeFolio(AddressSpace mapping, long pfn) {
      return disk.writeFolio(mapping, pfn);
    }

    @Override
    public int writeFolioFrom(AddressSpace mapping, long pfn, long dataPfn) {
      return disk.writeFolioFrom(mapping, pfn, dataPfn);
    }

    @Override
    public int pageMkwrite(AddressSpace mapping, long pfn) {
      mkwrites++;
      lastPfn = pfn;
      return GENERIC;
    }
  }

  @Test
  void underBounceTheGpuTellsTheFilesystemBeforeEachWriteAfterWriteback() {
    boot("mem=64M zone_device=16M hmm.file_pages=bounce");
    task = vm.createTask("app");
    MkwriteCounting aops = new MkwriteCounting();
    AddressSpace file = AddressSpace.create(mem, aops);
    file.setSize(PAGES * Page.PAGE_SIZE);
    addr = task.mmap(0, PAGES * Page.PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
    Gpu gpu = new Gpu(vm, task, addr, PAGES, 8, engine);
    DmaTransfer t = gpu.dmaWrite(1, 1, 7); // a hole: faulted in by the CPU, then migrated
    engine.drain();
    assertEquals(DmaTransfer.State.DONE, t.state());
    long dev = Pte.entryPfn(task.mm().pte(page(1)));
    assertTrue(gpu.pagemap().contains(dev), "the file page is in device memory");
    assertEquals(1, aops.mkwrites, "->page_mkwrite before the device wrote");
    assertEquals(dev, aops.lastPfn);
    assertEquals(1, file.nrDirty());
    assertEquals(0, vm.filemap().filemapWriteAndWait(file));
    assertEquals(0, file.nrDirty());
    assertEquals(7, stampOnDisk(aops.disk, 1), "bounced from the device");
    gpu.dmaWrite(1, 1, 8);
    engine.drain();
    assertEquals(2, aops.mkwrites, "writeback write-protected the device mapping: asked again");
    assertEquals(1, file.nrDirty());
    assertEquals(0, vm.filemap().filemapWriteAndWait(file));
    assertEquals(8, stampOnDisk(aops.disk, 1));
    assertEquals(dev, Pte.entryPfn(task.mm().pte(page(1))), "it never left the device");
    gpu.destroy();
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  private long stampOnDisk(RamBackedAops disk, long index) {
    long pfn = mem.allocator().allocPages(dev.refkern.mm.Gfp.KERNEL, 0);
    try {
      mem.ram().write(pfn, 0, disk.readBlock(index), 0, Page.PAGE_SIZE);
      return DmaEngine.stampOf(mem.ram(), pfn);
    } finally {
      mem.allocator().freePages(pfn, 0);
    }
  }
}
