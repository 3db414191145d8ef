package dev.refkern.hmm.dma;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmFault;
import dev.refkern.mm.spi.DevPagemapOps;
import dev.refkern.mm.vm.MigrateDevice;
import dev.refkern.mm.vm.MigrateVma;
import dev.refkern.mm.vm.MmStruct;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.Vma;
import dev.refkern.notifier.MmuIntervalNotifier;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.Arrays;
import org.apiguardian.api.API;

/**
 * A GPU with {@code MEMORY_DEVICE_PRIVATE} memory, modelled on {@code lib/test_hmm.c}'s dmirror
 * device ({@code struct dmirror_device}): its own {@code dev_pagemap} from {@code
 * memremap_pages()}, a free list refilled by {@code page_free}, {@code migrate_vma_*} of a user
 * range into that memory, and {@code migrate_to_ram} when the CPU touches a page there.
 *
 * <p>It mirrors one anonymous range of one task. Its {@link DmaEngine} writes into the device
 * pages; a DMA to a page not in device memory is a device fault that migrates it there first. An
 * mmu interval notifier over the range clears the device's page table on every invalidation except
 * its own migrations ({@code MMU_NOTIFY_MIGRATE} with itself as owner), as {@code
 * dmirror_interval_invalidate} does.
 *
 * <p>The range may also be a shared file mapping, under {@code hmm.file_pages=migrate_back} or
 * {@code bounce} (seed 004, beyond mainline): a page is faulted in by the CPU first (a hole reads
 * as zeroes, as Jérôme Glisse says the kernel would initialise it), then migrated; the device maps
 * a device-resident file page only from its device fault, and before it writes one it calls {@link
 * dev.refkern.mm.vm.Filemap#devicePageMkwrite} so the filesystem allocates the block and the folio
 * is dirty. Writeback write-protects the device mapping ({@code folio_mkclean()}), so the next
 * device write faults and asks again. Under {@code off} file pages stay in system memory and the
 * DMA fails.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class Gpu implements DmaTarget {
  private final VirtualMemory vm;
  private final PhysicalMemory mem;
  private final FolioOps folios;
  private final MigrateDevice migrate;
  private final DmaEngine engine;
  private final MmStruct mm;
  private final long start;
  private final DevPagemap pgmap;
  private final long base; // first device pfn
  private final long[] free; // the free list, a stack of device pfns
  private int nrFree;
  private final long[] devPfn; // device page table: user page -> device pfn, or NO_PFN
  private final int[] owner; // device page -> user page it holds, or -1
  private final MmuIntervalNotifier notifier;
  private final MigrateVma faultArgs = new MigrateVma(); // the DMA stepper's, one page
  private long deviceFaults;
  private long migratedToDevice;
  private long migratedToRam;
  private boolean destroyed;

  /**
   * A GPU with {@code devicePages} pages of private memory mirroring {@code npages} pages of {@code
   * task} from {@code addr}.
   *
   * @throws KernelException {@code EINVAL} for an unaligned or empty range; {@code ERANGE} if
   *     {@code zone_device=} has no room for its memory
   */
  public Gpu(
      VirtualMemory vm, Task task, long addr, int npages, int devicePages, DmaEngine engine) {
    if ((addr & (Page.PAGE_SIZE - 1)) != 0 || npages < 1 || devicePages < 1) {
      throw new KernelException(Errno.EINVAL, "gpu: unaligned or empty range");
    }
    this.vm = vm;
    this.mem = vm.physicalMemory();
    this.folios = new FolioOps(mem);
    this.migrate = vm.migrateDevice();
    this.engine = engine;
    this.mm = task.mm();
    this.start = addr;
    this.pgmap = new DevPagemap(DevPagemap.MemoryType.DEVICE_PRIVATE, new Ops(), this);
    this.base = mem.memremapPages(pgmap, devicePages);
    this.free = new long[devicePages];
    for (int i = devicePages - 1; i >= 0; i--) {
      free[nrFree++] = base + i;
    }
    this.devPfn = new long[npages];
    Arrays.fill(devPfn, PageAllocator.NO_PFN);
    this.owner = new int[devicePages];
    Arrays.fill(owner, -1);
    faultArgs.src = new long[1];
    faultArgs.dst = new long[1];
    this.notifier =
        mm.notifiers().intervalInsert(addr, (long) npages * Page.PAGE_SIZE, this::invalidate);
  }

  /** The device memory, {@code struct dev_pagemap}. */
  public DevPagemap pagemap() {
    return pgmap;
  }

  /** Queues a DMA write of its pages {@code [first, first + pages)}, stamped with {@code seq}. */
  public DmaTransfer dmaWrite(int first, int pages, long seq) {
    return engine.submitWrite(this, first, pages, seq);
  }

  /**
   * {@code dmirror_migrate_to_device()}: migrates pages {@code [first, first + n)} of the range
   * into device memory with {@code migrate_vma_setup/pages/finalize}.
   *
   * @return pages now in device memory that were not before (file-backed, pinned or busy pages, and
   *     pages beyond the free device memory, stay)
   * @throws KernelException {@code EINVAL} outside the range, {@code EFAULT} where no VMA is
   */
  public int migrateToDevice(int first, int n) {
    if (first < 0 || n < 1 || first > devPfn.length - n) {
      throw new KernelException(Errno.EINVAL, "gpu: pages outside the range");
    }
    MigrateVma args = new MigrateVma();
    args.src = new long[n];
    args.dst = new long[n];
    return toDevice(args, first, n);
  }

  private int toDevice(MigrateVma args, int first, int n) {
    long addr = start + (long) first * Page.PAGE_SIZE;
    mm.mmapReadLock();
    try {
      Vma vma = mm.vmaLookup(addr);
      if (vma == null || vma.end() < addr + (long) n * Page.PAGE_SIZE) {
        throw new KernelException(Errno.EFAULT, "gpu: no vma at 0x" + Long.toHexString(addr));
      }
      args.vma = vma;
      args.start = addr;
      args.end = addr + (long) n * Page.PAGE_SIZE;
      args.flags = MigrateDevice.SELECT_SYSTEM;
      args.pgmapOwner = this;
      args.faultPage = -1;
      if (!vma.isAnonymous()) {
        faultInFilePages(vma, addr, n);
      }
      migrate.migrateVmaSetup(args);
      for (int i = 0; i < n; i++) { // dmirror_migrate_alloc_and_copy()
        long src = args.src[i];
        if ((src & MigrateDevice.MIGRATE_PFN_MIGRATE) == 0) {
          continue;
        }
        long dpage = allocDevicePage();
        if (dpage == PageAllocator.NO_PFN) {
          continue;
        }
        long spage = MigrateDevice.pfnOf(src);
        if (spage >= 0) {
          mem.ram().copyPage(dpage, spage);
        } else {
          mem.ram().zeroPage(dpage);
        }
        args.dst[i] = MigrateDevice.migratePfn(dpage) | (src & MigrateDevice.MIGRATE_PFN_WRITE);
      }
      migrate.migrateVmaPages(args);
      int moved = 0;
      synchronized (this) { // dmirror_migrate_finalize_and_map(): the device maps its pages
        for (int i = 0; i < n; i++) {
          long d = MigrateDevice.pfnOf(args.dst[i]);
          if (d >= 0 && (args.src[i] & MigrateDevice.MIGRATE_PFN_MIGRATE) != 0) {
            // a file page is mapped by the device fault, after ->page_mkwrite for a write
            devPfn[first + i] = vma.isAnonymous() ? d : PageAllocator.NO_PFN;
            owner[(int) (d - base)] = first + i;
            moved++;
          }
        }
        migratedToDevice += moved;
      }
      migrate.migrateVmaFinalize(args);
      return moved;
    } finally {
      mm.mmapReadUnlock();
    }
  }

  /**
   * A CPU read fault on each file page not yet in the page cache's mapping here (a hole reads as
   * zeroes): {@code migrate_vma} only collects mapped file pages.
   */
  private void faultInFilePages(Vma vma, long addr, int n) {
    for (int i = 0; i < n; i++) {
      long a = addr + (long) i * Page.PAGE_SIZE;
      if (mm.pte(a) == 0
          && (vm.handleMmFault(mm, a, 0) & (VmFault.VM_FAULT_SIGBUS | VmFault.VM_FAULT_OOM)) != 0) {
        return; // past EOF or no memory: those pages stay where they are
      }
    }
  }

  /** {@code dmirror_devmem_alloc_page()}: a free device page, referenced and locked. */
  private long allocDevicePage() {
    long d;
    synchronized (this) {
      if (nrFree == 0) {
        return PageAllocator.NO_PFN;
      }
      d = free[--nrFree];
    }
    mem.zoneDevicePageInit(d);
    folios.folioLock(d);
    return d;
  }

  /**
   * {@code dmirror_device_evict_chunk()} and {@code memunmap_pages()}: migrates every page still in
   * device memory back to system memory and returns the device memory. Call before the task exits
   * or after; twice is once.
   */
  public void destroy() {
    synchronized (this) {
      if (destroyed) {
        return;
      }
      destroyed = true;
    }
    engine.abortAll(this);
    notifier.remove();
    int n = free.length;
    long[] src = new long[n];
    long[] dst = new long[n];
    migrate.migrateDeviceRange(src, base, n);
    for (int i = 0; i < n; i++) {
      if ((src[i] & MigrateDevice.MIGRATE_PFN_MIGRATE) == 0) {
        continue;
      }
      long spage = MigrateDevice.pfnOf(src[i]);
      long dpage = mem.allocator().allocPages(Gfp.HIGHUSER_MOVABLE | Gfp.NOWARN, 0);
      if (dpage == PageAllocator.NO_PFN) {
        continue; // stays on the device: memunmap_pages below says EBUSY
      }
      folios.folioLock(dpage);
      mem.ram().copyPage(dpage, spage);
      dst[i] = MigrateDevice.migratePfn(dpage);
    }
    migrate.migrateDevicePages(src, dst, n);
    migrate.migrateDeviceFinalize(src, dst, n);
    mem.memunmapPages(pgmap);
  }

  /** An invalidation clears the device's page table, except its own migrations. */
  private boolean invalidate(MmuIntervalNotifier sub, MmuNotifierRange range, long seq) {
    synchronized (this) {
      sub.setSeq(seq);
      if (range.event() == MmuNotifierEvent.MIGRATE && range.owner() == this) {
        return true; // dmirror_interval_invalidate(): our own migration
      }
      long end = start + (long) devPfn.length * Page.PAGE_SIZE;
      long s = Math.max(range.start(), start);
      long e = Long.compareUnsigned(range.end(), end) < 0 ? range.end() : end;
      for (long a = s & ~(long) (Page.PAGE_SIZE - 1); a < e; a += Page.PAGE_SIZE) {
        devPfn[(int) ((a - start) >>> Page.PAGE_SHIFT)] = PageAllocator.NO_PFN;
      }
    }
    return true;
  }

  @Override
  public int dmaPages() {
    return devPfn.length;
  }

  @Override
  public synchronized long dmaPfn(int index, boolean write) {
    return destroyed ? NOT_MAPPED : devPfn[index];
  }

  /**
   * A device fault: a page the device page table lacks is either already ours (a device-private
   * entry whose mapping an invalidation cleared: mapped again) or migrated to device memory.
   */
  @Override
  public boolean dmaFault(int index, boolean write) {
    synchronized (this) {
      if (destroyed) {
        return false;
      }
      deviceFaults++;
    }
    long addr = start + (long) index * Page.PAGE_SIZE;
    long pte = mm.pte(addr);
    if (!Pte.isDevicePrivate(pte) || !pgmap.contains(Pte.entryPfn(pte))) {
      try {
        if (toDevice(faultArgs, index, 1) != 1) {
          return false;
        }
      } catch (KernelException e) {
        return false; // unmapped: the DMA fails
      }
      pte = mm.pte(addr);
      if (!Pte.isDevicePrivate(pte) || !pgmap.contains(Pte.entryPfn(pte))) {
        return true; // an anonymous page toDevice mapped, or gone again: the engine retries
      }
    }
    long pfn = Pte.entryPfn(pte);
    if (write && !tellFilesystem(addr, pfn)) {
      return false;
    }
    synchronized (this) {
      devPfn[index] = pfn;
    }
    return true;
  }

  /**
   * Before the device writes a file page in its memory: {@link
   * dev.refkern.mm.vm.Filemap#devicePageMkwrite} (seed 004). An anonymous page needs nothing.
   */
  private boolean tellFilesystem(long addr, long pfn) {
    dev.refkern.mm.AddressSpace file;
    mm.mmapReadLock();
    try {
      Vma vma = mm.vmaLookup(addr);
      if (vma == null) {
        return false;
      }
      if (vma.isAnonymous()) {
        return true;
      }
      file = vma.file();
    } finally {
      mm.mmapReadUnlock();
    }
    try {
      return vm.filemap().devicePageMkwrite(file, pfn) == 0;
    } catch (KernelException e) {
      return false; // ENOSPC from the filesystem: the DMA fails
    }
  }

  /** Device pages free. */
  public synchronized int freePages() {
    return nrFree;
  }

  /** The device page holding page {@code index}, or {@link PageAllocator#NO_PFN}. */
  public synchronized long devicePfn(int index) {
    return devPfn[index];
  }

  /** DMA accesses to pages not in device memory. */
  public synchronized long deviceFaults() {
    return deviceFaults;
  }

  /** Pages migrated into device memory. */
  public synchronized long migratedToDevice() {
    return migratedToDevice;
  }

  /** Pages {@code migrate_to_ram} brought back when the CPU touched them. */
  public synchronized long migratedToRam() {
    return migratedToRam;
  }

  /** {@code dmirror_devmem_ops}. */
  private final class Ops implements DevPagemapOps {
    /** {@code dmirror_devmem_free()}: back on the free list, out of the device page table. */
    @Override
    public void pageFree(long pfn) {
      synchronized (Gpu.this) {
        int slot = (int) (pfn - base);
        int user = owner[slot];
        if (user >= 0 && devPfn[user] == pfn) {
          devPfn[user] = PageAllocator.NO_PFN;
        }
        owner[slot] = -1;
        free[nrFree++] = pfn;
      }
    }

    /**
     * {@code dmirror_devmem_fault()}: migrates the page the CPU touched back to system memory; the
     * fault path holds the page's lock and {@code mmap_lock}.
     */
    @Override
    public int migrateToRam(long pfn, Object vma, long address) {
      MigrateVma args = new MigrateVma();
      args.vma = (Vma) vma;
      args.start = address & ~(long) (Page.PAGE_SIZE - 1);
      args.end = args.start + Page.PAGE_SIZE;
      args.src = new long[1];
      args.dst = new long[1];
      args.pgmapOwner = Gpu.this;
      args.flags = MigrateDevice.SELECT_DEVICE_PRIVATE;
      args.faultPage = pfn;
      try {
        migrate.migrateVmaSetup(args);
      } catch (KernelException e) {
        return VmFault.VM_FAULT_SIGBUS;
      }
      long src = args.src[0];
      if ((src & MigrateDevice.MIGRATE_PFN_MIGRATE) != 0) {
        long spage = MigrateDevice.pfnOf(src);
        long dpage = mem.allocator().allocPages(Gfp.HIGHUSER_MOVABLE, 0);
        if (dpage == PageAllocator.NO_PFN) {
          migrate.migrateVmaFinalize(args);
          return VmFault.VM_FAULT_OOM;
        }
        folios.folioLock(dpage);
        mem.ram().copyPage(dpage, spage);
        args.dst[0] = MigrateDevice.migratePfn(dpage) | (src & MigrateDevice.MIGRATE_PFN_WRITE);
      }
      migrate.migrateVmaPages(args);
      if ((args.src[0] & MigrateDevice.MIGRATE_PFN_MIGRATE) != 0) {
        synchronized (Gpu.this) {
          migratedToRam++;
        }
      }
      migrate.migrateVmaFinalize(args); // the device page is freed: pageFree unmaps it
      return 0;
    }
  }
}
