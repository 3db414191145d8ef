package dev.refkern.mm;

import static dev.refkern.mm.PageFlags.*;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.internal.memmap.MemmapFile;
import dev.refkern.mm.internal.memmap.OffHeapMemmap;
import dev.refkern.mm.internal.memmap.PageDescriptor;
import dev.refkern.mm.internal.page.BuddyAllocator;
import dev.refkern.mm.internal.page.PageAllocHooks;
import dev.refkern.mm.internal.pagecache.PageCacheState;
import dev.refkern.mm.internal.pageops.CheckedMemmap;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.internal.trace.MmTraceEvents;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.Schedulers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apiguardian.api.API;

/**
 * The simulated machine's physical memory, booted from a command line ({@code mm_core_init()}): the
 * persistent memmap, the zones and buddy allocator, RAM contents, vmstat, the {@code BUG}/ {@code
 * WARN} state and {@code ZONE_DEVICE} ({@code memremap_pages()}).
 *
 * <p>Layout: pfns {@code [0, movableStart)} are {@code ZONE_NORMAL}, {@code [movableStart,
 * ramPfns)} {@code ZONE_MOVABLE}, then {@code zone_device=} bytes of {@code ZONE_DEVICE} frames.
 */
@API(status = STABLE, since = "0.1.0")
public final class PhysicalMemory implements AutoCloseable {
  private final BootParams params;
  private final Scheduler scheduler;
  private final MemmapFile file;
  private final OffHeapMemmap memmap;
  private final Memmap checkedMemmap;
  private final BuddyAllocator allocator;
  private final LruVec lru;
  private final Supplier<? extends PageReclaim> reclaim;

  /**
   * False for a machine booted alone: nothing above it reclaims, so its page-cache folios stay off
   * the LRU (no {@code lru_add} batch holds a reference to them), as before the node owned it.
   */
  private final boolean pageCacheOnLru;

  private final PageMemory ram;
  private final VmStat vmstat = new VmStat();
  private final KernelHealth health = new KernelHealth();

  /** The periodic {@code refkern.vmstat.VmStat} event, registered while this kernel runs. */
  private final Runnable vmstatHook = this::emitVmStat;

  private final long ramPfns;
  private final long movableStart;
  private final Map<Integer, DevPagemap> pagemaps = new ConcurrentHashMap<>();
  private final AtomicInteger nextPgmapId = new AtomicInteger(1);
  private final PageCacheState<AddressSpace> pageCache = new PageCacheState<>();
  private volatile boolean closed;

  /** Booted machines not yet closed, for {@link #fatalSignalAll()}. */
  private static final java.util.Set<PhysicalMemory> LIVE = ConcurrentHashMap.newKeySet();

  private static volatile boolean exiting;

  private PhysicalMemory(
      BootParams params,
      Path stateDir,
      boolean reset,
      Scheduler scheduler,
      BootProgress progress,
      Supplier<? extends PageReclaim> reclaim) {
    if (exiting) {
      throw new KernelException(Errno.EINTR, "fatal signal pending: the process is exiting");
    }
    this.params = params;
    this.scheduler = scheduler;
    this.pageCacheOnLru = reclaim != null;
    this.reclaim = reclaim != null ? reclaim : () -> PageReclaim.NONE;
    this.ramPfns = params.memBytes() / Page.PAGE_SIZE;
    long movablePfns = params.movableBytes() / Page.PAGE_SIZE;
    long maxBlock = 1L << PageAllocator.MAX_ORDER;
    long ms =
        movablePfns == 0 ? ramPfns : ((ramPfns - movablePfns + maxBlock - 1) / maxBlock) * maxBlock;
    this.movableStart = Math.min(ms, ramPfns);
    long nrPfns = ramPfns + params.zoneDeviceBytes() / Page.PAGE_SIZE;
    // one scale for both loops: every frame's descriptor, then every RAM frame freed
    long total = nrPfns + ramPfns;
    this.file =
        MemmapFile.create(
            stateDir,
            nrPfns,
            params.cmdline(),
            reset,
            Map.of(
                "ram_pfns", Long.toString(ramPfns), "movable_start", Long.toString(movableStart)),
            done -> progress.update(done, total));
    try {
      this.memmap = new OffHeapMemmap(file.sectionBuffers(), nrPfns, movableStart, ramPfns);
      this.checkedMemmap = new CheckedMemmap(memmap);
      this.ram = new PageMemory(nrPfns);
      this.allocator =
          new BuddyAllocator(
              memmap,
              ram,
              vmstat,
              health,
              ramPfns,
              movableStart,
              nrPfns,
              params.minFreeKbytes(),
              new NodeHooks(),
              freed -> progress.update(nrPfns + freed, total));
      this.lru = new LruVec(memmap, allocator);
      health.onBug(msg -> file.setStatus("crashed", msg));
      jdk.jfr.FlightRecorder.addPeriodicEvent(MmTraceEvents.VmStat.class, vmstatHook);
    } catch (RuntimeException e) {
      file.setStatus("crashed", "boot failed: " + e);
      file.close("crashed");
      throw e;
    }
    LIVE.add(this);
    if (exiting) {
      health.fatalSignal(); // raced with fatalSignalAll()
    }
  }

  /**
   * Boots physical memory alone on {@code stateDir}, without reclaim ({@link PageReclaim#NONE}: an
   * allocation that would reclaim fails; page-cache folios stay off the LRU). For a kernel with
   * virtual memory and reclaim, use {@code VirtualMemory.boot}.
   *
   * @param reset discard a previous kernel's memmap in {@code stateDir} rather than refuse
   * @throws KernelException {@code EINVAL} for a bad command line, {@code EBUSY} if another kernel
   *     runs on {@code stateDir}, {@code EEXIST} if it holds a previous memmap and {@code reset} is
   *     false
   */
  public static PhysicalMemory boot(BootParams params, Path stateDir, boolean reset) {
    return boot(params, stateDir, reset, schedulerFor(params));
  }

  /**
   * The scheduler {@code sched=} names: {@code threads} (the default) or {@code sim:SEED} for the
   * deterministic simulation. Both boot paths (this class and the Dagger {@code MmModule}) use it.
   *
   * @throws KernelException {@code EINVAL} for a spec that is neither
   */
  public static Scheduler schedulerFor(BootParams params) {
    try {
      return Schedulers.fromSpec(params.get("sched", "threads"));
    } catch (IllegalArgumentException e) {
      throw new KernelException(Errno.EINVAL, "bad kernel command line: " + e.getMessage());
    }
  }

  /** Boots alone, without reclaim, with an explicit scheduler (the simulation in tests). */
  public static PhysicalMemory boot(
      BootParams params, Path stateDir, boolean reset, Scheduler scheduler) {
    return new PhysicalMemory(params, stateDir, reset, scheduler, BootProgress.NONE, null);
  }

  /** Boots alone, without reclaim, telling {@code progress} how far boot has got. */
  public static PhysicalMemory boot(
      BootParams params, Path stateDir, boolean reset, Scheduler scheduler, BootProgress progress) {
    return new PhysicalMemory(params, stateDir, reset, scheduler, progress, null);
  }

  /**
   * Boots with an explicit scheduler and the node's reclaim, telling {@code progress} how far the
   * memmap's creation and the filling of the free lists have got. This is the composition root's
   * entry: page_alloc.c and vmscan.c call each other, so {@code reclaim} is resolved only when an
   * allocation needs it (never during boot), by then bound to the virtual memory built on this
   * machine ({@code VirtualMemory.boot} or Dagger's {@code MmModule}, through {@code LateReclaim}).
   *
   * @param reclaim supplies the node's reclaim at each use
   * @throws KernelException {@code EINVAL} for a null {@code reclaim}, and as {@link
   *     #boot(BootParams, Path, boolean)}
   */
  public static PhysicalMemory boot(
      BootParams params,
      Path stateDir,
      boolean reset,
      Scheduler scheduler,
      BootProgress progress,
      Supplier<? extends PageReclaim> reclaim) {
    if (reclaim == null) {
      throw new KernelException(Errno.EINVAL, "boot needs the node's PageReclaim");
    }
    return new PhysicalMemory(params, stateDir, reset, scheduler, progress, reclaim);
  }

  /** {@code pgdat_balanced()}: every zone has its high watermark free. */
  public boolean zonesBalanced() {
    return allocator.balanced();
  }

  /** {@code folio_add_lru()} for a new page-cache folio; none on a machine booted alone. */
  public void folioAddLru(long pfn) {
    memmap.checkPfn(pfn);
    if (pageCacheOnLru) {
      lru.folioAddLru(pfn);
    }
  }

  /** The node's LRU lists ({@code pgdat->__lruvec}). */
  public LruVec lru() {
    return lru;
  }

  /** The allocator's calls outside page_alloc.c; all run after boot, on this node's parts. */
  private final class NodeHooks implements PageAllocHooks {
    @Override
    public void pageCacheRelease(long pfn) {
      lru.release(pfn);
    }

    @Override
    public void freeZoneDevicePage(long pfn) {
      PhysicalMemory.this.freeZoneDevicePage(pfn);
    }

    @Override
    public PageReclaim reclaim() {
      return reclaim.get();
    }
  }

  /** The one source of asynchrony: workqueues, kthreads, sleeping locks, the clock. */
  public Scheduler scheduler() {
    return scheduler;
  }

  public BootParams params() {
    return params;
  }

  /**
   * The memmap, read-only; every pfn given to it is checked ({@code EINVAL} outside {@code [0,
   * nrPfns)}).
   */
  public Memmap memmap() {
    return checkedMemmap;
  }

  /** The unchecked memmap, for mm-core's own paths (pfns from page tables and folios). */
  MemmapOps rawMemmap() {
    return memmap;
  }

  static {
    dev.refkern.mm.internal.MmInternals.setAccess(PhysicalMemory::rawMemmap, m -> m.allocator);
  }

  public PageAllocator allocator() {
    return allocator;
  }

  /** Simulated RAM contents. */
  public PageMemory ram() {
    return ram;
  }

  public VmStat vmstat() {
    return vmstat;
  }

  public KernelHealth health() {
    return health;
  }

  /** Frames of RAM. */
  public long ramPfns() {
    return ramPfns;
  }

  /** The state directory holding the memmap. */
  public Path stateDir() {
    return file.dir();
  }

  /** Bytes of memmap file per described frame (budget: {@code sizeof(struct page)} = 64). */
  public double memmapBytesPerFrame() {
    return (double) file.fileBytes() / memmap.nrPfns();
  }

  /** Bytes of descriptor per frame, as laid out. */
  public static int descriptorBytes() {
    return PageDescriptor.SIZE;
  }

  /**
   * {@code memremap_pages()}: gives {@code pgmap} {@code nrPages} frames of {@code ZONE_DEVICE}
   * with initialised descriptors. Device-private and coherent pages start free (refcount 0), owned
   * by the driver; a {@code GENERIC} page starts with refcount 1.
   *
   * @return the first pfn
   * @throws KernelException {@code EINVAL} for a bad size; {@code ENOMEM} (and a {@code WARN}) for
   *     a pagemap already mapped, as {@code pagemap_range()} refuses a conflicting range; {@code
   *     ERANGE} when no free range is left ({@code request_free_mem_region()})
   */
  public synchronized long memremapPages(DevPagemap pgmap, long nrPages) {
    health.checkAlive();
    if (nrPages <= 0) {
      throw new KernelException(Errno.EINVAL, "memremap_pages: bad size");
    }
    if (pgmap.startPfn() >= 0) {
      // pagemap_range(): the range already has a pgmap (get_dev_pagemap() finds it)
      health.warn(true, "Conflicting mapping in same section");
      throw new KernelException(Errno.ENOMEM, "memremap_pages: pagemap already mapped");
    }
    long start = ramPfns;
    List<DevPagemap> sorted = new ArrayList<>(pagemaps.values());
    sorted.sort((a, b) -> Long.compare(a.startPfn(), b.startPfn()));
    for (DevPagemap p : sorted) {
      if (start + nrPages <= p.startPfn()) {
        break;
      }
      start = Math.max(start, p.startPfn() + p.nrPages());
    }
    if (start + nrPages > memmap.nrPfns()) {
      throw new KernelException(
          Errno.ERANGE, "memremap_pages: no free ZONE_DEVICE range of " + nrPages + " pages");
    }
    int id = nextPgmapId.getAndIncrement();
    for (long pfn = start; pfn < start + nrPages; pfn++) {
      memmap.clearDescriptor(pfn);
      memmap.setFlag(pfn, PG_DEVICE);
      memmap.setPgmap(pfn, id);
      if (pgmap.type() == DevPagemap.MemoryType.GENERIC) {
        memmap.setRefcount(pfn, 1);
      }
    }
    pgmap.id = id;
    pgmap.nrPages = nrPages;
    pgmap.startPfn = start;
    pagemaps.put(id, pgmap);
    return start;
  }

  /**
   * {@code memunmapPages()}: returns the range. The kernel waits for every page reference to drop;
   * refkern refuses with {@code EBUSY} instead, so a leaked reference shows at once.
   */
  public synchronized void memunmapPages(DevPagemap pgmap) {
    health.checkAlive();
    if (pagemaps.get(pgmap.id()) != pgmap) {
      throw new KernelException(Errno.EINVAL, "memunmap_pages: pagemap is not mapped");
    }
    long start = pgmap.startPfn();
    long idle = pgmap.type() == DevPagemap.MemoryType.GENERIC ? 1 : 0;
    for (long pfn = start; pfn < start + pgmap.nrPages(); pfn++) {
      if (memmap.refcount(pfn) != idle) {
        throw new KernelException(
            Errno.EBUSY,
            "memunmap_pages: pfn " + pfn + " still has refcount " + memmap.refcount(pfn));
      }
    }
    for (long pfn = start; pfn < start + pgmap.nrPages(); pfn++) {
      memmap.clearDescriptor(pfn);
    }
    pagemaps.remove(pgmap.id());
    pgmap.startPfn = -1;
    pgmap.nrPages = 0;
    pgmap.id = 0;
  }

  /**
   * {@code zone_device_page_init()}: the driver hands out a free device page; its refcount goes
   * from 0 to 1. A page that is not free is a {@code BUG}.
   */
  public void zoneDevicePageInit(long pfn) {
    memmap.checkPfn(pfn);
    health.checkAlive();
    DevPagemap p = pagemapOf(pfn);
    if (p == null) {
      throw new KernelException(Errno.EINVAL, "pfn " + pfn + " is not ZONE_DEVICE memory");
    }
    if (!memmap.refCompareAndSet(pfn, 0, 1)) {
      throw health.bug(
          "VM_BUG_ON_PAGE: zone_device_page_init() on pfn "
              + pfn
              + " refcount "
              + memmap.refcount(pfn));
    }
  }

  /** {@code page_pgmap()}: the device pagemap owning {@code pfn}, or null. */
  public DevPagemap pagemapOf(long pfn) {
    if (!memmap.pfnValid(pfn) || memmap.zone(pfn) != ZoneType.DEVICE) {
      return null;
    }
    return pagemaps.get(memmap.pgmap(pfn));
  }

  /** {@code free_zone_device_folio()}: the last reference dropped; back to the driver. */
  private void freeZoneDevicePage(long pfn) {
    DevPagemap p = pagemaps.get(memmap.pgmap(pfn));
    if (p == null) {
      health.badPage(pfn, "ZONE_DEVICE page without a dev_pagemap");
      return;
    }
    memmap.setMapping(pfn, 0);
    memmap.setIndex(pfn, 0);
    memmap.clearFlag(pfn, PG_ANON);
    memmap.clearFlag(pfn, PG_DIRTY);
    memmap.clearFlag(pfn, PG_DMA_PINNED);
    if (p.type() == DevPagemap.MemoryType.GENERIC) {
      memmap.setRefcount(pfn, 1);
      return;
    }
    p.ops().pageFree(pfn);
  }

  /**
   * The page-cache {@code address_space} whose id a memmap {@code mapping} field holds, or null.
   * Only meaningful for a folio without {@code PG_ANON} (an anon folio's field names its anon_vma).
   */
  public AddressSpace mapping(long id) {
    return pageCache.mapping(id);
  }

  /** The registry and folio wait queues every {@link AddressSpace} and {@link FolioOps} share. */
  PageCacheState<AddressSpace> pageCache() {
    return pageCache;
  }

  /** The {@code CONFIG_DEBUG_VM} invariant checker over this machine. */
  public DebugVm debugVm() {
    return new DebugVm(this, allocator);
  }

  private void emitVmStat() {
    MmTraceEvents.VmStat e = new MmTraceEvents.VmStat();
    e.kernel = file.dir().toString();
    e.nrFreePages = vmstat.get(VmItem.NR_FREE_PAGES);
    e.nrFollPinAcquired = vmstat.get(VmItem.NR_FOLL_PIN_ACQUIRED);
    e.nrFollPinReleased = vmstat.get(VmItem.NR_FOLL_PIN_RELEASED);
    e.pgfault = vmstat.get(VmItem.PGFAULT);
    e.pgmajfault = vmstat.get(VmItem.PGMAJFAULT);
    e.pgsteal = vmstat.get(VmItem.PGSTEAL);
    e.pswpin = vmstat.get(VmItem.PSWPIN);
    e.pswpout = vmstat.get(VmItem.PSWPOUT);
    e.pgmigrateSuccess = vmstat.get(VmItem.PGMIGRATE_SUCCESS);
    e.pgmigrateFail = vmstat.get(VmItem.PGMIGRATE_FAIL);
    e.allocstall = vmstat.get(VmItem.ALLOCSTALL);
    e.commit();
  }

  /**
   * Checks a state directory path as boot would open it.
   *
   * @param mayCreate a missing directory is fine (boot creates it); otherwise {@code ENOENT}
   * @throws KernelException {@code ENOENT} for an empty path, {@code ENOTDIR} if it (or a parent)
   *     is a regular file, {@code EACCES} if it cannot be read
   */
  public static void checkStateDir(Path stateDir, boolean mayCreate) {
    MemmapFile.checkDir(stateDir, mayCreate);
  }

  /** True if {@code stateDir} holds a kernel's memmap (running or not). */
  public static boolean holdsMemmap(Path stateDir) {
    return java.nio.file.Files.exists(stateDir.resolve(MemmapFile.PROPS_FILE))
        || java.nio.file.Files.exists(stateDir.resolve(MemmapFile.MAP_FILE));
  }

  /**
   * Delivers a fatal signal to every booted machine of this process (the JVM is shutting down on
   * SIGINT/SIGTERM): their kernel entries fail with {@code EINTR} from now on, so their tasks
   * unwind and close them. Later boots in this process fail with {@code EINTR} too.
   */
  public static void fatalSignalAll() {
    exiting = true;
    for (PhysicalMemory m : LIVE) {
      m.health.fatalSignal();
    }
  }

  /**
   * Waits until every booted machine of this process has been closed.
   *
   * @return false if some were still open after {@code millis}
   */
  public static boolean awaitAllClosed(long millis) throws InterruptedException {
    long deadline = System.nanoTime() + millis * 1_000_000L;
    synchronized (LIVE) {
      while (!LIVE.isEmpty()) {
        long left = (deadline - System.nanoTime()) / 1_000_000L;
        if (left <= 0) {
          return false;
        }
        LIVE.wait(left);
      }
    }
    return true;
  }

  /**
   * Marks the kernel stopped (or keeps it crashed after a {@code BUG}), records the memmap's
   * section checksums and unmaps it; its file stays for inspection. Call after the kernel's tasks
   * stopped.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    jdk.jfr.FlightRecorder.removePeriodicEvent(vmstatHook);
    emitVmStat(); // the last counters, so even a run shorter than the period has its vmstat
    try {
      file.close(health.isDead() ? "crashed" : "stopped");
    } finally {
      synchronized (LIVE) {
        LIVE.remove(this);
        LIVE.notifyAll();
      }
    }
  }
}
