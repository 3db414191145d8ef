package dev.refkern.hmm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmFault;
import dev.refkern.mm.spi.DevPagemapOps;
import dev.refkern.mm.vm.MigrateDevice;
import dev.refkern.mm.vm.MigrateVma;
import dev.refkern.mm.vm.MmStruct;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.Vma;
import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * {@code struct dmirror_device} ({@code lib/test_hmm.c}): a simulated device with {@code
 * MEMORY_DEVICE_PRIVATE} or {@code MEMORY_DEVICE_COHERENT} memory, in chunks from {@code
 * memremap_pages()}, handed out from a free list and returned to it by {@code page_free}. The data
 * of a device page lives in {@link PhysicalMemory#ram()} at its own pfn, so no backing system page
 * ({@code rpage}) is needed. {@link #open} gives the per-process {@link Dmirror}.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class DmirrorDevice {
  /** Pages per chunk (the kernel's {@code DEVMEM_CHUNK_SIZE} is 256 MiB; refkern's is small). */
  public static final int DEFAULT_CHUNK_PAGES = 512;

  private final VirtualMemory vm;
  private final PhysicalMemory mem;
  private final FolioOps folios;
  private final DevPagemap.MemoryType type;
  private final int chunkPages;
  private final String name;
  private final List<Chunk> chunks = new ArrayList<>();
  private long[] freePages = new long[0];
  private int nrFree;
  private long calloc;
  private long cfree;

  /** {@code struct dmirror_chunk}: one {@code dev_pagemap} and who each page was migrated for. */
  private static final class Chunk {
    final DevPagemap pagemap;
    final long start;
    final Dmirror[] owners;

    Chunk(DevPagemap pagemap, long start, int n) {
      this.pagemap = pagemap;
      this.start = start;
      this.owners = new Dmirror[n];
    }
  }

  private final DevPagemapOps ops =
      new DevPagemapOps() {
        @Override
        public void pageFree(long pfn) {
          devmemFree(pfn);
        }

        @Override
        public int migrateToRam(long pfn, Object vma, long address) {
          return devmemFault(pfn, (Vma) vma, address);
        }
      };

  /**
   * {@code dmirror_device_init()}: a device named {@code name} with one chunk of {@code chunkPages}
   * pages of {@code type} memory.
   *
   * @throws KernelException {@code EINVAL} for a type other than device-private or coherent
   */
  public DmirrorDevice(VirtualMemory vm, DevPagemap.MemoryType type, String name, int chunkPages) {
    if (type != DevPagemap.MemoryType.DEVICE_PRIVATE
        && type != DevPagemap.MemoryType.DEVICE_COHERENT) {
      throw new KernelException(Errno.EINVAL, "dmirror: unsupported memory type " + type);
    }
    if (chunkPages <= 0) {
      throw new KernelException(Errno.EINVAL, "dmirror: bad chunk size");
    }
    this.vm = vm;
    this.mem = vm.physicalMemory();
    this.folios = new FolioOps(mem);
    this.type = type;
    this.chunkPages = chunkPages;
    this.name = name;
    allocateChunk(); // build the first list of free device pages
  }

  public DmirrorDevice(VirtualMemory vm, DevPagemap.MemoryType type, String name) {
    this(vm, type, name, DEFAULT_CHUNK_PAGES);
  }

  /** {@code dmirror_fops_open()}: a mirror of {@code mm}. */
  public Dmirror open(MmStruct mm) {
    return new Dmirror(this, mm);
  }

  public DevPagemap.MemoryType type() {
    return type;
  }

  VirtualMemory vm() {
    return vm;
  }

  FolioOps folios() {
    return folios;
  }

  /** {@code calloc}: device pages handed out so far. */
  public synchronized long calloc() {
    return calloc;
  }

  /** {@code cfree}: device pages returned by {@code page_free} so far. */
  public synchronized long cfree() {
    return cfree;
  }

  /** Free device pages on the list. */
  public synchronized int nrFreePages() {
    return nrFree;
  }

  /** The pagemaps of the chunks, in order. */
  public synchronized List<DevPagemap> pagemaps() {
    List<DevPagemap> l = new ArrayList<>(chunks.size());
    for (Chunk c : chunks) {
      l.add(c.pagemap);
    }
    return l;
  }

  /** {@code dmirror_select_device()}: what {@code migrate_vma} selects on this device. */
  int selectFlags() {
    return type == DevPagemap.MemoryType.DEVICE_PRIVATE
        ? MigrateDevice.SELECT_DEVICE_PRIVATE
        : MigrateDevice.SELECT_DEVICE_COHERENT;
  }

  /** {@code dmirror_allocate_chunk()}: false when no {@code ZONE_DEVICE} range is left. */
  private synchronized boolean allocateChunk() {
    DevPagemap pg = new DevPagemap(type, ops, this);
    long start;
    try {
      start = mem.memremapPages(pg, chunkPages);
    } catch (KernelException e) {
      if (e.errno() == Errno.ERANGE) {
        return false;
      }
      throw e;
    }
    chunks.add(new Chunk(pg, start, chunkPages));
    // room for every device page: all of them may be free at once
    int total = chunks.size() * chunkPages;
    if (freePages.length < total) {
      freePages = java.util.Arrays.copyOf(freePages, total);
    }
    for (long pfn = start + chunkPages - 1; pfn >= start; pfn--) {
      freePages[nrFree++] = pfn;
    }
    return true;
  }

  /**
   * {@code dmirror_devmem_alloc_page()}: a free device page, initialised ({@code
   * zone_device_page_init}: refcount 1) and locked, recorded as holding {@code owner}'s data; -1
   * when the device is full.
   */
  long allocPage(Dmirror owner) {
    long pfn;
    synchronized (this) {
      if (nrFree == 0 && !allocateChunk()) {
        return -1;
      }
      pfn = freePages[--nrFree];
      calloc++;
      Chunk c = chunkOf(pfn);
      c.owners[(int) (pfn - c.start)] = owner;
    }
    mem.zoneDevicePageInit(pfn);
    lockNew(pfn);
    return pfn;
  }

  /** A new migration destination: {@code migrate_vma_pages} expects it locked. */
  void lockNew(long pfn) {
    // zone_device_page_init() locks in newer kernels; lock only if this one did not
    if (!folios.folioTestLocked(pfn)) {
      folios.folioLock(pfn);
    }
  }

  /** A locked system page for data coming home ({@code alloc_page_vma} + {@code lock_page}). */
  long allocSystemPage() {
    long pfn = mem.allocator().allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    if (pfn == PageAllocator.NO_PFN) {
      return -1;
    }
    lockNew(pfn);
    return pfn;
  }

  /** The mirror a device page holds data for ({@code rpage->zone_device_data}), or null. */
  synchronized Dmirror ownerOf(long pfn) {
    Chunk c = chunkOf(pfn);
    return c == null ? null : c.owners[(int) (pfn - c.start)];
  }

  /** True when {@code pfn} is this device's memory ({@code dmirror_page_to_device}). */
  boolean owns(long pfn) {
    DevPagemap p = mem.pagemapOf(pfn);
    return p != null && p.owner() == this;
  }

  private Chunk chunkOf(long pfn) {
    for (int i = 0, n = chunks.size(); i < n; i++) { // no iterator: called per page
      Chunk c = chunks.get(i);
      if (pfn >= c.start && pfn < c.start + chunkPages) {
        return c;
      }
    }
    return null;
  }

  /** {@code dmirror_devmem_free()}: {@code page_free}, the page is the driver's again. */
  private synchronized void devmemFree(long pfn) {
    Chunk c = chunkOf(pfn);
    if (c == null) {
      return; // its chunk is being removed
    }
    c.owners[(int) (pfn - c.start)] = null;
    cfree++;
    freePages[nrFree++] = pfn;
  }

  /** {@code dmirror_devmem_fault()}: {@code migrate_to_ram} for the CPU touching {@code pfn}. */
  private int devmemFault(long pfn, Vma vma, long address) {
    Dmirror dmirror = ownerOf(pfn);
    if (dmirror == null) {
      return VmFault.VM_FAULT_SIGBUS;
    }
    MigrateDevice md = vm.migrateDevice();
    MigrateVma args = new MigrateVma();
    args.vma = vma;
    args.start = address & dev.refkern.mm.Page.PAGE_MASK;
    args.end = args.start + dev.refkern.mm.Page.PAGE_SIZE;
    args.src = new long[1];
    args.dst = new long[1];
    args.pgmapOwner = this;
    args.flags = selectFlags();
    args.faultPage = pfn;
    try {
      md.migrateVmaSetup(args);
    } catch (KernelException e) {
      return VmFault.VM_FAULT_SIGBUS;
    }
    dmirror.devmemFaultAllocAndCopy(args);
    md.migrateVmaPages(args);
    // No device finalize: alloc_and_copy already cleared the device page table.
    md.migrateVmaFinalize(args);
    return 0;
  }

  /**
   * {@code dmirror_device_remove_chunks()} ({@code HMM_DMIRROR_RELEASE}): evicts every chunk's
   * pages home with {@code migrate_device_range()} and returns the memory with {@code
   * memunmap_pages()}.
   *
   * @throws KernelException {@code EBUSY} if a device page is still referenced after eviction
   */
  public void removeChunks() {
    List<Chunk> gone;
    synchronized (this) {
      gone = new ArrayList<>(chunks);
    }
    for (Chunk c : gone) {
      evictChunk(c);
    }
    synchronized (this) {
      for (Chunk c : gone) {
        mem.memunmapPages(c.pagemap);
        chunks.remove(c);
      }
      nrFree = 0;
    }
  }

  /** {@code dmirror_device_evict_chunk()}. */
  private void evictChunk(Chunk c) {
    MigrateDevice md = vm.migrateDevice();
    long[] src = new long[chunkPages];
    long[] dst = new long[chunkPages];
    md.migrateDeviceRange(src, c.start, chunkPages);
    for (int i = 0; i < chunkPages; i++) {
      long spage = MigrateDevice.pfnOf(src[i]);
      if (spage < 0 || (src[i] & MigrateDevice.MIGRATE_PFN_MIGRATE) == 0) {
        continue;
      }
      long dpage = allocSystemPage(); // __GFP_NOFAIL in the kernel
      if (dpage < 0) {
        throw new KernelException(Errno.ENOMEM, "dmirror: no memory to evict device pages");
      }
      mem.ram().copyPage(dpage, spage);
      dst[i] = MigrateDevice.migratePfn(dpage) | (src[i] & MigrateDevice.MIGRATE_PFN_WRITE);
    }
    md.migrateDevicePages(src, dst, chunkPages);
    md.migrateDeviceFinalize(src, dst, chunkPages);
  }

  @Override
  public String toString() {
    return "dmirror_device{" + name + " " + type + "}";
  }
}
