package dev.refkern.mm.vm;

import static dev.refkern.mm.PageFlags.*;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.BootProgress;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageReclaim;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.sched.Scheduler;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.apiguardian.api.API;

/**
 * Virtual memory over a {@link PhysicalMemory} (the kernel's {@code mm/} as a whole): builds one
 * object per kernel file, in dependency order, and hands them out. {@link Rmap} ({@code rmap.c}),
 * {@link PageWalk} ({@code pagewalk.c}), {@code Memory} ({@code memory.c}), {@code HugeMemory},
 * {@code Mmap}, {@code Mprotect}, {@code Madvise}, {@code Fork}, {@code Swapfile}, {@link Gup},
 * {@link Vmscan}; processes are {@link #createTask}.
 */
@API(status = STABLE, since = "0.1.0")
public final class VirtualMemory {
  /** {@code FAULT_FLAG_*}. */
  public static final int FAULT_FLAG_WRITE = 0x1;

  public static final int FAULT_FLAG_REMOTE = 0x80;
  public static final int FAULT_FLAG_UNSHARE = 0x400;

  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final long zeroPfn;
  private final LruVec lru;
  private final Swapfile swapfile;
  private final Rmap rmap;
  private final Migrate migration;
  private final HugeMemory huge;
  private final PageWalk pageWalk;
  private final Memory memory;
  private final MigrateDevice migrateDevice;
  private final Gup gup;
  private final Vmscan vmscan;
  private final Mmap mmap;
  private final Mprotect mprotect;
  private final Madvise madvise;
  private final Fork fork;
  private final Kswapd kswapd;
  private final NodeReclaim reclaim;
  // The page cache's kernel files (filemap.c, truncate.c, page-writeback.c).
  private final PageWriteback pageWriteback;
  private final Filemap filemap;
  private final Truncate truncate;
  // writeback.pinned= and truncate.pinned=, chosen at boot for every mapping
  private final PinnedWritebackPolicy pinnedWriteback;
  private final PinnedTruncatePolicy pinnedTruncate;
  private final PinnedPageCacheContext cacheCtx;
  // dio.stable_bounce=, for iomap's direct I/O
  private final DioStableBouncePolicy dioStableBounce;
  // hmm.file_pages=: page-cache folios in device memory (seed 004)
  private final DeviceFilePagePolicy deviceFilePages;

  /**
   * Builds virtual memory on {@code mem}. Not public: {@code mem}'s reclaim must resolve to this
   * object, which only the composition roots ({@link #boot} and {@link MmModule}) arrange.
   */
  VirtualMemory(PhysicalMemory mem) {
    this.mem = mem;
    this.memmap = dev.refkern.mm.internal.MmInternals.rawMemmap(mem);
    PageAllocator alloc = mem.allocator();
    FolioOps folios = new FolioOps(mem);
    long zero = alloc.allocPages(Gfp.KERNEL | Gfp.ZERO, 0);
    if (zero == PageAllocator.NO_PFN) {
      throw new KernelException(Errno.ENOMEM, "no memory for the zero page");
    }
    memmap.setFlag(zero, PG_ZERO_PAGE);
    memmap.setFlag(zero, PG_RESERVED);
    this.zeroPfn = zero;
    AtomicLong ids = new AtomicLong(); // mm and anon_vma ids
    LongSupplier nextId = ids::incrementAndGet;
    this.lru = mem.lru();
    // resolved once: the hot paths call the policy object, never the registry
    PinTrackingPolicy pins =
        PolicyRegistry.global()
            .create(
                PinTrackingPolicy.class,
                PinTrackingPolicy.PARAM,
                mem.params(),
                new PinTrackingContext(memmap, lru));
    this.swapfile = new Swapfile();
    this.rmap = new Rmap(memmap, folios, nextId);
    this.migration = new Migrate(mem, memmap, folios, lru, rmap);
    this.huge = new HugeMemory(mem, memmap, alloc, lru, rmap);
    this.pageWalk = new PageWalk(huge);
    PinWaitQueue pinWait = new PinWaitQueue(mem.scheduler(), mem.health());
    PinnedPageCacheContext cacheCtx = new PinnedPageCacheContext(mem, pins::dmaPinned, pinWait);
    this.cacheCtx = cacheCtx;
    this.dioStableBounce =
        PolicyRegistry.global()
            .create(DioStableBouncePolicy.class, DioStableBouncePolicy.PARAM, mem.params(), mem);
    this.pinnedWriteback =
        PolicyRegistry.global()
            .create(
                PinnedWritebackPolicy.class, PinnedWritebackPolicy.PARAM, mem.params(), cacheCtx);
    this.pinnedTruncate =
        PolicyRegistry.global()
            .create(PinnedTruncatePolicy.class, PinnedTruncatePolicy.PARAM, mem.params(), cacheCtx);
    this.deviceFilePages =
        PolicyRegistry.global()
            .create(
                DeviceFilePagePolicy.class,
                DeviceFilePagePolicy.PARAM,
                mem.params(),
                new DeviceFilePageContext(mem, this::migrateFileFolioHome));
    this.pageWriteback =
        new PageWriteback(mem, folios, rmap, pins::dmaPinned, pinnedWriteback, deviceFilePages);
    this.filemap = new Filemap(mem, folios, pageWriteback, deviceFilePages);
    this.memory =
        new Memory(
            mem, memmap, folios, lru, zeroPfn, rmap, huge, swapfile, migration, pins, filemap);
    this.truncate =
        new Truncate(
            mem, folios, filemap, memory, pins::dmaPinned, pinnedTruncate, deviceFilePages);
    LongtermFilePinPolicy longtermFile =
        PolicyRegistry.global()
            .create(LongtermFilePinPolicy.class, LongtermFilePinPolicy.PARAM, mem.params(), mem);
    this.migrateDevice =
        new MigrateDevice(
            mem, memmap, folios, lru, rmap, pageWalk, huge, memory, pins, zeroPfn, deviceFilePages);
    this.gup =
        new Gup(
            mem,
            memmap,
            folios,
            lru,
            zeroPfn,
            migration,
            migrateDevice,
            memory,
            pins,
            pinWait,
            longtermFile);
    this.vmscan =
        new Vmscan(mem, memmap, folios, lru, rmap, swapfile, pins, filemap, pageWriteback);
    this.mmap = new Mmap(mem, memory, huge, rmap);
    this.mprotect = new Mprotect(mmap, pageWalk);
    this.madvise = new Madvise(mmap, memory);
    this.fork = new Fork(mem, nextId, mmap, memory, rmap);
    this.kswapd = new Kswapd(mem, vmscan);
    this.reclaim = new NodeReclaim(vmscan, kswapd);
  }

  /**
   * Boots a kernel's memory management fully wired, with the scheduler {@code sched=} names:
   * physical memory, then virtual memory with GUP, the LRU and reclaim (direct reclaim and kswapd's
   * wake-ups reach {@link #vmscan()}). The one plain call for a library user without Dagger.
   *
   * @throws KernelException as {@link PhysicalMemory#boot(BootParams, Path, boolean)}; {@code
   *     ENOMEM} if the zero page cannot be had
   */
  public static VirtualMemory boot(BootParams params, Path stateDir, boolean reset) {
    return boot(params, stateDir, reset, PhysicalMemory.schedulerFor(params), BootProgress.NONE);
  }

  /** {@link #boot(BootParams, Path, boolean)} with an explicit scheduler (the simulation). */
  public static VirtualMemory boot(
      BootParams params, Path stateDir, boolean reset, Scheduler scheduler) {
    return boot(params, stateDir, reset, scheduler, BootProgress.NONE);
  }

  /** As above, telling {@code progress} how far boot's loops over every frame have got. */
  public static VirtualMemory boot(
      BootParams params, Path stateDir, boolean reset, Scheduler scheduler, BootProgress progress) {
    LateReclaim late = new LateReclaim();
    return create(PhysicalMemory.boot(params, stateDir, reset, scheduler, progress, late), late);
  }

  /**
   * Builds virtual memory on {@code mem}, which was booted with {@code late} as its reclaim, then
   * binds {@code late} to it. Closes {@code mem} if building the VM fails.
   */
  static VirtualMemory create(PhysicalMemory mem, LateReclaim late) {
    VirtualMemory vm;
    try {
      vm = new VirtualMemory(mem);
    } catch (RuntimeException e) {
      mem.close();
      throw e;
    }
    late.bind(vm.reclaim);
    return vm;
  }

  /** What physical memory calls for reclaim: this VM's direct reclaim and kswapd. */
  PageReclaim pageReclaim() {
    return reclaim;
  }

  public PhysicalMemory physicalMemory() {
    return mem;
  }

  MemmapOps memmap() {
    return memmap;
  }

  /** {@code ZERO_PAGE(0)}: the shared page every untouched anonymous read maps. */
  public long zeroPfn() {
    return zeroPfn;
  }

  /** get_user_pages and friends. */
  public Gup gup() {
    return gup;
  }

  /** The reverse map ({@code rmap.c}). */
  public Rmap rmap() {
    return rmap;
  }

  /** The page-table walker ({@code pagewalk.c}). */
  public PageWalk pageWalk() {
    return pageWalk;
  }

  /** The LRU lists. */
  public LruVec lru() {
    return lru;
  }

  /** Page reclaim. */
  public Vmscan vmscan() {
    return vmscan;
  }

  /** {@code mm/migrate_device.c}: migration to and from device memory, device-exclusive entries. */
  public MigrateDevice migrateDevice() {
    return migrateDevice;
  }

  /**
   * {@code handle_mm_fault()} for a caller outside mm-core (HMM's {@code hmm_range_fault}, a
   * driver): the caller holds {@code mm}'s {@code mmap_lock} for reading. Returns 0 or {@code
   * VM_FAULT_*} bits ({@code VM_FAULT_SIGSEGV} where no VMA covers {@code addr}).
   *
   * @param faultFlags {@link #FAULT_FLAG_WRITE}, {@link #FAULT_FLAG_REMOTE}, {@link
   *     #FAULT_FLAG_UNSHARE}
   */
  public int handleMmFault(MmStruct mm, long addr, int faultFlags) {
    Vma vma = mm.vmaContaining(addr);
    if (vma == null) {
      return dev.refkern.mm.VmFault.VM_FAULT_SIGSEGV;
    }
    return memory.handleMmFault(mm, vma, addr, faultFlags);
  }

  /** {@code mm/memory.c}: the fault handler, zap and {@code unmap_mapping_folio()}. */
  public Memory memory() {
    return memory;
  }

  Mmap mmap() {
    return mmap;
  }

  Mprotect mprotect() {
    return mprotect;
  }

  Madvise madvise() {
    return madvise;
  }

  Fork fork() {
    return fork;
  }

  /** {@code kswapd_run()}: starts background reclaim; stop it with {@link Kswapd#stop()}. */
  public synchronized Kswapd startKswapd() {
    kswapd.start();
    return kswapd;
  }

  /** {@code swapon()}: reclaim may now swap anonymous pages out to {@code device}. */
  public SwapSpace swapon(dev.refkern.mm.spi.SwapDevice device) {
    return swapfile.swapon(device);
  }

  /** A new process with an empty address space. */
  public Task createTask(String name) {
    return new Task(this, name, fork.mmAlloc());
  }

  /** {@code unmap_mapping_folio()}: see {@code Memory}; truncate passes it as its unmapper. */
  public void unmapMappingFolio(long pfn) {
    memory.unmapMappingFolio(pfn);
  }

  /**
   * {@code migrate_pages()} of the folio containing {@code pfn}: its mappings are moved to a new
   * folio, in {@code ZONE_MOVABLE} if {@code toMovable}, else outside it. Returns 0, or {@code
   * -EAGAIN} if something (a pin) holds a reference the mappings do not explain, {@code -ENOMEM} if
   * no page could be allocated; {@code pgmigrate_success}/{@code pgmigrate_fail} count them.
   */
  public int migrateFolio(long pfn, boolean toMovable) {
    checkMigratable(pfn);
    return migration.migrate(pfn, toMovable, "syscall_or_cpuset");
  }

  /**
   * {@code migrate_pages()} with a caller-supplied destination ({@code new_folio_t}), as compaction
   * uses it: {@code newFolio} returns a page with refcount 1, or {@code NO_PFN} for {@code
   * -ENOMEM}.
   */
  public int migrateFolio(long pfn, java.util.function.LongSupplier newFolio) {
    checkMigratable(pfn);
    return migration.migrate(pfn, newFolio, "compaction");
  }

  private void checkMigratable(long pfn) {
    mem.health().checkAlive();
    memmap.checkPfn(pfn);
    if (memmap.zone(pfn) == dev.refkern.mm.ZoneType.DEVICE) {
      throw new KernelException(Errno.EINVAL, "migrate of device pfn " + pfn);
    }
  }

  /** {@code mm/filemap.c}: page-cache lookup, insertion, removal, reads, fdatawrite. */
  public Filemap filemap() {
    return filemap;
  }

  /** The booted {@code writeback.pinned=} policy. */
  public PinnedWritebackPolicy pinnedWriteback() {
    return pinnedWriteback;
  }

  /** The booted {@code truncate.pinned=} policy. */
  public PinnedTruncatePolicy pinnedTruncate() {
    return pinnedTruncate;
  }

  /**
   * A new {@code writeback.pinned=name} policy on this kernel, for one mapping or mount ({@link
   * MappingPinnedPolicies}) rather than the booted one.
   *
   * @throws dev.refkern.mm.KernelException {@code EINVAL} for an unknown name, listing the known
   */
  public PinnedWritebackPolicy newPinnedWriteback(String name) {
    return PolicyRegistry.global()
        .create(PinnedWritebackPolicy.class, PinnedWritebackPolicy.PARAM, name, cacheCtx);
  }

  /** As {@link #newPinnedWriteback}, a new {@code truncate.pinned=name} policy. */
  public PinnedTruncatePolicy newPinnedTruncate(String name) {
    return PolicyRegistry.global()
        .create(PinnedTruncatePolicy.class, PinnedTruncatePolicy.PARAM, name, cacheCtx);
  }

  private boolean migrateFileFolioHome(long pfn) {
    return migrateDevice.migrateFileFolioToRam(pfn);
  }

  /** The booted {@code hmm.file_pages=} policy: page-cache folios in device memory (seed 004). */
  public DeviceFilePagePolicy deviceFilePages() {
    return deviceFilePages;
  }

  /** The booted {@code dio.stable_bounce=} policy. */
  public DioStableBouncePolicy dioStableBounce() {
    return dioStableBounce;
  }

  /** {@code mm/truncate.c}: {@code truncate_inode_pages*()}. */
  public Truncate truncate() {
    return truncate;
  }

  /** {@code mm/page-writeback.c}: {@code write_cache_pages()}, {@code folio_wait_stable()}. */
  public PageWriteback pageWriteback() {
    return pageWriteback;
  }
}
