package dev.refkern.examples;

import static dev.refkern.mm.Page.*;

import dev.refkern.hmm.dma.DmaEngine;
import dev.refkern.hmm.dma.DmaTransfer;
import dev.refkern.hmm.dma.Gpu;
import dev.refkern.hmm.dma.OdpMirror;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.PrintStream;

/**
 * The HMM story ({@code mm/hmm.c}, {@code mm/migrate_device.c}): a GPU takes an anonymous range
 * into its {@code MEMORY_DEVICE_PRIVATE} memory with {@code migrate_vma_*}, the CPU touches one
 * page and {@code migrate_to_ram} brings it home; an on-demand-paging RDMA region ({@code
 * ib_umem_odp}) mirrors another range with {@code hmm_range_fault()} and loses it to {@code
 * munmap}'s invalidation. Nothing is pinned; the numbers come from the devices' counters.
 */
public final class HmmDemo {
  private static final int GPU_PAGES = 8;
  private static final int ODP_PAGES = 4;

  private HmmDemo() {}

  /** Runs the story on {@code vm} (which needs {@code zone_device=} memory), printing it. */
  public static void run(VirtualMemory vm, PrintStream out) {
    PhysicalMemory mem = vm.physicalMemory();
    long pins0 = mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
    Task app = vm.createTask("hmm-app");
    DmaEngine engine = new DmaEngine(mem.ram(), PAGE_SIZE);
    long buf = app.mmapAnon(GPU_PAGES * (long) PAGE_SIZE);
    for (int p = 0; p < GPU_PAGES; p++) {
      app.storeLong(buf + (long) p * PAGE_SIZE, 100 + p);
    }
    Gpu gpu = new Gpu(vm, app, buf, GPU_PAGES, 2 * GPU_PAGES, engine);
    long home2 = Pte.pfn(app.mm().pte(buf + 2 * PAGE_SIZE));
    int moved = gpu.migrateToDevice(0, GPU_PAGES);
    long pte2 = app.mm().pte(buf + 2 * PAGE_SIZE);
    out.printf(
        "GPU: migrate_vma_setup/pages/finalize moved %d of %d anon pages into its device-private"
            + " memory;%n  page 2 left pfn %d (system RAM) for device pfn %d: the CPU pte is now a"
            + " device-private entry (%s)%n",
        moved,
        GPU_PAGES,
        home2,
        gpu.devicePfn(2),
        Pte.isDevicePrivate(pte2) ? "not present, no CPU access" : "?");
    DmaTransfer t = gpu.dmaWrite(0, GPU_PAGES, 7);
    engine.drain();
    out.printf(
        "GPU: its DMA writes all %d pages in device memory: %s, device faults %d%n",
        GPU_PAGES, t.state(), gpu.deviceFaults());
    long seen = app.loadLong(buf + 2 * PAGE_SIZE);
    long back = Pte.pfn(app.mm().pte(buf + 2 * PAGE_SIZE));
    out.printf(
        "CPU: loads page 2: migrate_to_ram brings it home to a new system page, pfn %d (zone %s), and reads the GPU's"
            + " stamp %s;%n  migrated to device %d, back to RAM %d, device pages free %d of %d%n",
        back,
        mem.memmap().zone(back),
        seen == DmaEngine.header(7) ? "(seq 7)" : "0x" + Long.toHexString(seen) + " (WRONG)",
        gpu.migratedToDevice(),
        gpu.migratedToRam(),
        gpu.freePages(),
        2 * GPU_PAGES);

    long odpBuf = app.mmapAnon(ODP_PAGES * (long) PAGE_SIZE);
    OdpMirror mr = OdpMirror.register(vm, app, odpBuf, ODP_PAGES * (long) PAGE_SIZE, true, engine);
    DmaTransfer w = mr.dmaWrite(0, ODP_PAGES, 9);
    engine.drain();
    out.printf(
        "ODP MR over %d more pages: its DMA %s after %d device faults (hmm_range_fault in the"
            + " read_begin/read_retry loop), nothing pinned%n",
        ODP_PAGES, w.state(), mr.deviceFaults());
    long inv = mr.invalidations();
    app.munmap(odpBuf, ODP_PAGES * (long) PAGE_SIZE);
    DmaTransfer after = mr.dmaWrite(0, ODP_PAGES, 10);
    engine.drain();
    out.printf(
        "munmap: MMU_NOTIFY_UNMAP invalidated the mirror (%d invalidation), the NIC maps page 0 %s;"
            + "%n  its next DMA is %s with %s%n",
        mr.invalidations() - inv,
        mr.mappedPfn(0) == PageAllocator.NO_PFN ? "no more" : "STILL",
        after.state(),
        after.error());
    mr.deregister();
    gpu.destroy();
    app.exit();
    out.printf(
        "GPU destroyed (its %d device pages evicted home, memunmap_pages), app exited;"
            + " nr_foll_pin_acquired +%d%n",
        GPU_PAGES - 1, mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED) - pins0);
  }
}
