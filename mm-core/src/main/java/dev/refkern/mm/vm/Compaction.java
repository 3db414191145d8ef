package dev.refkern.mm.vm;

import static dev.refkern.mm.PageFlags.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.ZoneInfo;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.internal.MmInternals;
import dev.refkern.mm.internal.page.BuddyAllocator;
import dev.refkern.mm.internal.pageops.MemmapOps;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * Memory compaction ({@code mm/compaction.c}): moves in-use movable folios from the bottom of a
 * zone into free pages at its top, so that free memory coalesces into high-order blocks.
 *
 * <p>Two scanners walk the zone pageblock ({@value #PAGEBLOCK_NR_PAGES} pages) by pageblock: the
 * migrate scanner upward from the zone start, isolating small anon and page-cache folios, mapped or
 * not ({@code isolate_migratepages_block()}); the free scanner downward from the zone end, taking
 * free blocks out of the buddy allocator split into order-0 pages ({@code
 * isolate_freepages_block()}). Each batch of up to {@value #COMPACT_CLUSTER_MAX} isolated folios is
 * migrated by {@link VirtualMemory#migrateFolio(long, java.util.function.LongSupplier)} into pages
 * the free scanner supplies ({@code compaction_alloc()}); the run ends when the scanners meet, and
 * free pages isolated but not used go back ({@code release_free_list()}).
 *
 * <p>Deviations from the kernel, which refkern does not model: no async/sync migrate modes and no
 * retries of a failed migration (the kernel's sync mode retries {@code -EAGAIN} up to ten times);
 * no deferred compaction ({@code compaction_deferred()}); no pageblock skip bits and no cached
 * scanner positions, so every run scans the whole zone; no {@code fast_find_migrateblock()} or
 * {@code fast_isolate_freepages()}; no migratetypes, so every pageblock is a {@code
 * MIGRATE_MOVABLE} target; no {@code too_many_isolated()} throttling; large folios are skipped (the
 * migrator does not move them); the scanner only picks candidates (on the LRU, with an anon_vma or
 * a registered page-cache {@code address_space} as mapping) and holds nothing: the migrator takes
 * each off the LRU itself ({@code folio_isolate_lru()}) and refuses a folio being freed, so a
 * picked folio may still fail there. Runs are whole-zone, as {@code /proc/sys/vm/compact_memory}
 * ({@code order == -1}): no target order, so no {@code compaction_suitable()} check and no early
 * {@code COMPACT_SUCCESS}; the only watermark is {@code __isolate_free_page()}'s, which keeps the
 * free scanner from taking the zone below {@code WMARK_MIN}. A folio seen pinned ({@code
 * folio_maybe_dma_pinned()}) is not isolated, as the kernel's early check skips it, but is reported
 * as a failure due to a pin.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Compaction {
  /** {@code pageblock_order}: {@code HPAGE_PMD_ORDER} on x86-64. */
  public static final int PAGEBLOCK_ORDER = 9;

  /** {@code pageblock_nr_pages}. */
  public static final long PAGEBLOCK_NR_PAGES = 1L << PAGEBLOCK_ORDER;

  /** {@code COMPACT_CLUSTER_MAX} ({@code SWAP_CLUSTER_MAX}): folios isolated per batch. */
  public static final int COMPACT_CLUSTER_MAX = 32;

  private static final long UNMOVABLE =
      bit(PG_RESERVED) | bit(PG_ZERO_PAGE) | bit(PG_SLAB) | bit(PG_DEVICE) | bit(PG_BUDDY);

  private final VirtualMemory vm;
  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final BuddyAllocator buddy;
  private final Gup gup;

  /** Compaction over {@code vm}'s machine. */
  public Compaction(VirtualMemory vm) {
    this.vm = vm;
    this.mem = vm.physicalMemory();
    this.memmap = vm.memmap();
    // the free scanner's __isolate_free_page() is internal to the buddy allocator, not its API
    this.buddy = MmInternals.buddy(mem);
    this.gup = vm.gup();
  }

  /** {@code struct compact_control}, for one run. */
  private static final class Control {
    final ZoneType zone;
    final long startPfn;
    final long endPfn;
    long migratePfn;
    long freePfn;
    final long[] migrate = new long[COMPACT_CLUSTER_MAX];
    int nrMigrate;
    int migrateNext;
    final ArrayDeque<Long> freepages = new ArrayDeque<>();
    long migrateScanned;
    long freeScanned;
    long isolated;
    long freeIsolated;
    long migrated;
    long failed;
    final List<Long> pinned = new ArrayList<>();

    Control(ZoneInfo z) {
      this.zone = z.type();
      this.startPfn = z.startPfn();
      this.endPfn = z.endPfn();
    }
  }

  /**
   * {@code compact_node()}: every thread's {@code lru_add} batch drained ({@code
   * lru_add_drain_all()}), then {@link #compactZone} for every zone the buddy allocator manages, in
   * {@code NORMAL}, {@code MOVABLE} order.
   */
  public List<CompactResult> compactNode() {
    vm.lru().lruAddDrainAll(); // compact_nodes(): flush pending updates to the LRU lists
    List<CompactResult> out = new ArrayList<>();
    for (ZoneInfo z : mem.allocator().zones()) {
      if (z.type() != ZoneType.DEVICE && z.managedPages() > 0) {
        out.add(compactZone(z.type()));
      }
    }
    return out;
  }

  /**
   * {@code compact_zone()} with {@code order == -1}: drains this thread's {@code lru_add} batch
   * ({@code lru_add_drain()}), then compacts the whole zone until the migrate and free scanners
   * meet. Counts {@code compact_migrate_scanned}, {@code compact_free_scanned} and {@code
   * compact_isolated} (folios isolated for migration plus free pages isolated), and {@code
   * pgmigrate_success}/{@code pgmigrate_fail} through the migrator.
   *
   * @throws KernelException {@code EINVAL} for {@code ZONE_DEVICE} or a zone this machine lacks
   */
  public CompactResult compactZone(ZoneType type) {
    mem.health().checkAlive();
    vm.lru().lruAddDrain(); // this thread's lru_add batch onto the lists: PG_lru, no extra ref
    ZoneInfo z = zoneInfo(type);
    long[] before = z.freeByOrder().clone();
    Control cc = new Control(z);
    cc.migratePfn = cc.startPfn;
    cc.freePfn = pageblockStart(cc.endPfn - 1);
    try {
      while (!scannersMet(cc)) {
        if (!isolateMigratepages(cc)) {
          continue; // ISOLATE_NONE: the migrate scanner moved on a pageblock
        }
        boolean noFreePages = migrateBatch(cc);
        cc.nrMigrate = 0;
        if (noFreePages) {
          break; // -ENOMEM: the free scanner found nothing (more) above the migrate scanner
        }
      }
    } finally {
      releaseFreepages(cc);
      mem.vmstat().add(VmItem.COMPACT_MIGRATE_SCANNED, cc.migrateScanned);
      mem.vmstat().add(VmItem.COMPACT_FREE_SCANNED, cc.freeScanned);
      mem.vmstat().add(VmItem.COMPACT_ISOLATED, cc.isolated + cc.freeIsolated);
    }
    long[] pinned = new long[cc.pinned.size()];
    for (int i = 0; i < pinned.length; i++) {
      pinned[i] = cc.pinned.get(i);
    }
    return new CompactResult(
        type,
        cc.migrateScanned,
        cc.freeScanned,
        cc.isolated,
        cc.freeIsolated,
        cc.migrated,
        cc.failed,
        pinned,
        before,
        zoneInfo(type).freeByOrder());
  }

  private ZoneInfo zoneInfo(ZoneType type) {
    if (type != ZoneType.DEVICE) {
      for (ZoneInfo z : mem.allocator().zones()) {
        if (z.type() == type) {
          return z;
        }
      }
    }
    throw new KernelException(Errno.EINVAL, "compaction of zone " + type + ": no such buddy zone");
  }

  static long pageblockStart(long pfn) {
    return pfn & ~(PAGEBLOCK_NR_PAGES - 1);
  }

  static long pageblockEnd(long pfn) {
    return (pfn | (PAGEBLOCK_NR_PAGES - 1)) + 1;
  }

  /** {@code compact_scanners_met()}: the scanners are in the same pageblock, or have crossed. */
  private static boolean scannersMet(Control cc) {
    return (cc.freePfn >> PAGEBLOCK_ORDER) <= (cc.migratePfn >> PAGEBLOCK_ORDER);
  }

  /**
   * {@code migrate_pages()} of the isolated batch with {@code compaction_alloc()} as the
   * destination. Returns true if the free scanner ran dry ({@code -ENOMEM}); the folios of the
   * batch not yet tried are simply left where they are ({@code putback_movable_pages()}).
   */
  private boolean migrateBatch(Control cc) {
    for (cc.migrateNext = 0; cc.migrateNext < cc.nrMigrate; cc.migrateNext++) {
      long pfn = cc.migrate[cc.migrateNext];
      int rc = vm.migrateFolio(pfn, () -> compactionAlloc(cc));
      if (rc == 0) {
        cc.migrated++;
        continue;
      }
      cc.failed++;
      if (rc == -Errno.EAGAIN.number()) {
        cc.pinned.add(pfn);
      } else if (rc == -Errno.ENOMEM.number()) {
        return true;
      }
    }
    return false;
  }

  // ---------------------------------------------------------------- the migrate scanner

  /**
   * {@code isolate_migratepages()}: isolates from the pageblock holding {@code migrate_pfn}, if it
   * lies wholly below the free scanner. Returns whether anything was isolated.
   */
  private boolean isolateMigratepages(Control cc) {
    long low = Math.max(cc.migratePfn, cc.startPfn);
    long blockEnd = pageblockEnd(low);
    if (blockEnd > cc.freePfn) {
      cc.migratePfn = blockEnd; // nothing left below the free scanner: the scanners meet
      return false;
    }
    mem.scheduler().condResched();
    isolateMigratepagesBlock(cc, low, Math.min(blockEnd, cc.endPfn));
    return cc.nrMigrate > 0;
  }

  /**
   * {@code isolate_migratepages_block()}: scans {@code [low, end)} for movable folios, stopping
   * after {@value #COMPACT_CLUSTER_MAX}; {@code migrate_pfn} records where to go on. Free blocks
   * and large folios are stepped over whole; reserved, zero, slab and other kernel pages (no
   * mapping) are skipped; a pinned folio is reported and not isolated; a folio not on the LRU (in
   * an {@code lru_add} batch, or isolated by reclaim) is skipped.
   */
  private void isolateMigratepagesBlock(Control cc, long low, long end) {
    long pfn = low;
    for (; pfn < end; pfn++) {
      cc.migrateScanned++;
      int order = buddy.freeBlockOrder(pfn);
      if (order >= 0) {
        long skip = Math.min((1L << Math.min(order, PageAllocator.MAX_ORDER)) - 1, end - 1 - pfn);
        pfn += skip;
        cc.migrateScanned += skip;
        continue;
      }
      long flags = memmap.flags(pfn);
      if ((flags & (bit(PG_HEAD) | bit(PG_TAIL))) != 0) {
        // racy, as the kernel's compound_order() read: only the range is trusted
        long head = memmap.compoundHead(pfn);
        int folioOrder = Math.min(Math.max(memmap.folioOrder(head), 0), PageAllocator.MAX_ORDER);
        long skip = Math.max(0, Math.min(head + (1L << folioOrder) - 1 - pfn, end - 1 - pfn));
        pfn += skip;
        cc.migrateScanned += skip;
        continue;
      }
      if ((flags & UNMOVABLE) != 0 || memmap.refcount(pfn) <= 0) {
        continue;
      }
      long mapping = memmap.mapping(pfn);
      if (mapping == 0 || ((flags & bit(PG_ANON)) == 0 && mem.mapping(mapping) == null)) {
        continue; // not anon, not page cache: a kernel allocation
      }
      if (gup.maybeDmaPinnedUnchecked(pfn)) {
        cc.failed++;
        cc.pinned.add(pfn);
        continue;
      }
      if ((flags & bit(PG_LRU)) == 0) {
        continue; // "Only take pages on LRU"
      }

      cc.migrate[cc.nrMigrate++] = pfn;
      cc.isolated++;
      if (cc.nrMigrate == COMPACT_CLUSTER_MAX) {
        pfn++;
        break;
      }
    }
    cc.migratePfn = Math.min(pfn, end);
  }

  // ---------------------------------------------------------------- the free scanner

  /** {@code compaction_alloc()}: a free page from the free scanner, or {@code NO_PFN}. */
  private long compactionAlloc(Control cc) {
    if (cc.freepages.isEmpty()) {
      isolateFreepages(cc);
      if (cc.freepages.isEmpty()) {
        return PageAllocator.NO_PFN;
      }
    }
    return cc.freepages.poll();
  }

  /**
   * {@code isolate_freepages()}: walks pageblocks downward from {@code free_pfn}, never into the
   * migrate scanner's pageblock, until enough pages are isolated for the rest of the batch.
   */
  private void isolateFreepages(Control cc) {
    long isolateStart = cc.freePfn;
    long blockStart = pageblockStart(isolateStart);
    long blockEnd = Math.min(blockStart + PAGEBLOCK_NR_PAGES, cc.endPfn);
    long lowPfn = pageblockEnd(cc.migratePfn);
    long wanted = cc.nrMigrate - cc.migrateNext;
    for (;
        blockStart >= lowPfn;
        blockEnd = blockStart, blockStart -= PAGEBLOCK_NR_PAGES, isolateStart = blockStart) {
      mem.scheduler().condResched();
      if (!suitableMigrationTarget(blockStart)) {
        continue;
      }
      isolateStart = isolateFreepagesBlock(cc, isolateStart, blockEnd, wanted);
      if (cc.freepages.size() >= wanted) {
        if (isolateStart >= blockEnd) {
          isolateStart = blockStart - PAGEBLOCK_NR_PAGES; // restart at the next block down
        }
        break;
      } else if (isolateStart < blockEnd) {
        break; // the watermark stopped isolation: do not go on needlessly
      }
    }
    cc.freePfn = isolateStart;
  }

  /**
   * {@code suitable_migration_target()}: a pageblock that is already one free block of {@code
   * pageblock_order} or more is left whole.
   */
  private boolean suitableMigrationTarget(long blockStart) {
    return buddy.freeBlockOrder(blockStart) < PAGEBLOCK_ORDER;
  }

  /**
   * {@code isolate_freepages_block()} (not strict): isolates free blocks in {@code [start, end)},
   * split to order-0 pages, until {@code wanted} pages are held. Returns the pfn reached.
   */
  private long isolateFreepagesBlock(Control cc, long start, long end, long wanted) {
    long pfn = start;
    for (; pfn < end; pfn++) {
      cc.freeScanned++;
      if (memmap.testFlag(pfn, PG_HEAD)) {
        int order = Math.min(Math.max(memmap.folioOrder(pfn), 0), PageAllocator.MAX_ORDER);
        long skip = (1L << order) - 1;
        pfn += skip;
        cc.freeScanned += skip;
        continue;
      }
      int n = buddy.isolateFreeBlock(cc.zone, pfn);
      if (n < 0) {
        continue; // not a free block head
      }
      if (n == 0) {
        break; // __isolate_free_page() refused: the zone is at its min watermark
      }
      for (long i = 0; i < n; i++) {
        cc.freepages.add(pfn + i);
      }
      cc.freeIsolated += n;
      cc.freeScanned += n - 1;
      if (cc.freepages.size() >= wanted) {
        pfn += n;
        break;
      }
      pfn += n - 1;
    }
    return Math.min(pfn, end);
  }

  /** {@code release_free_list()}: isolated free pages the migrations did not use go back. */
  private void releaseFreepages(Control cc) {
    Long pfn;
    while ((pfn = cc.freepages.poll()) != null) {
      buddy.putPage(pfn);
    }
  }
}
