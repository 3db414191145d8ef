package dev.refkern.mm.vm;

import static dev.refkern.mm.PageAllocator.NO_PFN;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.MemmapTesting;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.ZoneInfo;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.internal.page.BuddyAllocator;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code compact_zone()}: a zone fragmented into order-0 holes is compacted so that high-order
 * allocations succeed again; contents and mappings follow the pages; pinned pages stay.
 */
class CompactionTest extends VmTestBase {
  private static final long PAGE = 4096;

  /** Kernel allocations ({@code PG_slab}) that soak up every free block above order 0. */
  private final List<long[]> kernelBlocks = new ArrayList<>();

  private PageAllocator alloc() {
    return mem.allocator();
  }

  private ZoneInfo zone(ZoneType type) {
    return alloc().zones().stream().filter(z -> z.type() == type).findFirst().orElseThrow();
  }

  private static int largestOrder(ZoneInfo z) {
    return CompactResult.largestOrder(z.freeByOrder());
  }

  private static long pattern(long i) {
    return 0x5eed_0000_0000L + i * 0x9e37_79b9L;
  }

  private long pfnAt(Task t, long addr) {
    long pte = t.mm().pte(addr);
    assertTrue(Pte.present(pte), "page at " + Long.toHexString(addr) + " is mapped");
    return Pte.pfn(pte);
  }

  /**
   * Maps {@code n} anon pages and writes each, then unmaps every other one, leaving order-0 holes.
   */
  private long fillAndPunch(Task t, long n) {
    long base = t.mmapAnon(n * PAGE);
    for (long i = 0; i < n; i++) {
      t.storeLong(base + i * PAGE + 8, pattern(i));
    }
    for (long i = 1; i < n; i += 2) {
      t.munmap(base + i * PAGE, PAGE);
    }
    return base;
  }

  /** Anon pages that fill {@code ZONE_NORMAL} but for its high watermark, less {@code spare}. */
  private long fillable(long spare) {
    ZoneInfo z = zone(ZoneType.NORMAL);
    return z.freePages() - z.wmarkHigh() - 64 - spare;
  }

  /**
   * Takes every free block above order 0 in {@code ZONE_NORMAL} as a {@code PG_slab} kernel
   * allocation, so that only order-0 holes remain free.
   */
  private void drainHighOrder() {
    int o;
    while ((o = largestOrder(zone(ZoneType.NORMAL))) > 0) {
      long pfn = alloc().allocPages(Gfp.NOWARN, o);
      assertNotEquals(NO_PFN, pfn, "drain an order-" + o + " block");
      for (long i = 0; i < (1L << o); i++) {
        MemmapTesting.ops(mem).setFlag(pfn + i, PageFlags.PG_SLAB);
      }
      kernelBlocks.add(new long[] {pfn, o});
    }
  }

  private void freeKernelBlocks() {
    for (long[] b : kernelBlocks) {
      for (long i = 0; i < (1L << b[1]); i++) {
        MemmapTesting.ops(mem).clearFlag(b[0] + i, PageFlags.PG_SLAB);
      }
      alloc().freePages(b[0], (int) b[1]);
    }
    kernelBlocks.clear();
  }

  /** The pfn of each remaining (even) page of a {@link #fillAndPunch} range. */
  private long[] remainingPfns(Task t, long base, long n) {
    long[] pfns = new long[(int) ((n + 1) / 2)];
    for (long i = 0; i < n; i += 2) {
      pfns[(int) (i / 2)] = pfnAt(t, base + i * PAGE);
    }
    return pfns;
  }

  @Test
  void compactionTurnsOrderZeroHolesBackIntoHighOrderBlocks() {
    boot("mem=64M");
    Task t = vm.createTask("t");
    long n = fillable(0);
    long base = fillAndPunch(t, n);
    drainHighOrder();
    assertEquals(0, largestOrder(zone(ZoneType.NORMAL)), "only order-0 holes are free");
    assertEquals(NO_PFN, alloc().allocPages(Gfp.NOWARN, 4), "order 4 fails while fragmented");
    long[] before = remainingPfns(t, base, n);
    settle(); // the lru_add batches' references, so that the free count below is exact
    long freeBefore = alloc().nrFreePages();

    long t0 = System.nanoTime();
    CompactResult r = new Compaction(vm).compactZone(ZoneType.NORMAL);
    long ns = System.nanoTime() - t0;
    System.out.printf(
        "compaction: %d migrated in %.1f ms = %.0f pages/s; %s%n",
        r.migrated(), ns / 1e6, r.migrated() / (ns / 1e9), r);

    assertEquals(ZoneType.NORMAL, r.zone());
    assertEquals(0, r.largestFreeOrderBefore());
    assertTrue(r.largestFreeOrderAfter() >= 4, "largest free order after: " + r);
    assertTrue(r.migrated() > 1000, "migrated " + r.migrated());
    assertEquals(0, r.pinBlocked());
    assertTrue(r.failed() <= 1, "at most the last try finds the free scanner dry: " + r);
    assertTrue(r.migrateScanned() > 0 && r.freeScanned() > 0);
    assertTrue(r.freeIsolated() >= r.migrated());
    assertArrayEquals(zone(ZoneType.NORMAL).freeByOrder(), r.freeBlocksAfter());
    assertEquals(freeBefore, alloc().nrFreePages(), "compaction neither leaks nor makes memory");

    long[] after = remainingPfns(t, base, n);
    long moved = 0;
    for (int k = 0; k < after.length; k++) {
      if (after[k] != before[k]) {
        moved++;
        assertEquals(1, mem.memmap().mapcount(after[k]));
        assertEquals(1, mem.memmap().refcount(after[k]));
        assertTrue(mem.memmap().testFlag(after[k], PageFlags.PG_ANON));
        assertEquals(-1, ((BuddyAllocator) alloc()).freeBlockOrder(after[k]));
      }
      assertEquals(pattern(2L * k), t.loadLong(base + 2L * k * PAGE + 8), "page " + 2 * k);
    }
    assertEquals(r.migrated(), moved, "every migrated folio's mapping points at its new pfn");

    assertEquals(r.migrateScanned(), mem.vmstat().get(VmItem.COMPACT_MIGRATE_SCANNED));
    assertEquals(r.freeScanned(), mem.vmstat().get(VmItem.COMPACT_FREE_SCANNED));
    assertEquals(r.isolated() + r.freeIsolated(), mem.vmstat().get(VmItem.COMPACT_ISOLATED));
    assertEquals(r.migrated(), mem.vmstat().get(VmItem.PGMIGRATE_SUCCESS));
    assertEquals("compact_migrate_scanned", VmItem.COMPACT_MIGRATE_SCANNED.procName());

    long big = alloc().allocPages(Gfp.NOWARN, 4);
    assertNotEquals(NO_PFN, big, "order 4 succeeds after compaction");
    alloc().freePages(big, 4);
    assertEquals(List.of(), mem.debugVm().check());

    t.exit();
    freeKernelBlocks();
    assertEquals(List.of(), mem.debugVm().check());
  }

  @Test
  void aPinnedPageIsNeverMovedAndIsReportedAsBlockedByAPin() {
    boot("mem=64M");
    Task t = vm.createTask("t");
    long n = fillable(0);
    long base = fillAndPunch(t, n);
    drainHighOrder();
    long[] before = remainingPfns(t, base, n);
    int lowest = 0;
    for (int k = 1; k < before.length; k++) {
      if (before[k] < before[lowest]) {
        lowest = k;
      }
    }
    long addr = base + 2L * lowest * PAGE;
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(t, addr, 1, Foll.FOLL_WRITE, pages));
    assertEquals(before[lowest], pages[0]);

    CompactResult r = new Compaction(vm).compactZone(ZoneType.NORMAL);

    assertEquals(pages[0], pfnAt(t, addr), "the pinned page stays where the device sees it");
    assertEquals(pattern(2L * lowest), t.loadLong(addr + 8));
    assertArrayEquals(new long[] {pages[0]}, r.pinnedPfns(), r.toString());
    assertEquals(1, r.pinBlocked());
    assertTrue(r.failed() >= 1);
    assertTrue(r.migrated() > 1000, "the rest still moves: " + r);
    assertTrue(r.largestFreeOrderAfter() >= 4, r.toString());
    assertEquals(List.of(), mem.debugVm().check());

    gup.unpinUserPage(pages[0]);
    t.exit();
    freeKernelBlocks();
  }

  @Test
  void anExtraReferenceMakesMigrationFailWithEagainAndIsReported() {
    boot("mem=64M");
    Task t = vm.createTask("t");
    long n = fillable(0);
    long base = fillAndPunch(t, n);
    drainHighOrder();
    long[] before = remainingPfns(t, base, n);
    int lowest = 0;
    for (int k = 1; k < before.length; k++) {
      if (before[k] < before[lowest]) {
        lowest = k;
      }
    }
    long addr = base + 2L * lowest * PAGE;
    long held = before[lowest];
    alloc().getPage(held); // a get_user_pages()-style reference: no pin bias
    assertFalse(gup.folioMaybeDmaPinned(held));

    CompactResult r = new Compaction(vm).compactZone(ZoneType.NORMAL);

    assertEquals(held, pfnAt(t, addr));
    assertArrayEquals(new long[] {held}, r.pinnedPfns(), r.toString());
    assertEquals(pattern(2L * lowest), t.loadLong(addr + 8));
    alloc().putPage(held);
    assertEquals(List.of(), mem.debugVm().check());
    t.exit();
    freeKernelBlocks();
  }

  @Test
  void pageCacheFoliosMoveWhetherMappedOrNot() {
    boot("mem=64M");
    int files = 64;
    RamBackedAops disk = new RamBackedAops();
    AddressSpace file = AddressSpace.create(mem, disk);
    file.setSize(files * PAGE);
    for (int i = 0; i < files; i++) {
      byte[] block = new byte[(int) PAGE];
      block[0] = (byte) (100 + i);
      disk.writeBlock(i, block);
    }
    Task t = vm.createTask("t");
    long n = fillable(files);
    long base = t.mmapAnon(n * PAGE);
    for (long i = 0; i < n; i++) {
      t.storeLong(base + i * PAGE + 8, pattern(i));
    }
    // the page cache fills the lowest free memory, below where the scanners meet
    long fa = t.mmap(0, files / 2 * PAGE, PROT_READ, MAP_SHARED, file, 0);
    for (int i = 0; i < files / 2; i++) {
      assertEquals(100 + i, t.loadLong(fa + i * PAGE) & 0xff);
    }
    for (int i = files / 2; i < files; i++) {
      alloc().putPage(vm.filemap().readMappingFolio(file, i)); // cached, not mapped
    }
    long[] cachedBefore = new long[files];
    for (int i = 0; i < files; i++) {
      cachedBefore[i] = vm.filemap().filemapGetFolio(file, i);
      alloc().putPage(cachedBefore[i]);
    }
    for (long i = 1; i < n; i += 2) {
      t.munmap(base + i * PAGE, PAGE);
    }
    drainHighOrder();

    CompactResult r = new Compaction(vm).compactZone(ZoneType.NORMAL);

    int movedMapped = 0;
    int movedUnmapped = 0;
    for (int i = 0; i < files; i++) {
      long now = vm.filemap().filemapGetFolio(file, i);
      alloc().putPage(now);
      byte[] b = new byte[1];
      mem.ram().read(now, 0, b, 0, 1);
      assertEquals((byte) (100 + i), b[0], "page cache contents of index " + i);
      if (i < files / 2) {
        assertEquals(now, pfnAt(t, fa + i * PAGE), "the mapping follows the cache slot");
        assertEquals(100 + i, t.loadLong(fa + i * PAGE) & 0xff);
      }
      if (now != cachedBefore[i]) {
        if (i < files / 2) {
          movedMapped++;
        } else {
          movedUnmapped++;
        }
      }
    }
    assertTrue(movedMapped > 0 && movedUnmapped > 0, movedMapped + "/" + movedUnmapped + " " + r);
    assertEquals(List.of(), mem.debugVm().check());
    t.exit();
    vm.truncate().truncateInodePages(file, 0);
    freeKernelBlocks();
  }

  @Test
  void compactingAZoneWithNothingToMoveIsANoOp() {
    boot("mem=64M");
    ZoneInfo z = zone(ZoneType.NORMAL);
    long free = alloc().nrFreePages();

    CompactResult r = new Compaction(vm).compactZone(ZoneType.NORMAL);

    assertEquals(0, r.migrated());
    assertEquals(0, r.failed());
    assertEquals(0, r.isolated());
    assertEquals(0, r.freeIsolated(), "no free page is taken when nothing needs one");
    assertEquals(0, r.pinBlocked());
    assertArrayEquals(z.freeByOrder(), r.freeBlocksBefore());
    assertArrayEquals(r.freeBlocksBefore(), r.freeBlocksAfter());
    assertEquals(free, alloc().nrFreePages());
    assertEquals(0, mem.vmstat().get(VmItem.PGMIGRATE_SUCCESS));
    assertEquals(0, mem.vmstat().get(VmItem.PGMIGRATE_FAIL));
    assertTrue(r.migrateScanned() > 0);
    assertEquals(List.of(), mem.debugVm().check());
  }

  @Test
  void compactNodeCompactsEachZoneWithinItself() {
    boot("mem=64M movablecore=16M");
    ZoneInfo mz = zone(ZoneType.MOVABLE);
    Task t = vm.createTask("t");
    long n = mz.freePages() - mz.wmarkLow() - 16; // anon faults fill ZONE_MOVABLE first
    long base = fillAndPunch(t, n);
    long[] before = remainingPfns(t, base, n);
    for (long pfn : before) {
      assertEquals(ZoneType.MOVABLE, mem.memmap().zone(pfn));
    }

    List<CompactResult> rs = new Compaction(vm).compactNode();

    assertEquals(
        List.of(ZoneType.NORMAL, ZoneType.MOVABLE), rs.stream().map(CompactResult::zone).toList());
    CompactResult r = rs.get(1);
    assertTrue(r.migrated() > 0, r.toString());
    assertTrue(r.largestFreeOrderAfter() >= r.largestFreeOrderBefore(), r.toString());
    assertEquals(0, rs.get(0).migrated(), "ZONE_NORMAL has nothing movable");
    long[] after = remainingPfns(t, base, n);
    for (int k = 0; k < after.length; k++) {
      assertEquals(ZoneType.MOVABLE, mem.memmap().zone(after[k]), "stays in its zone");
      assertEquals(pattern(2L * k), t.loadLong(base + 2L * k * PAGE + 8));
    }
    assertEquals(List.of(), mem.debugVm().check());
    t.exit();
  }

  @Test
  void theFreeBlockIsolationSplitsToOrderZeroAndKeepsTheMinWatermark() {
    boot("mem=64M");
    BuddyAllocator b = (BuddyAllocator) alloc();
    ZoneInfo z = zone(ZoneType.NORMAL);
    assertEquals(PageAllocator.MAX_ORDER, b.freeBlockOrder(0));
    assertEquals(-1, b.freeBlockOrder(1), "inside a free block, not its head");
    assertEquals(-1, b.freeBlockOrder(vm.zeroPfn()));
    List<long[]> taken = new ArrayList<>();
    int refused = 0;
    for (long pfn = 0; pfn < z.endPfn(); pfn++) {
      int n = b.isolateFreeBlock(ZoneType.NORMAL, pfn);
      if (n == 0) {
        refused++;
      } else if (n > 0) {
        taken.add(new long[] {pfn, n});
        for (long i = 0; i < n; i++) {
          assertEquals(1, mem.memmap().refcount(pfn + i));
          assertFalse(mem.memmap().testFlag(pfn + i, PageFlags.PG_BUDDY));
        }
        pfn += n - 1;
      }
    }
    assertTrue(refused > 0, "the watermark refuses some block");
    assertTrue(alloc().nrFreePages() > z.wmarkMin(), "never below WMARK_MIN");
    assertEquals(alloc().nrFreePages(), mem.vmstat().get(VmItem.NR_FREE_PAGES));
    assertEquals(-1, b.isolateFreeBlock(ZoneType.NORMAL, taken.get(0)[0]), "no longer free");
    assertEquals(List.of(), mem.debugVm().check());
    for (long[] blk : taken) {
      for (long i = 0; i < blk[1]; i++) {
        alloc().putPage(blk[0] + i);
      }
    }
    assertEquals(PageAllocator.MAX_ORDER, b.freeBlockOrder(0), "the pages merge back");
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> b.isolateFreeBlock(ZoneType.MOVABLE, 0)).errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> new Compaction(vm).compactZone(ZoneType.DEVICE))
            .errno());
  }
}
