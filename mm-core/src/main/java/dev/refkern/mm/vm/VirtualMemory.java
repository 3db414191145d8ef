package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.VmFault.*;
import static dev.refkern.mm.vm.Pte.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.BootProgress;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageReclaim;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Virtual memory over a {@link PhysicalMemory}: address spaces, VMAs, page tables, the page-fault
 * handler ({@code mm/memory.c}), {@code mmap}/{@code munmap}/{@code mprotect}/{@code madvise},
 * {@code fork} and {@code exit}, the reverse map and GUP ({@link #gup()}).
 *
 * <p>Locking follows the kernel's order: {@code mmap_lock}, then the page-table lock; a folio's
 * lock is never taken under the page-table lock.
 */
public final class VirtualMemory {
  /** {@code FAULT_FLAG_*}. */
  public static final int FAULT_FLAG_WRITE = 0x1;

  public static final int FAULT_FLAG_REMOTE = 0x80;
  public static final int FAULT_FLAG_UNSHARE = 0x400;

  static final int HPAGE_PMD_ORDER = 9;
  static final int HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;

  final PhysicalMemory mem;
  final Memmap memmap;
  final PageAllocator alloc;
  final FolioOps folios;
  final long zeroPfn;
  private final AtomicLong ids = new AtomicLong();
  private final Map<Long, AnonVma> anonVmas = new ConcurrentHashMap<>();
  private final Map<Long, List<Vma>> fileVmas = new ConcurrentHashMap<>();
  private final Gup gup;
  final Migration migration;
  final LruVec lru;
  final Vmscan vmscan;
  private volatile SwapSpace swap;
  private final Kswapd kswapd;
  private final NodeReclaim reclaim;

  /**
   * Builds virtual memory on {@code mem}. Not public: {@code mem}'s reclaim must resolve to this
   * object, which only the composition roots ({@link #boot} and {@link MmModule}) arrange.
   */
  VirtualMemory(PhysicalMemory mem) {
    this.mem = mem;
    this.memmap = dev.refkern.mm.internal.MmInternals.rawMemmap(mem);
    this.alloc = mem.allocator();
    this.folios = new FolioOps(mem);
    long zero = alloc.allocPages(Gfp.KERNEL | Gfp.ZERO, 0);
    if (zero == PageAllocator.NO_PFN) {
      throw new KernelException(Errno.ENOMEM, "no memory for the zero page");
    }
    memmap.setFlag(zero, PG_ZERO_PAGE);
    memmap.setFlag(zero, PG_RESERVED);
    this.zeroPfn = zero;
    this.lru = mem.lru();
    this.gup = new Gup(this);
    this.migration = new Migration(this);
    this.vmscan = new Vmscan(this, lru);
    this.kswapd = new Kswapd(mem, vmscan);
    this.reclaim = new NodeReclaim(vmscan, kswapd);
    folios.setFolioMkclean(this::folioMkclean);
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

  /**
   * {@code folio_mkclean()}: write-protects and cleans every pte mapping the folio, so the next
   * write faults and dirties it again; returns whether a pte was dirty. Writeback calls it.
   */
  public boolean folioMkclean(long pfn) {
    memmap.checkPfn(pfn);
    boolean[] dirty = {false};
    rmapWalk(
        pfn,
        (vma, addr) -> {
          if ((vma.flags & VmFlags.VM_SHARED) == 0) {
            return true;
          }
          MmStruct mm = vma.mm;
          MmuNotifierRange r =
              MmuNotifierRange.init(
                  MmuNotifierEvent.PROTECTION_PAGE,
                  MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
                  mm,
                  addr,
                  addr + PAGE_SIZE);
          mm.notifiers.invalidateRangeStart(r);
          mm.ptl.lock();
          try {
            PageTable.Pmd pmd = mm.pgtable.pmd(addr);
            long[] t = pmd == null ? null : PageTable.pteTable(pmd, addr);
            if (t != null) {
              int i = PageTable.pteIndex(addr);
              long e = PageTable.get(t, i);
              dirty[0] |= Pte.dirty(e);
              PageTable.set(t, i, e & ~(WRITE | DIRTY));
            }
          } finally {
            mm.ptl.unlock();
          }
          mm.notifiers.invalidateRangeEnd(r);
          return true;
        });
    return dirty[0];
  }

  /**
   * {@code unmap_mapping_folio()}: removes every pte mapping the folio ({@code CLEAR} notifiers),
   * as truncate does before it drops a folio from the page cache. A pin keeps the folio alive.
   */
  public void unmapMappingFolio(long pfn) {
    memmap.checkPfn(pfn);
    List<Vma> vmas = new ArrayList<>();
    List<Long> addrs = new ArrayList<>();
    rmapWalk(
        pfn,
        (vma, addr) -> {
          vmas.add(vma);
          addrs.add(addr);
          return true;
        });
    for (int k = 0; k < vmas.size(); k++) {
      MmStruct mm = vmas.get(k).mm;
      long addr = addrs.get(k);
      MmuNotifierRange r =
          MmuNotifierRange.init(
              MmuNotifierEvent.CLEAR,
              MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
              mm,
              addr,
              addr + PAGE_SIZE);
      mm.notifiers.invalidateRangeStart(r);
      try {
        zapRange(mm, addr, addr + PAGE_SIZE);
      } finally {
        mm.notifiers.invalidateRangeEnd(r);
      }
    }
  }

  public PhysicalMemory physicalMemory() {
    return mem;
  }

  /** {@code ZERO_PAGE(0)}: the shared page every untouched anonymous read maps. */
  public long zeroPfn() {
    return zeroPfn;
  }

  /** get_user_pages and friends. */
  public Gup gup() {
    return gup;
  }

  /** {@code kswapd_run()}: starts background reclaim; stop it with {@link Kswapd#stop()}. */
  public Kswapd startKswapd() {
    kswapd.start();
    return kswapd;
  }

  /** The LRU lists. */
  public LruVec lru() {
    return lru;
  }

  /** Page reclaim. */
  public Vmscan vmscan() {
    return vmscan;
  }

  /** {@code swapon()}: reclaim may now swap anonymous pages out to {@code device}. */
  public SwapSpace swapon(dev.refkern.mm.spi.SwapDevice device) {
    SwapSpace s = new SwapSpace(device);
    swap = s;
    vmscan.setSwap(s);
    return s;
  }

  /** A new process with an empty address space. */
  public Task createTask(String name) {
    return new Task(this, name, new MmStruct(this, ids.incrementAndGet()));
  }

  // ---------------------------------------------------------------- rmap

  AnonVma anonVmaPrepare(Vma vma) {
    if (vma.anonVma == null) {
      AnonVma av = new AnonVma(ids.incrementAndGet());
      anonVmas.put(av.id, av);
      av.vmas.add(vma);
      vma.anonVma = av;
    }
    return vma.anonVma;
  }

  void linkVma(Vma vma) {
    if (vma.anonVma != null && !vma.anonVma.vmas.contains(vma)) {
      vma.anonVma.vmas.add(vma);
    }
    if (vma.file != null) {
      fileVmas.computeIfAbsent(vma.file.id(), k -> new CopyOnWriteArrayList<>()).add(vma);
    }
  }

  void unlinkVma(Vma vma) {
    if (vma.anonVma != null) {
      vma.anonVma.vmas.remove(vma);
    }
    if (vma.file != null) {
      List<Vma> l = fileVmas.get(vma.file.id());
      if (l != null) {
        l.remove(vma);
      }
    }
  }

  /** Called for every (vma, address) mapping a page, by {@link #rmapWalk}. */
  @FunctionalInterface
  public interface RmapVisitor {
    /** Returns false to stop the walk. */
    boolean visit(Vma vma, long address);
  }

  /**
   * {@code rmap_walk()}: visits every place the folio containing {@code pfn} is mapped, through its
   * anon_vma or its file's mapping tree.
   */
  public void rmapWalk(long pfn, RmapVisitor visitor) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    long mapping = memmap.mapping(head);
    if (mapping == 0) {
      return;
    }
    List<Vma> candidates;
    if (memmap.testFlag(head, PG_ANON)) {
      AnonVma av = anonVmas.get(mapping);
      candidates = av == null ? List.of() : av.vmas;
    } else {
      candidates = fileVmas.getOrDefault(mapping, List.of());
    }
    long index = memmap.index(head);
    int nr = 1 << memmap.folioOrder(head);
    for (Vma vma : candidates) {
      for (int i = 0; i < nr; i++) {
        long addr = vma.addressOf(index + i);
        if (addr < 0) {
          continue;
        }
        long pte = vma.mm.pgtable.pte(addr);
        if (present(pte) && !special(pte)) {
          long mapped =
              huge(pte)
                  ? Pte.pfn(pte) + ((addr >>> PAGE_SHIFT) & (HPAGE_PMD_NR - 1))
                  : Pte.pfn(pte);
          if (mapped == head + i && !visitor.visit(vma, addr)) {
            return;
          }
        }
      }
    }
  }

  /**
   * {@code migrate_pages()} of the folio containing {@code pfn}: its mappings are moved to a new
   * folio, in {@code ZONE_MOVABLE} if {@code toMovable}, else outside it. Returns 0, or {@code
   * -EAGAIN} if something (a pin) holds a reference the mappings do not explain, {@code -ENOMEM} if
   * no page could be allocated; {@code pgmigrate_success}/{@code pgmigrate_fail} count them.
   */
  public int migrateFolio(long pfn, boolean toMovable) {
    mem.health().checkAlive();
    memmap.checkPfn(pfn);
    if (memmap.zone(pfn) == dev.refkern.mm.ZoneType.DEVICE) {
      throw new KernelException(Errno.EINVAL, "migrate of device pfn " + pfn);
    }
    return migration.migrate(pfn, toMovable, "syscall_or_cpuset");
  }

  /**
   * {@code migrate_pages()} with a caller-supplied destination ({@code new_folio_t}), as compaction
   * uses it: {@code newFolio} returns a page with refcount 1, or {@code NO_PFN} for {@code
   * -ENOMEM}.
   */
  public int migrateFolio(long pfn, java.util.function.LongSupplier newFolio) {
    mem.health().checkAlive();
    memmap.checkPfn(pfn);
    if (memmap.zone(pfn) == dev.refkern.mm.ZoneType.DEVICE) {
      throw new KernelException(Errno.EINVAL, "migrate of device pfn " + pfn);
    }
    return migration.migrate(pfn, newFolio, "compaction");
  }

  /** {@code folio_mapcount()}: page-table mappings of the folio containing {@code pfn}. */
  public int folioMapcount(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    int order = memmap.folioOrder(head);
    if (order == 0) {
      return memmap.mapcount(head);
    }
    int n = memmap.entireMapcount(head);
    for (int i = 0; i < (1 << order); i++) {
      n += memmap.mapcount(head + i);
    }
    return n;
  }

  // ---------------------------------------------------------------- page faults

  /**
   * {@code handle_mm_fault()}: resolves a fault at {@code addr} in {@code vma}. The caller holds
   * {@code mmap_lock} for reading. Returns 0 or {@code VM_FAULT_*} bits.
   */
  int handleMmFault(MmStruct mm, Vma vma, long addr, int faultFlags) {
    mem.health().checkAlive();
    mem.vmstat().inc(VmItem.PGFAULT);
    boolean write = (faultFlags & FAULT_FLAG_WRITE) != 0;
    boolean unshare = (faultFlags & FAULT_FLAG_UNSHARE) != 0;
    addr &= PAGE_MASK;
    if (vma.isAnonymous() && thpEligible(vma, addr)) {
      int r = hugeAnonymousFault(mm, vma, addr);
      if (r >= 0) {
        return r;
      }
    }
    long pte = mm.pgtable.pte(addr);
    if (huge(pte)) {
      if (!write && !unshare) {
        setPteBits(mm, addr, YOUNG);
        return 0;
      }
      splitHugePmd(mm, addr);
      pte = mm.pgtable.pte(addr);
    }
    if (none(pte)) {
      return vma.isAnonymous()
          ? doAnonymousPage(mm, vma, addr, write)
          : doFileFault(mm, vma, addr, write);
    }
    if (Migration.isMigrationEntry(pte)) {
      migration.waitForMigration(mm, addr, pte);
      return 0; // the retried access sees the new folio
    }
    if (Pte.isSwap(pte)) {
      return vmscan.doSwapPage(mm, vma, addr, pte, write);
    }
    if ((write || unshare) && !Pte.write(pte)) {
      return doWpPage(mm, vma, addr, pte, unshare && !write);
    }
    setPteBits(mm, addr, write ? YOUNG | DIRTY : YOUNG);
    return 0;
  }

  private boolean thpEligible(Vma vma, long addr) {
    long base = addr & PageTable.PMD_MASK;
    return (vma.flags & VmFlags.VM_HUGEPAGE) != 0
        && (vma.flags & VmFlags.VM_NOHUGEPAGE) == 0
        && base >= vma.start
        && base + PageTable.PMD_SIZE <= vma.end;
  }

  private long pteBits(Vma vma, boolean writable) {
    long bits = PRESENT | USER | YOUNG;
    if ((vma.flags & (VmFlags.VM_READ | VmFlags.VM_WRITE | VmFlags.VM_EXEC)) == 0) {
      bits = (bits & ~PRESENT) | PROTNONE;
    }
    if (writable) {
      bits |= WRITE | DIRTY;
    }
    return bits;
  }

  /** {@code do_huge_pmd_anonymous_page()}: a whole 2 MiB folio mapped by one PMD. */
  private int hugeAnonymousFault(MmStruct mm, Vma vma, long addr) {
    long base = addr & PageTable.PMD_MASK;
    PageTable.Pmd pmd = mm.pgtable.pmd(base);
    if (pmd != null
        && (PageTable.get(pmd.huge, PageTable.pmdIndex(base)) != 0
            || PageTable.pteTable(pmd, base) != null)) {
      return -1; // already populated: the pte path handles it
    }
    long head = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE | Gfp.ZERO | Gfp.NOWARN, HPAGE_PMD_ORDER);
    if (head == PageAllocator.NO_PFN) {
      return -1; // fall back to small pages, as the kernel does
    }
    AnonVma av = anonVmaPrepare(vma);
    newAnonRmap(head, av, vma.linearPageIndex(base));
    // on the LRU before it is visible: once mapped, reclaim or migration may take it at once
    lru.folioAddLru(head);
    mm.ptl.lock();
    try {
      pmd = mm.pgtable.pmdAlloc(base);
      int i = PageTable.pmdIndex(base);
      if (PageTable.get(pmd.huge, i) != 0 || PageTable.pteTable(pmd, base) != null) {
        memmap.setMapping(head, 0);
        alloc.putPage(head);
        return -1;
      }
      memmap.entireMapcountAdd(head, 1);
      mm.anonPages.addAndGet(HPAGE_PMD_NR);
      PageTable.set(
          pmd.huge, i, make(head, pteBits(vma, (vma.flags & VmFlags.VM_WRITE) != 0) | HUGE));
    } finally {
      mm.ptl.unlock();
    }
    mem.vmstat().inc(VmItem.THP_FAULT_ALLOC);
    return 0;
  }

  private void newAnonRmap(long head, AnonVma av, long index) {
    memmap.setFlag(head, PG_ANON);
    memmap.setFlag(head, PG_SWAPBACKED);
    memmap.setFlag(head, PG_ANON_EXCLUSIVE);
    memmap.setFlag(head, PG_UPTODATE);
    memmap.setMapping(head, av.id);
    memmap.setIndex(head, index);
  }

  /** {@code __split_huge_pmd()}: the PMD becomes a pte table mapping each subpage. */
  void splitHugePmd(MmStruct mm, long addr) {
    long base = addr & PageTable.PMD_MASK;
    mm.ptl.lock();
    try {
      PageTable.Pmd pmd = mm.pgtable.pmd(base);
      if (pmd == null) {
        return;
      }
      int i = PageTable.pmdIndex(base);
      long entry = PageTable.get(pmd.huge, i);
      if (entry == 0) {
        return;
      }
      long head = Pte.pfn(entry);
      long[] table = new long[PageTable.ENTRIES];
      long bits = entry & ~HUGE & 0xfffL;
      boolean exclusive = memmap.testFlag(head, PG_ANON_EXCLUSIVE);
      for (int j = 0; j < HPAGE_PMD_NR; j++) {
        table[j] = make(head + j, bits);
        memmap.mapcountAdd(head + j, 1);
        if (exclusive) {
          memmap.setFlag(head + j, PG_ANON_EXCLUSIVE);
        }
      }
      memmap.refAdd(head, HPAGE_PMD_NR - 1);
      memmap.entireMapcountAdd(head, -1);
      PageTable.setPteTable(pmd, base, table);
      PageTable.set(pmd.huge, i, 0);
    } finally {
      mm.ptl.unlock();
    }
  }

  /** {@code do_anonymous_page()}: the zero page on read, a fresh page on write. */
  private int doAnonymousPage(MmStruct mm, Vma vma, long addr, boolean write) {
    if (!write) {
      installPte(mm, addr, make(zeroPfn, (pteBits(vma, false) & ~DIRTY) | SPECIAL));
      return 0; // if another fault won, its pte serves
    }
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE | Gfp.ZERO | Gfp.NOWARN, 0);
    if (pfn == PageAllocator.NO_PFN) {
      return VM_FAULT_OOM;
    }
    newAnonRmap(pfn, anonVmaPrepare(vma), vma.linearPageIndex(addr));
    memmap.mapcountAdd(pfn, 1);
    lru.folioAddLru(pfn); // before the pte makes it visible to reclaim and migration
    // maybe_mkwrite(): writable (and dirty) only with VM_WRITE; a FOLL_FORCE write to a read-only
    // mapping gets a read-only pte and dirties it in do_wp_page() when GUP retries
    if (!installPte(mm, addr, make(pfn, pteBits(vma, (vma.flags & VmFlags.VM_WRITE) != 0)))) {
      memmap.mapcountAdd(pfn, -1);
      alloc.putPage(pfn);
      return 0; // raced with another fault: retry sees its pte
    }
    mm.anonPages.incrementAndGet();
    return 0;
  }

  /** Installs {@code entry} if the pte is still none; false if another fault won. */
  private boolean installPte(MmStruct mm, long addr, long entry) {
    return setPteIf(mm, addr, 0, entry);
  }

  /**
   * Sets the pte at {@code addr} to {@code entry} if it still holds {@code expect}, under the ptl;
   * tables are allocated only to install into an empty slot. False if a racing change won.
   */
  private boolean setPteIf(MmStruct mm, long addr, long expect, long entry) {
    mm.ptl.lock();
    try {
      PageTable.Pmd pmd = expect == 0 ? mm.pgtable.pmdAlloc(addr) : mm.pgtable.pmd(addr);
      if (pmd == null || PageTable.get(pmd.huge, PageTable.pmdIndex(addr)) != 0) {
        return false;
      }
      long[] t = expect == 0 ? PageTable.pteTableAlloc(pmd, addr) : PageTable.pteTable(pmd, addr);
      if (t == null) {
        return false;
      }
      int i = PageTable.pteIndex(addr);
      if (PageTable.get(t, i) != expect) {
        return false;
      }
      PageTable.set(t, i, entry);
      return true;
    } finally {
      mm.ptl.unlock();
    }
  }

  private void setPteBits(MmStruct mm, long addr, long bits) {
    mm.ptl.lock();
    try {
      PageTable.Pmd pmd = mm.pgtable.pmd(addr);
      if (pmd == null) {
        return;
      }
      int hi = PageTable.pmdIndex(addr);
      long h = PageTable.get(pmd.huge, hi);
      if (h != 0) {
        PageTable.set(pmd.huge, hi, h | (bits & ~WRITE));
        return;
      }
      long[] t = PageTable.pteTable(pmd, addr);
      if (t != null) {
        int i = PageTable.pteIndex(addr);
        long e = PageTable.get(t, i);
        if (e != 0 && !special(e)) {
          PageTable.set(t, i, e | (bits & ~WRITE));
        }
      }
    } finally {
      mm.ptl.unlock();
    }
  }

  /** {@code do_read_fault()}/{@code do_cow_fault()}/{@code do_shared_fault()}. */
  private int doFileFault(MmStruct mm, Vma vma, long addr, boolean write) {
    AddressSpace file = vma.file;
    long index = vma.linearPageIndex(addr);
    if (index >= (file.size() + PAGE_SIZE - 1) >>> PAGE_SHIFT) {
      return VM_FAULT_SIGBUS;
    }
    long pfn;
    try {
      pfn = file.readMappingFolio(index);
    } catch (KernelException e) {
      return e.errno() == Errno.ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
    }
    boolean shared = (vma.flags & VmFlags.VM_SHARED) != 0;
    if (write && !shared) {
      long copy = cowCopy(vma, addr, pfn);
      alloc.putPage(pfn);
      if (copy == PageAllocator.NO_PFN) {
        return VM_FAULT_OOM;
      }
      // do_cow_fault(): maybe_mkwrite(pte_mkdirty()): dirty, writable only with VM_WRITE
      long entry = make(copy, pteBits(vma, (vma.flags & VmFlags.VM_WRITE) != 0) | DIRTY);
      if (!installPte(mm, addr, entry)) {
        memmap.mapcountAdd(copy, -1);
        alloc.putPage(copy);
        return 0;
      }
      mm.anonPages.incrementAndGet();
      return 0;
    }
    boolean writable = false;
    if (write) {
      int rc = file.aops().pageMkwrite(file, pfn);
      if (rc != 0) {
        alloc.putPage(pfn);
        // VM_FAULT_NOPAGE: truncated meanwhile; the retried fault sees the new state
        return rc == VM_FAULT_NOPAGE ? 0 : VM_FAULT_SIGBUS;
      }
      writable = true;
    }
    memmap.mapcountAdd(pfn, 1);
    if (!installPte(mm, addr, make(pfn, pteBits(vma, writable)))) {
      memmap.mapcountAdd(pfn, -1);
      alloc.putPage(pfn);
      return 0;
    }
    mm.filePages.incrementAndGet();
    return 0;
  }

  /** A new exclusive anon page holding a copy of {@code src}; mapcount 1, refcount 1. */
  private long cowCopy(Vma vma, long addr, long src) {
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE | Gfp.NOWARN, 0);
    if (pfn == PageAllocator.NO_PFN) {
      return pfn;
    }
    mem.ram().copyPage(pfn, src);
    newAnonRmap(pfn, anonVmaPrepare(vma), vma.linearPageIndex(addr));
    memmap.mapcountAdd(pfn, 1);
    lru.folioAddLru(pfn); // the batch's own reference keeps it alive if the install loses a race
    return pfn;
  }

  /**
   * {@code do_wp_page()}: a write (or an unshare for a pin) to a write-protected pte. Shared file
   * pages are made writable after {@code page_mkwrite}; an exclusive anon page is reused; anything
   * else is copied.
   */
  private int doWpPage(MmStruct mm, Vma vma, long addr, long pte, boolean unshareOnly) {
    long pfn = Pte.pfn(pte);
    boolean shared = (vma.flags & VmFlags.VM_SHARED) != 0;
    if (shared && vma.file != null) {
      if (unshareOnly) {
        return 0;
      }
      int rc = vma.file.aops().pageMkwrite(vma.file, pfn);
      if (rc != 0) {
        return rc == VM_FAULT_NOPAGE ? 0 : VM_FAULT_SIGBUS;
      }
      replacePte(mm, addr, pte, pte | WRITE | DIRTY | YOUNG);
      return 0;
    }
    boolean anon = !special(pte) && memmap.testFlag(memmap.compoundHead(pfn), PG_ANON);
    if (anon && canReuseAnon(pfn)) {
      memmap.setFlag(pfn, PG_ANON_EXCLUSIVE);
      long bits = unshareOnly ? YOUNG : (WRITE | DIRTY | YOUNG);
      if (!unshareOnly && (vma.flags & VmFlags.VM_WRITE) == 0) {
        // wp_page_reuse(): maybe_mkwrite(pte_mkdirty()); FOLL_FORCE follows the dirty pte
        bits = YOUNG | DIRTY;
      }
      replacePte(mm, addr, pte, pte | bits);
      return 0;
    }
    // wp_page_copy(): copy into a new exclusive anon page
    long copy = cowCopy(vma, addr, special(pte) ? zeroPfn : pfn);
    if (copy == PageAllocator.NO_PFN) {
      return VM_FAULT_OOM;
    }
    boolean writable = !unshareOnly && (vma.flags & VmFlags.VM_WRITE) != 0;
    long entry = make(copy, pteBits(vma, writable));
    if (!unshareOnly && !writable) {
      entry |= DIRTY; // FOLL_FORCE: the copy is written through GUP
    }
    MmuNotifierRange range =
        MmuNotifierRange.init(
            MmuNotifierEvent.CLEAR,
            MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
            mm,
            addr,
            addr + PAGE_SIZE);
    mm.notifiers.invalidateRangeStart(range);
    boolean replaced = replacePte(mm, addr, pte, entry);
    mm.notifiers.invalidateRangeEnd(range);
    if (!replaced) {
      memmap.mapcountAdd(copy, -1);
      alloc.putPage(copy);
      return 0;
    }
    if (!special(pte)) {
      dropMapping(mm, pfn, false);
    }
    mm.anonPages.incrementAndGet();
    return 0;
  }

  /** {@code wp_can_reuse_anon_folio()}: exclusive, or the only reference is this mapping. */
  private boolean canReuseAnon(long pfn) {
    if (memmap.testFlag(pfn, PG_ANON_EXCLUSIVE)) {
      return true;
    }
    long head = memmap.compoundHead(pfn);
    return memmap.folioOrder(head) == 0 && memmap.refcount(head) == 1;
  }

  boolean replacePteIf(MmStruct mm, long addr, long expect, long entry) {
    return setPteIf(mm, addr, expect, entry);
  }

  private boolean replacePte(MmStruct mm, long addr, long expect, long entry) {
    return setPteIf(mm, addr, expect, entry);
  }

  /** Drops one pte mapping of {@code pfn}: mapcount, rss and the mapping's reference. */
  private void dropMapping(MmStruct mm, long pfn, boolean dirty) {
    long head = memmap.compoundHead(pfn);
    boolean anon = memmap.testFlag(head, PG_ANON);
    if (dirty && !anon) {
      folios.folioMarkDirty(head);
    }
    memmap.mapcountAdd(pfn, -1);
    (anon ? mm.anonPages : mm.filePages).decrementAndGet();
    alloc.putPage(pfn);
  }

  // ---------------------------------------------------------------- unmapping

  /**
   * {@code zap_page_range_single()}/{@code unmap_page_range()}: removes every mapping in {@code
   * [start, end)} of {@code vma}, dropping the mappings' references (a pinned page lives on).
   * Caller holds mmap_lock and has started the notifier range.
   */
  void zapRange(MmStruct mm, long start, long end) {
    for (long addr = start; addr < end; ) {
      mem.scheduler().condResched(); // zap_pmd_range(): cond_resched() per PMD
      long next = Math.min(end, (addr & PageTable.PMD_MASK) + PageTable.PMD_SIZE);
      PageTable.Pmd pmd = mm.pgtable.pmd(addr);
      if (pmd == null) {
        addr = next;
        continue;
      }
      int hi = PageTable.pmdIndex(addr);
      long h = PageTable.get(pmd.huge, hi);
      if (h != 0) {
        if ((addr & ~PageTable.PMD_MASK) != 0 || next - addr < PageTable.PMD_SIZE) {
          splitHugePmd(mm, addr);
          continue;
        }
        mm.ptl.lock();
        try {
          PageTable.set(pmd.huge, hi, 0);
        } finally {
          mm.ptl.unlock();
        }
        long head = Pte.pfn(h);
        memmap.entireMapcountAdd(head, -1);
        mm.anonPages.addAndGet(-HPAGE_PMD_NR);
        alloc.putPage(head);
        addr = next;
        continue;
      }
      long[] t = PageTable.pteTable(pmd, addr);
      if (t != null) {
        for (long a = addr; a < next; a += PAGE_SIZE) {
          int i = PageTable.pteIndex(a);
          long e;
          mm.ptl.lock();
          try {
            e = PageTable.get(t, i);
            PageTable.set(t, i, 0);
          } finally {
            mm.ptl.unlock();
          }
          if (present(e) && !special(e)) {
            dropMapping(mm, Pte.pfn(e), dirty(e));
          } else if (Pte.isSwap(e) && !Migration.isMigrationEntry(e) && swap != null) {
            swap.put(Pte.swapOffset(e)); // free_swap_and_cache()
          }
        }
      }
      addr = next;
    }
  }

  // ---------------------------------------------------------------- fork and exit

  /** {@code dup_mmap()}: the child's address space, copy-on-write. */
  MmStruct dupMmap(MmStruct parent) {
    MmStruct child = new MmStruct(this, ids.incrementAndGet());
    parent.mmapLock.writeLock();
    try {
      parent.checkAlive();
      parent.writeProtectSeq.incrementAndGet(); // odd: gup_fast must not pin now
      try {
        child.mmapBase = parent.mmapBase;
        for (Vma v : parent.vmas.values()) {
          if ((v.flags & VmFlags.VM_DONTCOPY) != 0) {
            continue;
          }
          Vma c = new Vma(child, v.start, v.end, v.flags, v.file, v.pgoff);
          c.anonVma = v.anonVma;
          child.vmas.put(c.start, c);
          linkVma(c);
          if (v.anonVma != null || (v.file != null && VmFlags.isCowMapping(v.flags))) {
            copyPageRange(parent, child, v, c);
          }
        }
      } finally {
        parent.writeProtectSeq.incrementAndGet();
      }
    } finally {
      parent.mmapLock.writeUnlock();
    }
    return child;
  }

  private void copyPageRange(MmStruct parent, MmStruct child, Vma v, Vma c) {
    boolean cow = VmFlags.isCowMapping(v.flags);
    MmuNotifierRange range = null;
    if (cow) {
      range =
          MmuNotifierRange.init(
              MmuNotifierEvent.PROTECTION_PAGE,
              MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
              parent,
              v.start,
              v.end);
      parent.notifiers.invalidateRangeStart(range);
    }
    try {
      for (long addr = v.start; addr < v.end; ) {
        mem.scheduler().condResched(); // copy_pmd_range(): cond_resched() per PMD
        long next = Math.min(v.end, (addr & PageTable.PMD_MASK) + PageTable.PMD_SIZE);
        PageTable.Pmd pmd = parent.pgtable.pmd(addr);
        if (pmd == null) {
          addr = next;
          continue;
        }
        long h = PageTable.get(pmd.huge, PageTable.pmdIndex(addr));
        if (h != 0) {
          copyHugePmd(parent, child, c, addr, h, pmd, cow);
          addr = next;
          continue;
        }
        long[] t = PageTable.pteTable(pmd, addr);
        if (t != null) {
          for (long a = addr; a < next; a += PAGE_SIZE) {
            copyPte(parent, child, c, a, t, PageTable.pteIndex(a), cow);
          }
        }
        addr = next;
      }
    } finally {
      if (range != null) {
        parent.notifiers.invalidateRangeEnd(range);
      }
    }
  }

  /** {@code copy_present_pte()}: share write-protected, or copy a maybe-pinned anon page now. */
  private void copyPte(
      MmStruct parent, MmStruct child, Vma c, long addr, long[] t, int i, boolean cow) {
    long e = PageTable.get(t, i);
    while (Migration.isMigrationEntry(e)) {
      migration.waitForMigration(parent, addr, e);
      e = PageTable.get(t, i);
    }
    if (Pte.isSwap(e) && swap != null) {
      swap.dup(Pte.swapOffset(e)); // copy_nonpresent_pte(): swap_duplicate()
      installPte(child, addr, e);
      return;
    }
    if (!present(e)) {
      return;
    }
    if (special(e)) {
      installPte(child, addr, e);
      return;
    }
    long pfn;
    long head;
    boolean anon;
    boolean copyNow;
    long ce;
    // under the source ptl, as copy_pte_range(): reclaim and migration take it to unmap
    parent.ptl.lock();
    try {
      e = PageTable.get(t, i);
      if (!present(e) || special(e) || Migration.isMigrationEntry(e)) {
        return; // changed under us (unmapped or being migrated): the child faults it in
      }
      pfn = Pte.pfn(e);
      head = memmap.compoundHead(pfn);
      if (!memmap.refTryAdd(head, 1)) {
        return;
      }
      anon = memmap.testFlag(head, PG_ANON);
      copyNow = anon && parent.hasPinned && gup.maybeDmaPinnedUnchecked(pfn);
      ce = e;
      if (!copyNow && cow) {
        if (anon) {
          memmap.clearFlag(pfn, PG_ANON_EXCLUSIVE);
        }
        if (Pte.write(e)) {
          PageTable.set(t, i, e & ~WRITE);
        }
        ce = e & ~WRITE;
      }
    } finally {
      parent.ptl.unlock();
    }
    if (copyNow) {
      // copy_present_page(): a pinned page stays the parent's; the child gets its own copy now
      long copy = cowCopy(c, addr, pfn);
      alloc.putPage(head);
      if (copy != PageAllocator.NO_PFN) {
        installPte(child, addr, make(copy, (e & 0xfffL) | WRITE | DIRTY));
        child.anonPages.incrementAndGet();
      }
      return;
    }
    memmap.mapcountAdd(pfn, 1); // the reference taken above becomes the child's mapping's
    installPte(child, addr, ce);
    (anon ? child.anonPages : child.filePages).incrementAndGet();
  }

  private void copyHugePmd(
      MmStruct parent, MmStruct child, Vma c, long addr, long h, PageTable.Pmd pmd, boolean cow) {
    long head = Pte.pfn(h);
    if (parent.hasPinned && gup.maybeDmaPinnedUnchecked(head)) {
      // the kernel splits and copies; refkern copies the whole folio for the child
      long copy = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE | Gfp.NOWARN, HPAGE_PMD_ORDER);
      if (copy != PageAllocator.NO_PFN) {
        for (int j = 0; j < HPAGE_PMD_NR; j++) {
          mem.ram().copyPage(copy + j, head + j);
        }
        newAnonRmap(copy, c.anonVma, memmap.index(head));
        memmap.entireMapcountAdd(copy, 1);
        child.ptl.lock();
        try {
          PageTable.set(
              child.pgtable.pmdAlloc(addr).huge, PageTable.pmdIndex(addr), make(copy, h & 0xfffL));
        } finally {
          child.ptl.unlock();
        }
        child.anonPages.addAndGet(HPAGE_PMD_NR);
        return;
      }
    }
    alloc.getPage(head);
    memmap.entireMapcountAdd(head, 1);
    memmap.clearFlag(head, PG_ANON_EXCLUSIVE);
    long ce = cow ? h & ~WRITE : h;
    parent.ptl.lock();
    try {
      PageTable.set(pmd.huge, PageTable.pmdIndex(addr), ce);
    } finally {
      parent.ptl.unlock();
    }
    child.ptl.lock();
    try {
      PageTable.set(child.pgtable.pmdAlloc(addr).huge, PageTable.pmdIndex(addr), ce);
    } finally {
      child.ptl.unlock();
    }
    child.anonPages.addAndGet(HPAGE_PMD_NR);
  }

  /** {@code exit_mmap()}: {@code release} to every notifier, then every mapping torn down. */
  void exitMmap(MmStruct mm) {
    mm.notifiers.release();
    mm.mmapLock.writeLock();
    try {
      for (Vma v : mm.vmas.values()) {
        zapRange(mm, v.start, v.end);
        unlinkVma(v);
      }
      mm.vmas.clear();
      mm.dead = true;
    } finally {
      mm.mmapLock.writeUnlock();
    }
  }
}
