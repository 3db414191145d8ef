package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.vm.Pte.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelHealth;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.internal.MmInternals;
import dev.refkern.mm.internal.pagecache.AddressSpaceState;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.internal.trace.MmTraceEvents;
import dev.refkern.mm.spi.AddressSpaceOperations;
import dev.refkern.notifier.MmuNotifierEvent;
import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * {@code migrate_pages()} for one small folio ({@code mm/migrate.c}): isolate, lock, replace every
 * mapping by a migration entry ({@code try_to_migrate()}, {@code CLEAR} notifiers), freeze the
 * refcount at what the mappings and the page cache explain ({@code folio_ref_freeze()}), copy, and
 * point the migration entries at the new folio ({@code remove_migration_ptes()}). A folio with an
 * extra reference, a pin above all, fails with {@code -EAGAIN} and is mapped back unchanged. A
 * page-cache folio moves through its mapping's {@code ->migrate_folio}, by default {@link
 * #filemapMigrateFolio}.
 *
 * <p>Deviation: large folios are not migrated ({@code -EAGAIN}); the kernel would migrate the THP
 * whole or split it.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Migrate {
  /** {@code SWP_MIGRATION_READ} / {@code SWP_MIGRATION_WRITE} swap types. */
  static final int SWP_MIGRATION_READ = 30;

  static final int SWP_MIGRATION_WRITE = 31;

  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final PageAllocator alloc;
  private final FolioOps folios;
  private final LruVec lru;
  private final Rmap rmap;

  Migrate(PhysicalMemory mem, MemmapOps memmap, FolioOps folios, LruVec lru, Rmap rmap) {
    this.mem = mem;
    this.memmap = memmap;
    this.alloc = mem.allocator();
    this.folios = folios;
    this.lru = lru;
    this.rmap = rmap;
  }

  static boolean isMigrationEntry(long pte) {
    return isSwap(pte) && swapType(pte) >= SWP_MIGRATION_READ;
  }

  private record Mapping(MmStruct mm, long addr, long bits) {}

  /**
   * Migrates the folio containing {@code pfn}; {@code toMovable} false places the copy outside
   * {@code ZONE_MOVABLE} (what a long-term pin needs). Returns 0 or a negative errno, and counts
   * {@code pgmigrate_success} / {@code pgmigrate_fail}; {@code reason} is the {@code
   * migrate_reason} the {@code mm_migrate_pages} event reports.
   */
  int migrate(long pfn, boolean toMovable, String reason) {
    int gfp = toMovable ? Gfp.HIGHUSER_MOVABLE | Gfp.NOWARN : Gfp.KERNEL | Gfp.NOWARN;
    return migrate(pfn, () -> alloc.allocPages(gfp, 0), reason);
  }

  /**
   * Migrates into the page {@code newFolio} supplies ({@code new_folio_t}: compaction hands out the
   * free pages its free scanner isolated); the supplied page has refcount 1 and is returned to the
   * allocator if the migration fails.
   */
  int migrate(long pfn, java.util.function.LongSupplier newFolio, String reason) {
    MmTraceEvents.MigratePages ev = new MmTraceEvents.MigratePages();
    ev.begin();
    int rc = migrateOne(pfn, newFolio);
    mem.vmstat().inc(rc == 0 ? VmItem.PGMIGRATE_SUCCESS : VmItem.PGMIGRATE_FAIL);
    if (ev.shouldCommit()) {
      ev.succeeded = rc == 0 ? 1 : 0;
      ev.failed = rc == 0 ? 0 : 1;
      ev.reason = reason; // the kernel's migrate_reason names (MR_LONGTERM_PIN: "longterm_pin")
      ev.result = rc;
      ev.commit();
    }
    return rc;
  }

  private int migrateOne(long pfn, java.util.function.LongSupplier newFolio) {
    long src = memmap.compoundHead(pfn);
    if (memmap.folioOrder(src) > 0 || memmap.testFlag(src, PG_ZERO_PAGE)) {
      return -Errno.EAGAIN.number();
    }
    // isolate: off the LRU (folio_isolate_lru) or at least our own reference
    lru.lruAddDrain();
    boolean onLru = lru.isolate(src);
    if (!onLru && !memmap.refTryAdd(src, 1)) {
      return -Errno.EAGAIN.number();
    }
    boolean anon = memmap.testFlag(src, PG_ANON);
    AddressSpace file = anon ? null : mem.mapping(memmap.mapping(src));
    if ((!anon && file == null) || !folios.folioTrylock(src)) {
      release(src, onLru);
      return -Errno.EAGAIN.number();
    }
    long dst = newFolio.getAsLong();
    if (dst == PageAllocator.NO_PFN) {
      folios.folioUnlock(src);
      release(src, onLru);
      return -Errno.ENOMEM.number();
    }
    folios.folioTrylock(dst);
    List<Mapping> unmapped = tryToMigrate(src);
    int rc;
    if (file != null) {
      rc = file.aops().migrateFolio(file, dst, src);
      if (rc == AddressSpaceOperations.GENERIC) {
        boolean priv = memmap.testFlag(src, PG_PRIVATE);
        rc = filemapMigrateFolio(folios, file, dst, src);
        if (rc == 0 && priv) {
          file.aops().migratePrivate(file, dst, src); // buffer_migrate_folio(): heads name dst
        }
      }
    } else {
      rc = migrateAnon(dst, src);
    }
    long target = rc == 0 ? dst : src;
    removeMigrationPtes(unmapped, src, target);
    folios.folioUnlock(dst);
    folios.folioUnlock(src);
    if (rc == 0) {
      alloc.putPage(src); // our reference was the last: src is freed
      lru.folioAddLru(dst);
      alloc.putPage(dst); // the new folio lives on through its mappings and cache
    } else {
      alloc.putPage(dst);
      release(src, onLru);
    }
    return rc;
  }

  /** Drops the isolation: back on the LRU if it came from there ({@code folio_putback_lru}). */
  private void release(long src, boolean onLru) {
    if (onLru) {
      lru.putback(src);
    } else {
      alloc.putPage(src);
    }
  }

  /** {@code try_to_migrate()}: every pte of {@code src} becomes a migration entry. */
  private List<Mapping> tryToMigrate(long src) {
    List<Mapping> unmapped = new ArrayList<>();
    // try_to_migrate_one(): MMU_NOTIFY_CLEAR; MMU_NOTIFY_MIGRATE is only for migrate_vma_*()
    PageWalk.PteUpdate toEntry =
        (mm, addr, e) -> {
          if (!present(e) || Pte.pfn(e) != src) {
            return e;
          }
          if (dirty(e)) {
            memmap.setFlag(src, PG_DIRTY);
          }
          memmap.mapcountAdd(src, -1);
          memmap.refAdd(src, -1); // the mapping's reference; ours keeps src alive
          unmapped.add(new Mapping(mm, addr, e & 0xfffL));
          return swapEntry(Pte.write(e) ? SWP_MIGRATION_WRITE : SWP_MIGRATION_READ, src);
        };
    rmap.rmapWalk(
        src,
        new RmapWalkControl() {
          @Override
          public boolean rmapOne(Vma vma, long addr) {
            PageWalk.updatePte(vma.mm, addr, MmuNotifierEvent.CLEAR, toEntry);
            return true;
          }

          @Override
          public boolean done(long pfn) {
            return rmap.folioMapcount(pfn) == 0; // folio_not_mapped()
          }
        });
    return unmapped;
  }

  /** Moves an unmapped anon folio: freeze at our single reference, copy, hand over the state. */
  private int migrateAnon(long dst, long src) {
    if (!memmap.refCompareAndSet(src, 1, 0)) {
      return -Errno.EAGAIN.number(); // a pin or another reference: the folio stays
    }
    mem.ram().copyPage(dst, src);
    for (int bit :
        new int[] {
          PG_ANON, PG_ANON_EXCLUSIVE, PG_SWAPBACKED, PG_DIRTY, PG_UPTODATE, PG_REFERENCED
        }) {
      if (memmap.testAndClearFlag(src, bit)) {
        memmap.setFlag(dst, bit);
      }
    }
    memmap.setMapping(dst, memmap.mapping(src));
    memmap.setIndex(dst, memmap.index(src));
    memmap.setMapping(src, 0);
    memmap.setRefcount(src, 1); // our reference, dropped by the caller
    return 0;
  }

  /** {@code remove_migration_ptes()}: entries still in place now map {@code target}. */
  private void removeMigrationPtes(List<Mapping> unmapped, long src, long target) {
    for (Mapping m : unmapped) {
      m.mm.ptl.lock();
      try {
        PageTable.Pmd pmd = m.mm.pgtable.pmd(m.addr);
        long[] t = pmd == null ? null : PageTable.pteTable(pmd, m.addr);
        if (t == null) {
          continue;
        }
        int i = PageTable.pteIndex(m.addr);
        long e = PageTable.get(t, i);
        if (!isMigrationEntry(e) || swapOffset(e) != src) {
          continue; // zapped meanwhile: that mapping's reference is already gone
        }
        memmap.mapcountAdd(target, 1);
        memmap.refAdd(target, 1);
        PageTable.set(t, i, make(target, m.bits));
      } finally {
        m.mm.ptl.unlock();
      }
    }
  }

  /** {@code migration_entry_wait()}: spins until the entry at {@code addr} is replaced. */
  void waitForMigration(MmStruct mm, long addr, long entry) {
    while (mm.pgtable.pte(addr) == entry) {
      mem.scheduler().condResched();
      Thread.onSpinWait();
    }
  }

  /**
   * {@code filemap_migrate_folio()}: {@code folio_migrate_mapping()} then {@code
   * folio_migrate_flags()}. Both folios must be locked ({@code BUG} otherwise); {@code src} must be
   * unmapped (the caller installed migration entries) and {@code dst} new. Under {@code xa_lock}
   * the refcount of {@code src} is frozen at {@link FolioOps#expectedRefcount} (-{@code EAGAIN} if
   * it is anything else: a GUP pin, a transient lookup); then contents, flags, private data and the
   * cache slots move to {@code dst}, which gains the cache's references that {@code src} loses.
   *
   * @return 0; {@code -EAGAIN} for unexpected references, a mapped or truncated {@code src}; {@code
   *     -EBUSY} under writeback; {@code -EINVAL} for folios of different sizes
   */
  public static int filemapMigrateFolio(FolioOps folios, AddressSpace mapping, long dst, long src) {
    PhysicalMemory mem = folios.physicalMemory();
    MemmapOps memmap = MmInternals.rawMemmap(mem);
    KernelHealth health = mem.health();
    AddressSpaceState st = MmInternals.state(mapping);
    long id = st.id;
    memmap.checkPfn(dst);
    memmap.checkPfn(src);
    health.checkAlive();
    if (!memmap.testFlag(src, PG_LOCKED) || !memmap.testFlag(dst, PG_LOCKED)) {
      throw health.bug(
          "VM_BUG_ON_FOLIO(!folio_test_locked()): move_to_new_folio() src " + src + " dst " + dst);
    }
    if (memmap.testFlag(src, PG_TAIL)
        || memmap.testFlag(dst, PG_TAIL)
        || memmap.folioOrder(src) != memmap.folioOrder(dst)) {
      return -Errno.EINVAL.number();
    }
    if (memmap.mapping(dst) != 0 || memmap.testFlag(dst, PG_ANON) || memmap.refcount(dst) <= 0) {
      throw health.bug("migrate_folio: destination pfn " + dst + " is not a new folio");
    }
    if (memmap.mapping(src) != id || memmap.testFlag(src, PG_ANON)) {
      return -Errno.EAGAIN.number();
    }
    if (memmap.testFlag(src, PG_WRITEBACK)) {
      return -Errno.EBUSY.number();
    }
    if (folios.folioMapped(src)) {
      return -Errno.EAGAIN.number();
    }
    int nr = 1 << memmap.folioOrder(src);
    int expected = folios.expectedRefcount(src);
    boolean priv = memmap.testFlag(src, PG_PRIVATE);
    long index = memmap.index(src);
    synchronized (st.xaLock) {
      if (!memmap.refCompareAndSet(src, expected, 0)) {
        return -Errno.EAGAIN.number(); // folio_ref_freeze() failed: someone else holds it
      }
      // Frozen: no one can look src up or take a reference; no turning back.
      for (int i = 0; i < nr; i++) {
        mem.ram().copyPage(dst + i, src + i);
      }
      migrateFlags(memmap, dst, src);
      memmap.setIndex(dst, index);
      memmap.setMapping(dst, id);
      memmap.refAdd(dst, nr + (priv ? 1 : 0));
      if (priv) {
        memmap.setPrivateData(dst, memmap.privateData(src));
        memmap.setFlag(dst, PG_PRIVATE);
        memmap.setPrivateData(src, 0);
        memmap.clearFlag(src, PG_PRIVATE);
      }
      if (memmap.testAndClearFlag(src, PG_DIRTY)) {
        memmap.setFlag(dst, PG_DIRTY);
      }
      for (int i = 0; i < nr; i++) {
        st.tree.replace(index + i, dst);
      }
      memmap.setMapping(src, 0); // page-cache folios lose their mapping before they are freed
      memmap.setRefcount(src, expected - nr - (priv ? 1 : 0));
    }
    return 0;
  }

  /** {@code folio_migrate_flags()}: the state bits that describe contents, not the frame. */
  private static void migrateFlags(MemmapOps memmap, long dst, long src) {
    for (int bit : MIGRATED_FLAGS) {
      if (memmap.testAndClearFlag(src, bit)) {
        memmap.setFlag(dst, bit);
      }
    }
  }

  private static final int[] MIGRATED_FLAGS = {
    PG_UPTODATE, PG_REFERENCED, PG_ACTIVE, PG_WORKINGSET, PG_UNEVICTABLE, PG_OWNER_PRIV_1
  };
}
