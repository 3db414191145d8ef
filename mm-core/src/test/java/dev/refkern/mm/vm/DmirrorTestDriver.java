package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.MigrateDevice.*;

import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmFault;
import dev.refkern.mm.spi.DevPagemapOps;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * A small {@code lib/test_hmm.c} dmirror for mm-core's tests: a pool of device pages, {@code
 * migrate_to_ram} as {@code dmirror_devmem_fault()} does it, and migration of a range to the device
 * as {@code dmirror_migrate_to_device()}.
 */
final class DmirrorTestDriver implements DevPagemapOps {
  final Object owner;
  final PhysicalMemory mem;
  final VirtualMemory vm;
  final FolioOps folios;
  final DevPagemap pgmap;
  final long start;
  final Deque<Long> free = new ArrayDeque<>();
  final List<Long> freed = new ArrayList<>();
  int migrateToRamCalls;
  boolean failMigrateToRam;

  DmirrorTestDriver(VirtualMemory vm, DevPagemap.MemoryType type, Object owner, int pages) {
    this.vm = vm;
    this.mem = vm.physicalMemory();
    this.owner = owner;
    this.folios = new FolioOps(mem);
    this.pgmap = new DevPagemap(type, this, owner);
    this.start = mem.memremapPages(pgmap, pages);
    for (long p = start; p < start + pages; p++) {
      free.add(p);
    }
  }

  /** {@code dmirror_devmem_alloc_page()}: refcount 1, locked, as a migration destination. */
  long allocDevicePage() {
    long pfn = free.removeFirst();
    mem.zoneDevicePageInit(pfn);
    folios.folioLock(pfn);
    return pfn;
  }

  @Override
  public void pageFree(long pfn) {
    freed.add(pfn);
    free.add(pfn);
  }

  @Override
  public int migrateToRam(long pfn, Object vmaObj, long address) {
    migrateToRamCalls++;
    if (failMigrateToRam) {
      return VmFault.VM_FAULT_SIGBUS;
    }
    MigrateVma a = new MigrateVma();
    a.vma = (Vma) vmaObj;
    a.start = address & ~4095L;
    a.end = a.start + 4096;
    a.src = new long[1];
    a.dst = new long[1];
    a.pgmapOwner = owner;
    a.flags = SELECT_DEVICE_PRIVATE;
    a.faultPage = pfn;
    MigrateDevice md = vm.migrateDevice();
    md.migrateVmaSetup(a);
    if ((a.src[0] & MIGRATE_PFN_MIGRATE) != 0) {
      long d = mem.allocator().allocPages(Gfp.HIGHUSER_MOVABLE, 0);
      if (d == PageAllocator.NO_PFN) {
        md.migrateVmaFinalize(a);
        return VmFault.VM_FAULT_OOM;
      }
      folios.folioLock(d);
      mem.ram().copyPage(d, pfnOf(a.src[0]));
      a.dst[0] = migratePfn(d);
    }
    md.migrateVmaPages(a);
    md.migrateVmaFinalize(a);
    return 0;
  }

  /** {@code dmirror_migrate_to_device()}: the range's system pages to device pages. */
  MigrateVma migrateToDevice(MmStruct mm, long addr, int pages) {
    return migrateTo(mm, addr, pages, SELECT_SYSTEM, true);
  }

  /** Migrates with {@code flags}, giving device pages ({@code toDevice}) or system pages. */
  MigrateVma migrateTo(MmStruct mm, long addr, int pages, int flags, boolean toDevice) {
    MigrateVma a = new MigrateVma();
    mm.mmapReadLock();
    try {
      a.vma = mm.vmaLookup(addr);
      a.start = addr;
      a.end = addr + pages * 4096L;
      a.src = new long[pages];
      a.dst = new long[pages];
      a.pgmapOwner = owner;
      a.flags = flags;
      MigrateDevice md = vm.migrateDevice();
      md.migrateVmaSetup(a);
      for (int i = 0; i < pages; i++) {
        if ((a.src[i] & MIGRATE_PFN_MIGRATE) == 0) {
          continue;
        }
        long d = toDevice ? allocDevicePage() : lockedSystemPage();
        long s = pfnOf(a.src[i]);
        if (s >= 0) {
          mem.ram().copyPage(d, s);
        } else {
          mem.ram().zeroPage(d);
        }
        a.dst[i] = migratePfn(d);
      }
      md.migrateVmaPages(a);
      md.migrateVmaFinalize(a);
    } finally {
      mm.mmapReadUnlock();
    }
    return a;
  }

  private long lockedSystemPage() {
    long d = mem.allocator().allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    folios.folioLock(d);
    return d;
  }

  /** {@code dmirror_device_evict_chunk()}: every page of the pool back to system memory. */
  void evictAll() {
    int n = (int) pgmap.nrPages();
    long[] src = new long[n];
    long[] dst = new long[n];
    MigrateDevice md = vm.migrateDevice();
    md.migrateDeviceRange(src, start, n);
    for (int i = 0; i < n; i++) {
      if ((src[i] & MIGRATE_PFN_MIGRATE) == 0) {
        continue;
      }
      long d = lockedSystemPage();
      mem.ram().copyPage(d, pfnOf(src[i]));
      dst[i] = migratePfn(d);
    }
    md.migrateDevicePages(src, dst, n);
    md.migrateDeviceFinalize(src, dst, n);
  }
}
