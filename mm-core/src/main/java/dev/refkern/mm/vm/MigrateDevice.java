package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.vm.Pte.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmFault;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.Arrays;
import org.apiguardian.api.API;

/**
 * {@code mm/migrate_device.c}: migration of anonymous pages between system memory and device
 * memory, driven by a device driver, and {@code make_device_exclusive()} ({@code mm/rmap.c}).
 *
 * <p>It lives in mm-core, beside {@link Migrate}, because it rewrites page tables under their lock,
 * the rmap and the memmap, which mm-core does not export; the driver-facing side (HMM, drivers,
 * device models) is in the {@code dev.refkern.hmm} module.
 *
 * <p>Read in Linux 6.15+ ({@code mm/migrate_device.c} at torvalds/linux 022a12de, {@code
 * make_device_exclusive()} of 6.15). As there, a page that cannot move (pinned, referenced, not
 * isolatable, not lockable) is restored at setup with its {@code src} entry 0, and a file-backed
 * page is collected but refused by {@code migrate_vma_pages()} ({@code MIGRATE_PFN_MIGRATE}
 * cleared, restored at finalize); device migration counts no {@code pgmigrate_*} events, as in the
 * kernel.
 *
 * <p>Deviations: there is no readable-exclusive migration entry: {@code PG_anon_exclusive} stays on
 * the locked folio and moves with its flags; a migration entry restores dirty iff writable; a large
 * folio is always split first (as without {@code MIGRATE_VMA_SELECT_COMPOUND}: no large device
 * folios); a file-backed page is refused for a system destination too; {@code
 * make_device_exclusive()} faults through the fault handler, not GUP.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class MigrateDevice {
  /** {@code MIGRATE_VMA_SELECT_SYSTEM}: collect pages in system memory. */
  public static final int SELECT_SYSTEM = 1 << 0;

  /** {@code MIGRATE_VMA_SELECT_DEVICE_PRIVATE}: collect device-private pages of the owner. */
  public static final int SELECT_DEVICE_PRIVATE = 1 << 1;

  /** {@code MIGRATE_VMA_SELECT_DEVICE_COHERENT}: collect device-coherent pages of the owner. */
  public static final int SELECT_DEVICE_COHERENT = 1 << 2;

  /** {@code MIGRATE_PFN_VALID}: the entry holds a pfn. */
  public static final long MIGRATE_PFN_VALID = 1L << 0;

  /** {@code MIGRATE_PFN_MIGRATE}: the page is to be migrated. */
  public static final long MIGRATE_PFN_MIGRATE = 1L << 1;

  /** {@code MIGRATE_PFN_WRITE}: the page was mapped writable. */
  public static final long MIGRATE_PFN_WRITE = 1L << 3;

  /** {@code MIGRATE_PFN_SHIFT}. */
  public static final int MIGRATE_PFN_SHIFT = 6;

  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final PageAllocator alloc;
  private final FolioOps folios;
  private final LruVec lru;
  private final Rmap rmap;
  private final PageWalk pageWalk;
  private final HugeMemory huge;
  private final Memory memory;
  private final PinTrackingPolicy pins;
  private final long zeroPfn;
  private final DeviceFilePagePolicy filePages;

  MigrateDevice(
      PhysicalMemory mem,
      MemmapOps memmap,
      FolioOps folios,
      LruVec lru,
      Rmap rmap,
      PageWalk pageWalk,
      HugeMemory huge,
      Memory memory,
      PinTrackingPolicy pins,
      long zeroPfn,
      DeviceFilePagePolicy filePages) {
    this.mem = mem;
    this.memmap = memmap;
    this.alloc = mem.allocator();
    this.folios = folios;
    this.lru = lru;
    this.rmap = rmap;
    this.pageWalk = pageWalk;
    this.huge = huge;
    this.memory = memory;
    this.pins = pins;
    this.zeroPfn = zeroPfn;
    this.filePages = filePages;
  }

  /** {@code migrate_pfn()}: {@code pfn} as a valid entry. */
  public static long migratePfn(long pfn) {
    return (pfn << MIGRATE_PFN_SHIFT) | MIGRATE_PFN_VALID;
  }

  /** {@code migrate_pfn_to_page()}: the pfn of an entry, or -1 if it is not valid. */
  public static long pfnOf(long mpfn) {
    return (mpfn & MIGRATE_PFN_VALID) == 0 ? -1 : mpfn >>> MIGRATE_PFN_SHIFT;
  }

  /**
   * {@code migrate_vma_setup()}: collects the range's pages selected by {@code args.flags} (the
   * pgmap owner decides which device pages), isolates and locks them, and replaces their mappings
   * by migration entries inside an {@code MMU_NOTIFY_MIGRATE} range carrying {@code
   * args.pgmapOwner}. The caller holds {@code mmap_lock} for reading.
   *
   * @throws dev.refkern.mm.KernelException {@code EINVAL} for a null VMA, an unaligned, empty or
   *     reversed range, a range not inside the VMA, or null arrays shorter than the range
   */
  public void migrateVmaSetup(MigrateVma args) {
    mem.health().checkAlive();
    Vma vma = args.vma;
    if (vma == null) {
      throw new KernelException(Errno.EINVAL, "migrate_vma_setup: no vma");
    }
    if (((args.start | args.end) & ~PAGE_MASK) != 0 || args.end <= args.start) {
      throw new KernelException(Errno.EINVAL, "migrate_vma_setup: bad range");
    }
    if (args.start < vma.start || args.end > vma.end) {
      throw new KernelException(Errno.EINVAL, "migrate_vma_setup: range outside the vma");
    }
    int n = args.npages();
    if (args.src == null || args.dst == null || args.src.length < n || args.dst.length < n) {
      throw new KernelException(Errno.EINVAL, "migrate_vma_setup: src/dst arrays too short");
    }
    if (args.faultPage >= 0
        && (!isDevicePrivatePage(args.faultPage) || !memmap.testFlag(args.faultPage, PG_LOCKED))) {
      throw new KernelException(Errno.EINVAL, "migrate_vma_setup: fault_page not locked private");
    }
    Arrays.fill(args.src, 0, n, 0);
    Arrays.fill(args.dst, 0, n, 0);
    args.cpages = 0;
    MmStruct mm = vma.mm;
    // the owner lets the driver skip invalidating its own device-private mappings
    MmuNotifierRange range =
        MmuNotifierRange.initOwner(
            MmuNotifierEvent.MIGRATE,
            MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
            mm,
            args.start,
            args.end,
            args.pgmapOwner);
    mm.notifiers.invalidateRangeStart(range);
    try {
      pageWalk.walkPageRange(mm, args.start, args.end, collect, args);
    } finally {
      mm.notifiers.invalidateRangeEnd(range);
    }
    if (args.cpages > 0) {
      args.cpages = unmap(args.src, n, args.faultPage);
    }
  }

  /** {@code migrate_vma_walk_ops}: {@code migrate_vma_collect_pmd()} per pte, and holes. */
  private final MmWalkOps collect =
      new MmWalkOps(
          null,
          (e, addr, next, walk) -> {
            MigrateVma a = (MigrateVma) walk.priv();
            a.src[(int) ((addr - a.start) >>> PAGE_SHIFT)] = collectPte(a, e, addr, walk);
            return 0;
          },
          (start, end, depth, walk) -> {
            MigrateVma a = (MigrateVma) walk.priv();
            // migrate_vma_collect_hole(): only anonymous memory may be populated
            if (walk.vma().isAnonymous()) {
              for (long addr = start; addr < end; addr += PAGE_SIZE) {
                a.src[(int) ((addr - a.start) >>> PAGE_SHIFT)] = MIGRATE_PFN_MIGRATE;
                a.cpages++;
              }
            }
            return 0;
          });

  /** One pte of {@code migrate_vma_collect_pmd()}, under the page-table lock: the src entry. */
  private long collectPte(MigrateVma a, long e, long addr, PageWalk.MmWalk walk) {
    if (e == 0) {
      if (a.vma.isAnonymous()) {
        a.cpages++;
        return MIGRATE_PFN_MIGRATE;
      }
      return 0;
    }
    long pfn;
    long mpfn;
    if (!present(e)) {
      if (!isDevicePrivate(e)) {
        return 0; // swap and migration entries are not migrated
      }
      pfn = entryPfn(e);
      DevPagemap pg = mem.pagemapOf(pfn);
      if ((a.flags & SELECT_DEVICE_PRIVATE) == 0 || pg == null || pg.owner() != a.pgmapOwner) {
        return 0;
      }
      mpfn =
          migratePfn(pfn) | MIGRATE_PFN_MIGRATE | (isDevicePrivateWrite(e) ? MIGRATE_PFN_WRITE : 0);
    } else {
      pfn = Pte.pfn(e);
      if (special(e) || pfn == zeroPfn) {
        if (pfn == zeroPfn && (a.flags & SELECT_SYSTEM) != 0) {
          a.cpages++;
          return MIGRATE_PFN_MIGRATE;
        }
        return 0;
      }
      if (memmap.zone(pfn) != ZoneType.DEVICE) {
        if ((a.flags & SELECT_SYSTEM) == 0) {
          return 0;
        }
      } else {
        DevPagemap pg = mem.pagemapOf(pfn);
        if (pg == null
            || pg.type() != DevPagemap.MemoryType.DEVICE_COHERENT
            || (a.flags & SELECT_DEVICE_COHERENT) == 0
            || pg.owner() != a.pgmapOwner) {
          return 0;
        }
      }
      mpfn = migratePfn(pfn) | MIGRATE_PFN_MIGRATE | (Pte.write(e) ? MIGRATE_PFN_WRITE : 0);
    }
    long head = memmap.compoundHead(pfn);
    if (!isDevice(pfn) && memmap.folioOrder(head) > 0 && !splitFolio(head)) {
      return 0; // migrate_vma_collect_skip()
    }
    if (memmap.mapping(pfn) == 0 || memmap.folioOrder(memmap.compoundHead(pfn)) > 0) {
      return 0;
    }
    // our reference "freezes" the pte; it is dropped at the end (or on isolation)
    memmap.refAdd(pfn, 1);
    boolean fault = pfn == a.faultPage;
    if (!fault && !folios.folioTrylock(pfn)) {
      alloc.putPage(pfn);
      return 0; // best effort: a page another migration holds is left alone
    }
    boolean anonExclusive =
        memmap.testFlag(pfn, PG_ANON) && memmap.testFlag(pfn, PG_ANON_EXCLUSIVE);
    if (anonExclusive && pins.dmaPinned(pfn)) {
      // folio_try_share_anon_rmap_pte() fails on a maybe-pinned page: it stays mapped
      if (!fault) {
        folios.folioUnlock(pfn);
      }
      alloc.putPage(pfn);
      return 0;
    }
    a.cpages++;
    if (present(e) && dirty(e)) {
      memmap.setFlag(pfn, PG_DIRTY);
    }
    walk.setPte(migrationEntry(pfn, (mpfn & MIGRATE_PFN_WRITE) != 0));
    memmap.mapcountAdd(pfn, -1);
    memmap.refAdd(pfn, -1); // the mapping's reference; ours keeps the page
    return mpfn;
  }

  /**
   * The THP branch of {@code migrate_vma_collect_pmd()} ({@code folio_get}, {@code folio_trylock},
   * {@code split_folio}): the walk already split the PMD, so the folio is split into small ones
   * that collect one by one. False if it cannot be split (skipped, as the kernel skips it).
   */
  private boolean splitFolio(long head) {
    memmap.refAdd(head, 1);
    boolean split = false;
    if (folios.folioTrylock(head)) {
      split = huge.splitFolio(head);
      folios.folioUnlock(head);
    }
    alloc.putPage(head);
    return split;
  }

  private static long migrationEntry(long pfn, boolean write) {
    return swapEntry(write ? Migrate.SWP_MIGRATION_WRITE : Migrate.SWP_MIGRATION_READ, pfn);
  }

  private boolean isDevicePrivatePage(long pfn) {
    DevPagemap pg = mem.pagemapOf(pfn);
    return pg != null && pg.type() == DevPagemap.MemoryType.DEVICE_PRIVATE;
  }

  private boolean isDevice(long pfn) {
    return memmap.zone(pfn) == ZoneType.DEVICE;
  }

  /**
   * {@code migrate_device_unmap()}: isolates each collected page, unmaps what collect did not
   * ({@code try_to_migrate()}: other processes, device-private entries), and restores the pages
   * that cannot move (src 0). Returns the entries still migrating.
   */
  private long unmap(long[] src, int n, long faultPage) {
    lru.lruAddDrain();
    boolean drained = false;
    int restore = 0;
    long unmapped = 0;
    TryToMigrate ttm = null;
    for (int i = 0; i < n; i++) {
      long pfn = pfnOf(src[i]);
      if (pfn < 0) {
        if ((src[i] & MIGRATE_PFN_MIGRATE) != 0) {
          unmapped++;
        }
        continue;
      }
      boolean device = isDevice(pfn);
      if (!device) {
        if (!lru.onLru(pfn) && !drained) {
          lru.lruAddDrainAll();
          drained = true;
        }
        if (!lru.isolate(pfn)) {
          src[i] &= ~MIGRATE_PFN_MIGRATE;
          restore++;
          continue;
        }
        alloc.putPage(pfn); // the isolation's reference replaces collect's
      }
      if (rmap.folioMapcount(pfn) > 0) {
        if (ttm == null) {
          ttm = new TryToMigrate();
        }
        ttm.pfn = pfn;
        rmap.rmapWalk(pfn, ttm);
      }
      if (rmap.folioMapcount(pfn) > 0 || !checkPage(pfn, faultPage)) {
        if (!device) {
          memmap.refAdd(pfn, 1);
          lru.putback(pfn);
        }
        src[i] &= ~MIGRATE_PFN_MIGRATE;
        restore++;
        continue;
      }
      unmapped++;
    }
    RemoveMigrationPtes rm = restore > 0 ? new RemoveMigrationPtes() : null;
    for (int i = 0; i < n && restore > 0; i++) {
      long pfn = pfnOf(src[i]);
      if (pfn < 0 || (src[i] & MIGRATE_PFN_MIGRATE) != 0) {
        continue;
      }
      rm.run(pfn, pfn);
      src[i] = 0;
      if (pfn != faultPage) {
        folios.folioUnlock(pfn);
      }
      alloc.putPage(pfn);
      restore--;
    }
    return unmapped;
  }

  /** {@code migrate_vma_check_page()}: no reference beyond the mappings and ours. */
  private boolean checkPage(long pfn, long faultPage) {
    int extra = 1 + (pfn == faultPage ? 1 : 0);
    if (memmap.folioOrder(memmap.compoundHead(pfn)) > 0) {
      return false;
    }
    if (isDevice(pfn)) {
      extra++; // kept from the kernel, which still counts a ZONE_DEVICE page's old idle reference
    }
    if (!memmap.testFlag(pfn, PG_ANON) && memmap.mapping(pfn) != 0) {
      extra += 1 + (memmap.testFlag(pfn, PG_PRIVATE) ? 1 : 0);
    }
    return memmap.refcount(pfn) - extra <= rmap.folioMapcount(pfn);
  }

  /** {@code try_to_migrate_one()}: a pte or device-private entry becomes a migration entry. */
  private final class TryToMigrate implements RmapWalkControl, PageWalk.PteUpdate {
    long pfn;

    @Override
    public boolean rmapOne(Vma vma, long addr) {
      PageWalk.updatePte(vma.mm, addr, MmuNotifierEvent.CLEAR, this);
      return true;
    }

    @Override
    public boolean done(long p) {
      return rmap.folioMapcount(p) == 0;
    }

    @Override
    public long update(MmStruct mm, long addr, long e) {
      boolean write;
      if (present(e) && !special(e) && !huge(e) && Pte.pfn(e) == pfn) {
        write = Pte.write(e);
        if (dirty(e)) {
          memmap.setFlag(pfn, PG_DIRTY);
        }
      } else if (isDevicePrivate(e) && entryPfn(e) == pfn) {
        write = isDevicePrivateWrite(e);
      } else {
        return e;
      }
      memmap.mapcountAdd(pfn, -1);
      memmap.refAdd(pfn, -1); // the caller holds its own reference
      return migrationEntry(pfn, write);
    }
  }

  /**
   * {@code remove_migration_ptes()}: each migration entry naming {@code src} now maps {@code
   * target}: a device-private entry for device-private memory, a pte otherwise.
   */
  private final class RemoveMigrationPtes implements RmapWalkControl, PageWalk.PteUpdate {
    long src;
    long target;
    boolean devicePrivate;

    void run(long src, long target) {
      this.src = src;
      this.target = target;
      this.devicePrivate = isDevicePrivatePage(target);
      rmap.rmapWalkMigration(target, src, this);
    }

    Vma vma;

    @Override
    public boolean rmapOne(Vma vma, long addr) {
      this.vma = vma; // a field, not a capturing lambda: nothing allocated per page
      PageWalk.updatePte(vma.mm, addr, null, this);
      return true;
    }

    @Override
    public long update(MmStruct mm, long addr, long e) {
      if (!Migrate.isMigrationEntry(e) || entryPfn(e) != src) {
        return e; // zapped meanwhile: that mapping's reference is already gone
      }
      boolean write = swapType(e) == Migrate.SWP_MIGRATION_WRITE;
      memmap.mapcountAdd(target, 1);
      memmap.refAdd(target, 1);
      if (devicePrivate) {
        return devicePrivateEntry(target, write);
      }
      long bits = Memory.pteBits(vma, false) & ~DIRTY;
      return make(target, write ? bits | WRITE | DIRTY : bits);
    }
  }

  /**
   * {@code migrate_vma_pages()}: moves each source whose destination the driver filled: the page's
   * state (mapping, index, anon rmap) goes to the new page; sources that cannot move lose {@code
   * MIGRATE_PFN_MIGRATE}. The driver has copied the data before.
   */
  public void migrateVmaPages(MigrateVma args) {
    pages(args.src, args.dst, args.npages(), args);
  }

  /** {@code __migrate_device_pages()}. */
  private void pages(long[] src, long[] dst, int n, MigrateVma m) {
    mem.health().checkAlive();
    MmuNotifierRange range = null;
    try {
      for (int i = 0; i < n; i++) {
        long newPfn = pfnOf(dst[i]);
        long pfn = pfnOf(src[i]);
        if (newPfn < 0) {
          src[i] &= ~MIGRATE_PFN_MIGRATE;
          continue;
        }
        if (pfn < 0) {
          if ((src[i] & MIGRATE_PFN_MIGRATE) == 0) {
            continue;
          }
          long addr = m.start + ((long) i << PAGE_SHIFT);
          if (range == null) {
            range =
                MmuNotifierRange.initOwner(
                    MmuNotifierEvent.MIGRATE,
                    MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
                    m.vma.mm,
                    addr,
                    m.end,
                    m.pgmapOwner);
            m.vma.mm.notifiers.invalidateRangeStart(range);
          }
          if (!insertPage(m, addr, newPfn)) {
            src[i] &= ~MIGRATE_PFN_MIGRATE;
          }
          continue;
        }
        boolean fileBacked = !memmap.testFlag(pfn, PG_ANON);
        if (isDevice(newPfn)) {
          DevPagemap.MemoryType t = mem.pagemapOf(newPfn).type();
          if (t != DevPagemap.MemoryType.DEVICE_PRIVATE
              && t != DevPagemap.MemoryType.DEVICE_COHERENT) {
            src[i] &= ~MIGRATE_PFN_MIGRATE;
            continue;
          }
        }
        if (fileBacked) {
          // mainline moves only anonymous memory; hmm.file_pages= lets page-cache folios go to
          // device-private memory, and a device one always comes home
          boolean home = isDevice(pfn) && !isDevice(newPfn);
          boolean away = !isDevice(pfn) && isDevicePrivatePage(newPfn);
          if (!home && !(away && filePages.allowsFilePages())) {
            if (away) {
              filePages.skipped();
            }
            src[i] &= ~MIGRATE_PFN_MIGRATE;
          } else if (!migrateFileMapping(pfn, newPfn, m != null && m.faultPage == pfn)) {
            src[i] &= ~MIGRATE_PFN_MIGRATE;
          } else if (away) {
            filePages.migratedToDevice();
          }
          continue;
        }
        // folio_migrate_mapping() for anon: no reference but ours (and the fault path's)
        int expected = 1 + (m != null && m.faultPage == pfn ? 1 : 0);
        if (memmap.refcount(pfn) != expected) {
          src[i] &= ~MIGRATE_PFN_MIGRATE;
          continue;
        }
        memmap.setMapping(newPfn, memmap.mapping(pfn));
        memmap.setIndex(newPfn, memmap.index(pfn));
        memmap.setMapping(pfn, 0);
        for (int bit : MOVED_FLAGS) {
          if (memmap.testAndClearFlag(pfn, bit)) {
            memmap.setFlag(newPfn, bit);
          }
        }
      }
    } finally {
      if (range != null) {
        m.vma.mm.notifiers.invalidateRangeEnd(range);
      }
    }
  }

  /**
   * {@code folio_migrate_mapping()} and {@code folio_migrate_flags()} for a page-cache folio,
   * beyond mainline (seed 004): {@code dst} takes the cache slot, mapping, index, dirty state and
   * private data of the locked, unmapped {@code src}. Clean buffers are released first ({@code
   * fallback_migrate_folio()}'s {@code filemap_release_folio()}); a dirty folio with private data
   * or one under writeback stays. The driver copied the contents before.
   */
  private boolean migrateFileMapping(long src, long dst, boolean fault) {
    dev.refkern.mm.AddressSpace mapping = folios.folioMapping(src);
    if (mapping == null || memmap.testFlag(src, PG_WRITEBACK)) {
      return false;
    }
    if (memmap.testFlag(src, PG_PRIVATE) && !isDevice(src)) {
      if (memmap.testFlag(src, PG_DIRTY)) {
        return false;
      }
      mapping.aops().invalidateFolio(mapping, src, 0, mapping.folioSize(src));
    }
    boolean priv = memmap.testFlag(src, PG_PRIVATE);
    int refs = 1 + (priv ? 1 : 0); // the cache's and the private data's
    int expected = 1 + (fault ? 1 : 0) + refs;
    dev.refkern.mm.internal.pagecache.AddressSpaceState st =
        dev.refkern.mm.internal.MmInternals.state(mapping);
    long index = memmap.index(src);
    synchronized (st.xaLock) {
      if (memmap.refcount(src) != expected || st.tree.get(index) != src) {
        return false;
      }
      st.tree.replace(index, dst);
      memmap.setMapping(dst, st.id);
      memmap.setIndex(dst, index);
      memmap.refAdd(dst, refs);
      if (priv) {
        memmap.setPrivateData(dst, memmap.privateData(src));
        memmap.setFlag(dst, PG_PRIVATE);
        memmap.setPrivateData(src, 0);
        memmap.clearFlag(src, PG_PRIVATE);
      }
      for (int bit : FILE_MOVED_FLAGS) {
        if (memmap.testAndClearFlag(src, bit)) {
          memmap.setFlag(dst, bit);
        }
      }
      memmap.setMapping(src, 0);
      memmap.refAdd(src, -refs);
    }
    if (priv) {
      mapping.aops().migratePrivate(mapping, dst, src); // buffer heads now name dst
    }
    return true;
  }

  private static final int[] FILE_MOVED_FLAGS = {
    PG_SWAPBACKED, PG_DIRTY, PG_UPTODATE, PG_REFERENCED, PG_ACTIVE, PG_WORKINGSET, PG_OWNER_PRIV_1
  };

  /**
   * Migrates the device-private page-cache folio {@code pfn} back to system memory, wherever it is
   * mapped, with {@code migrate_device_range/pages/finalize} and its driver's {@code copyToRam}:
   * what {@code hmm.file_pages=} runs when the page cache meets a device folio (beyond mainline,
   * seed 004). The caller holds no folio lock.
   *
   * @return true if it moved; false if it could not be taken (freed, busy, no memory)
   */
  boolean migrateFileFolioToRam(long pfn) {
    mem.health().checkAlive();
    DevPagemap pg = mem.pagemapOf(pfn);
    if (pg == null || pg.type() != DevPagemap.MemoryType.DEVICE_PRIVATE) {
      return false;
    }
    long[] src = new long[1];
    long[] dst = new long[1];
    migrateDeviceRange(src, pfn, 1);
    if ((src[0] & MIGRATE_PFN_MIGRATE) != 0) {
      long d = alloc.allocPages(dev.refkern.mm.Gfp.HIGHUSER_MOVABLE, 0);
      if (d != PageAllocator.NO_PFN) {
        folios.folioLock(d);
        if (!pg.ops().copyToRam(pfn, d)) {
          mem.ram().copyPage(d, pfn);
        }
        dst[0] = migratePfn(d);
      }
    }
    pages(src, dst, 1, null);
    boolean moved = (src[0] & MIGRATE_PFN_MIGRATE) != 0 && dst[0] != 0;
    finalizeRange(src, dst, 1, -1);
    return moved;
  }

  private static final int[] MOVED_FLAGS = {
    PG_ANON, PG_ANON_EXCLUSIVE, PG_SWAPBACKED, PG_DIRTY, PG_UPTODATE, PG_REFERENCED, PG_ACTIVE
  };

  /** {@code migrate_vma_insert_page()}: maps a new page where there was none (or the zero page). */
  private boolean insertPage(MigrateVma m, long addr, long newPfn) {
    Vma vma = m.vma;
    if (!vma.isAnonymous()) {
      return false;
    }
    MmStruct mm = vma.mm;
    boolean devicePrivate = isDevicePrivatePage(newPfn);
    if (isDevice(newPfn)
        && !devicePrivate
        && mem.pagemapOf(newPfn).type() != DevPagemap.MemoryType.DEVICE_COHERENT) {
      return false;
    }
    boolean writable = (vma.flags & VmFlags.VM_WRITE) != 0;
    long entry =
        devicePrivate
            ? devicePrivateEntry(newPfn, writable)
            : make(newPfn, Memory.pteBits(vma, writable));
    AnonVma av = rmap.anonVmaPrepare(vma);
    mm.ptl.lock();
    try {
      PageTable.Pmd pmd = mm.pgtable.pmdAlloc(addr);
      if (pmd == null || PageTable.get(pmd.huge, PageTable.pmdIndex(addr)) != 0) {
        return false;
      }
      long[] t = PageTable.pteTableAlloc(pmd, addr);
      int i = PageTable.pteIndex(addr);
      long orig = PageTable.get(t, i);
      if (orig != 0 && !(present(orig) && Pte.pfn(orig) == zeroPfn)) {
        return false;
      }
      mm.anonPages.incrementAndGet();
      rmap.newAnonRmap(newPfn, av, vma.linearPageIndex(addr));
      if (!isDevice(newPfn)) {
        lru.folioAddLru(newPfn);
      }
      memmap.refAdd(newPfn, 1);
      memmap.mapcountAdd(newPfn, 1);
      PageTable.set(t, i, entry);
      return true;
    } finally {
      mm.ptl.unlock();
    }
  }

  /**
   * {@code migrate_vma_finalize()}: points each migration entry at the new page (a device-private
   * entry for device-private memory, a normal pte otherwise) or back at the old one, unlocks and
   * releases both, freeing the old pages that moved.
   */
  public void migrateVmaFinalize(MigrateVma args) {
    finalizeRange(args.src, args.dst, args.npages(), args.faultPage);
  }

  /** {@code __migrate_device_finalize()}. */
  private void finalizeRange(long[] src, long[] dst, int n, long faultPage) {
    mem.health().checkAlive();
    RemoveMigrationPtes rm = new RemoveMigrationPtes();
    for (int i = 0; i < n; i++) {
      long newPfn = pfnOf(dst[i]);
      long pfn = pfnOf(src[i]);
      if (pfn < 0) {
        if (newPfn >= 0) {
          folios.folioUnlock(newPfn);
          alloc.putPage(newPfn);
        }
        continue;
      }
      if ((src[i] & MIGRATE_PFN_MIGRATE) == 0 || newPfn < 0) {
        if (newPfn >= 0) {
          folios.folioUnlock(newPfn);
          alloc.putPage(newPfn);
        }
        newPfn = pfn;
      }
      if (!isDevice(newPfn)) {
        lru.folioAddLru(newPfn);
      }
      rm.run(pfn, newPfn);
      if (pfn != faultPage) {
        folios.folioUnlock(pfn);
      }
      if (newPfn == pfn && !isDevice(pfn)) {
        lru.putback(pfn); // back from isolation
      } else {
        alloc.putPage(pfn); // a moved source is freed here (a device page goes to its driver)
      }
      if (newPfn != pfn) {
        folios.folioUnlock(newPfn);
        alloc.putPage(newPfn);
      }
    }
  }

  /**
   * {@code migrate_device_range()}: collects {@code npages} device pages from {@code startPfn} for
   * eviction, wherever they are mapped, and replaces their mappings by migration entries; {@code
   * srcPfns} receives their entries (free pages are not selected).
   */
  public void migrateDeviceRange(long[] srcPfns, long startPfn, int npages) {
    mem.health().checkAlive();
    if (srcPfns == null || npages <= 0 || srcPfns.length < npages) {
      throw new KernelException(Errno.EINVAL, "migrate_device_range: bad arguments");
    }
    for (int i = 0; i < npages; i++) {
      memmap.checkPfn(startPfn + i);
    }
    for (int i = 0; i < npages; i++) {
      long pfn = startPfn + i;
      srcPfns[i] = 0;
      // migrate_device_pfn_lock(): a free page (refcount 0) is not taken
      if (memmap.folioOrder(memmap.compoundHead(pfn)) > 0
          || memmap.testFlag(pfn, PG_TAIL)
          || !memmap.refTryAdd(pfn, 1)) {
        continue;
      }
      if (!folios.folioTrylock(pfn)) {
        alloc.putPage(pfn);
        continue;
      }
      srcPfns[i] = migratePfn(pfn) | MIGRATE_PFN_MIGRATE;
    }
    unmap(srcPfns, npages, -1);
  }

  /**
   * {@code migrate_device_pages()}: as {@link #migrateVmaPages} for {@link #migrateDeviceRange}.
   */
  public void migrateDevicePages(long[] srcPfns, long[] dstPfns, int npages) {
    checkArrays(srcPfns, dstPfns, npages);
    pages(srcPfns, dstPfns, npages, null);
  }

  /** {@code migrate_device_finalize()}: as {@link #migrateVmaFinalize} for a device range. */
  public void migrateDeviceFinalize(long[] srcPfns, long[] dstPfns, int npages) {
    checkArrays(srcPfns, dstPfns, npages);
    finalizeRange(srcPfns, dstPfns, npages, -1);
  }

  private static void checkArrays(long[] src, long[] dst, int n) {
    if (src == null || dst == null || n < 0 || src.length < n || dst.length < n) {
      throw new KernelException(Errno.EINVAL, "migrate_device: bad arrays");
    }
  }

  /**
   * {@code migrate_device_coherent_folio()}: moves a device-coherent page (the caller holds a
   * reference, which moves with it or is dropped) to system memory, as a long-term pin needs.
   * Returns 0 or {@code -EBUSY}.
   */
  int migrateDeviceCoherentFolio(long pfn) {
    folios.folioLock(pfn);
    long[] src = {migratePfn(pfn) | MIGRATE_PFN_MIGRATE};
    long[] dst = {0};
    unmap(src, 1, -1);
    if ((src[0] & MIGRATE_PFN_MIGRATE) == 0) {
      return -Errno.EBUSY.number();
    }
    long d = alloc.allocPages(dev.refkern.mm.Gfp.KERNEL | dev.refkern.mm.Gfp.NOWARN, 0);
    if (d != PageAllocator.NO_PFN) {
      folios.folioLock(d);
      dst[0] = migratePfn(d);
    }
    pages(src, dst, 1, null);
    if ((src[0] & MIGRATE_PFN_MIGRATE) != 0) {
      mem.ram().copyPage(d, pfn);
    }
    finalizeRange(src, dst, 1, -1);
    return (src[0] & MIGRATE_PFN_MIGRATE) != 0 ? 0 : -Errno.EBUSY.number();
  }

  /**
   * {@code make_device_exclusive()}: faults the page at {@code addr} in for writing and replaces
   * its pte by a device-exclusive entry inside an {@code MMU_NOTIFY_EXCLUSIVE} range carrying
   * {@code owner}. The caller holds {@code mmap_lock} for reading. The page stays mapped: the entry
   * keeps its mapcount and the mapping's reference.
   *
   * @return the pfn, locked and with a reference the caller drops with {@code folio_unlock} and
   *     {@code folio_put}
   * @throws dev.refkern.mm.KernelException {@code EFAULT} where no VMA is or a write fault fails,
   *     {@code EOPNOTSUPP} for a non-anonymous page, {@code EBUSY} if the entry could not be made
   */
  public long makeDeviceExclusive(MmStruct mm, long addr, Object owner) {
    mem.health().checkAlive();
    addr &= PAGE_MASK;
    for (int attempt = 0; attempt < 16; attempt++) {
      Vma vma = mm.vmaContaining(addr);
      if (vma == null || (vma.flags & VmFlags.VM_WRITE) == 0) {
        throw new KernelException(Errno.EFAULT, "make_device_exclusive: no writable vma");
      }
      long pfn = grabWritable(mm, addr);
      if (pfn < 0) {
        int r = memory.handleMmFault(mm, vma, addr, VirtualMemory.FAULT_FLAG_WRITE);
        if ((r & (VmFault.VM_FAULT_OOM | VmFault.VM_FAULT_SIGBUS | VmFault.VM_FAULT_SIGSEGV))
            != 0) {
          throw new KernelException(Errno.EFAULT, "make_device_exclusive: fault failed");
        }
        continue;
      }
      if (!memmap.testFlag(pfn, PG_ANON) || memmap.folioOrder(memmap.compoundHead(pfn)) > 0) {
        alloc.putPage(pfn);
        throw new KernelException(Errno.EOPNOTSUPP, "make_device_exclusive: not an anon page");
      }
      folios.folioLock(pfn);
      MmuNotifierRange range =
          MmuNotifierRange.initOwner(
              MmuNotifierEvent.EXCLUSIVE,
              MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
              mm,
              addr,
              addr + PAGE_SIZE,
              owner);
      mm.notifiers.invalidateRangeStart(range);
      boolean made = false;
      mm.ptl.lock();
      try {
        long e = mm.pgtable.pte(addr);
        if (present(e) && !huge(e) && Pte.write(e) && Pte.pfn(e) == pfn) {
          if (dirty(e)) {
            memmap.setFlag(pfn, PG_DIRTY);
          }
          setPteLocked(mm, addr, deviceExclusiveEntry(pfn));
          made = true;
        }
      } finally {
        mm.ptl.unlock();
      }
      mm.notifiers.invalidateRangeEnd(range);
      if (made) {
        return pfn;
      }
      folios.folioUnlock(pfn);
      alloc.putPage(pfn);
    }
    throw new KernelException(Errno.EBUSY, "make_device_exclusive: pte kept changing");
  }

  /** The pfn a writable pte maps at {@code addr}, with a reference ({@code FOLL_GET}); else -1. */
  private long grabWritable(MmStruct mm, long addr) {
    mm.ptl.lock();
    try {
      long e = mm.pgtable.pte(addr);
      if (!present(e) || protnone(e) || special(e) || huge(e) || !Pte.write(e)) {
        return -1;
      }
      long pfn = Pte.pfn(e);
      return memmap.refTryAdd(pfn, 1) ? pfn : -1;
    } finally {
      mm.ptl.unlock();
    }
  }

  private static void setPteLocked(MmStruct mm, long addr, long e) {
    PageTable.Pmd pmd = mm.pgtable.pmd(addr);
    PageTable.set(PageTable.pteTable(pmd, addr), PageTable.pteIndex(addr), e);
  }
}
