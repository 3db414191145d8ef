package dev.refkern.mm.internal.page;

import static dev.refkern.mm.PageFlags.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.KernelHealth;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.VmStat;
import dev.refkern.mm.ZoneInfo;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.internal.pageops.MemmapOps;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;
import org.apiguardian.api.API;

/**
 * The buddy allocator over {@code ZONE_NORMAL} and {@code ZONE_MOVABLE} ({@code mm/page_alloc.c}).
 */
@API(status = INTERNAL, since = "0.1.0")
public final class BuddyAllocator implements PageAllocator {
  private final MemmapOps memmap;
  private final PageMemory ram;
  private final VmStat vmstat;
  private final KernelHealth health;
  private final BuddyZone normal;
  private final BuddyZone movable; // null without movablecore=
  private final long deviceStart;
  private final long deviceEnd;
  private final PageAllocHooks hooks;

  /** Boot reports progress every this many frames (a memmap section's worth). */
  private static final long PROGRESS_STRIDE = 1L << 15;

  /**
   * Builds the zones and frees every RAM frame into them ({@code memblock_free_all()}), telling
   * {@code progress} after each block how many RAM frames are free so far (ending at {@code
   * ramPfns}).
   *
   * @param movableStart first pfn of {@code ZONE_MOVABLE}, or {@code ramPfns} for none
   * @param hooks what a free and a failing allocation call outside the allocator
   */
  public BuddyAllocator(
      MemmapOps memmap,
      PageMemory ram,
      VmStat vmstat,
      KernelHealth health,
      long ramPfns,
      long movableStart,
      long deviceEnd,
      long minFreeKbytes,
      PageAllocHooks hooks,
      LongConsumer progress) {
    this.memmap = memmap;
    this.hooks = hooks;
    this.ram = ram;
    this.vmstat = vmstat;
    this.health = health;
    this.normal = new BuddyZone(ZoneType.NORMAL, 0, movableStart, memmap);
    this.movable =
        movableStart < ramPfns
            ? new BuddyZone(ZoneType.MOVABLE, movableStart, ramPfns, memmap)
            : null;
    this.deviceStart = ramPfns;
    this.deviceEnd = deviceEnd;
    freeRange(normal, 0, progress);
    if (movable != null) {
      freeRange(movable, normal.endPfn - normal.startPfn, progress);
    }
    progress.accept(ramPfns);
    setupWatermarks(minFreeKbytes);
  }

  /** Frees the zone's frames as maximal blocks; {@code before} frames were freed earlier. */
  private void freeRange(BuddyZone z, long before, LongConsumer progress) {
    synchronized (z.lock) {
      long pfn = z.startPfn;
      while (pfn < z.endPfn) {
        int order = Math.min(MAX_ORDER, Long.numberOfTrailingZeros(pfn | (1L << MAX_ORDER)));
        while (pfn + (1L << order) > z.endPfn) {
          order--;
        }
        z.addToFreeList(pfn, order);
        pfn += 1L << order;
        if ((pfn & (PROGRESS_STRIDE - 1)) == 0) {
          progress.accept(before + pfn - z.startPfn);
        }
      }
      vmstat.add(VmItem.NR_FREE_PAGES, z.endPfn - z.startPfn);
    }
  }

  /** {@code __setup_per_zone_wmarks()} with the default {@code watermark_scale_factor} of 10. */
  private void setupWatermarks(long minFreeKbytes) {
    long lowmem = normal.managedPages();
    if (minFreeKbytes < 0) {
      // calculate_min_free_kbytes(): sqrt(lowmem_kbytes * 16), clamped to [128, 262144]
      long lowmemKbytes = lowmem * 4;
      minFreeKbytes = Math.max(128, Math.min(262144, (long) Math.sqrt(lowmemKbytes * 16.0)));
    }
    long pagesMin = minFreeKbytes >> 2;
    for (BuddyZone z : buddyZones()) {
      long tmp = pagesMin * z.managedPages() / lowmem;
      if (z.type == ZoneType.MOVABLE) {
        z.wmarkMin = Math.max(32, Math.min(128, z.managedPages() / 1024));
      } else {
        z.wmarkMin = tmp;
      }
      tmp = Math.max(tmp >> 2, z.managedPages() * 10 / 10000);
      z.wmarkLow = z.wmarkMin + tmp;
      z.wmarkHigh = z.wmarkMin + 2 * tmp;
    }
  }

  private List<BuddyZone> buddyZones() {
    return movable == null ? List.of(normal) : List.of(normal, movable);
  }

  /** Whether every buddy zone has at least its high watermark free ({@code pgdat_balanced()}). */
  public boolean balanced() {
    for (BuddyZone z : buddyZones()) {
      if (z.freePages() < z.wmarkHigh) {
        return false;
      }
    }
    return true;
  }

  @Override
  public long allocPages(int gfp, int order) {
    health.checkAlive();
    if (!Gfp.valid(gfp)) {
      throw new KernelException(Errno.EINVAL, "unknown gfp bits 0x" + Integer.toHexString(gfp));
    }
    if (order < 0 || order > MAX_ORDER) {
      health.warn(true, "alloc_pages: order " + order + " > MAX_PAGE_ORDER");
      return NO_PFN;
    }
    boolean movableOk = (gfp & Gfp.MOVABLE) != 0 && movable != null;
    boolean high = (gfp & Gfp.HIGH) != 0;
    // get_page_from_freelist() at WMARK_LOW, then the slow path at WMARK_MIN
    long pfn = NO_PFN;
    for (int pass = 0; pass < 2 && pfn == NO_PFN; pass++) {
      if (pass == 1) {
        hooks.reclaim().wakeKswapd(); // __alloc_pages_slowpath(): wake_all_kswapds()
      }
      if (movableOk) {
        pfn = tryZone(movable, order, pass, high);
      }
      if (pfn == NO_PFN) {
        pfn = tryZone(normal, order, pass, high);
      }
    }
    if (pfn == NO_PFN && (gfp & Gfp.DIRECT_RECLAIM) != 0) {
      hooks.reclaim().directReclaim(order); // __alloc_pages_direct_reclaim()
      pfn = movableOk ? tryZone(movable, order, 1, high) : NO_PFN;
      if (pfn == NO_PFN) {
        pfn = tryZone(normal, order, 1, high);
      }
    }
    if (pfn == NO_PFN) {
      if ((gfp & Gfp.NOWARN) == 0) {
        health.allocFailure(
            "page allocation failure: order:" + order + ", gfp:0x" + Integer.toHexString(gfp));
      }
      return NO_PFN;
    }
    prepNewPage(pfn, order, gfp);
    vmstat.add(
        movable != null && movable.contains(pfn) ? VmItem.PGALLOC_MOVABLE : VmItem.PGALLOC_NORMAL,
        1L << order);
    return pfn;
  }

  private long tryZone(BuddyZone z, int order, int pass, boolean high) {
    synchronized (z.lock) {
      long mark = pass == 0 ? z.wmarkLow : z.wmarkMin;
      if (!z.watermarkOk(order, mark, high)) {
        return NO_PFN;
      }
      long pfn = z.rmqueue(order);
      if (pfn != NO_PFN) {
        vmstat.add(VmItem.NR_FREE_PAGES, -(1L << order));
      }
      return pfn;
    }
  }

  /** {@code prep_new_page()}: refcount 1, compound metadata, optional zeroing. */
  private void prepNewPage(long pfn, int order, int gfp) {
    memmap.setRefcount(pfn, 1);
    if (order > 0 && (gfp & Gfp.COMP) != 0) {
      memmap.setFlag(pfn, PG_HEAD);
      memmap.setCompound(pfn, order);
      memmap.pincountAdd(pfn, -memmap.pincount(pfn));
      for (long i = 1; i < (1L << order); i++) {
        memmap.setFlag(pfn + i, PG_TAIL);
        memmap.setCompound(pfn + i, (int) i);
      }
    } else if (order > 0) {
      // a non-compound block: every page is refcounted individually by the caller
      for (long i = 1; i < (1L << order); i++) {
        memmap.setRefcount(pfn + i, 0);
      }
    }
    if ((gfp & Gfp.ZERO) != 0) {
      for (long i = 0; i < (1L << order); i++) {
        ram.zeroPage(pfn + i);
      }
    }
  }

  private void checkPfn(long pfn) {
    memmap.checkPfn(pfn);
  }

  @Override
  public void freePages(long pfn, int order) {
    health.checkAlive();
    checkPfn(pfn);
    if (order < 0 || order > MAX_ORDER) {
      throw new KernelException(Errno.EINVAL, "free of order " + order);
    }
    if ((pfn & ((1L << order) - 1)) != 0) {
      throw health.bug("VM_BUG_ON_PAGE: free of pfn " + pfn + " not aligned to order " + order);
    }
    if (memmap.testFlag(pfn, PG_TAIL)) {
      throw health.bug("VM_BUG_ON_PAGE: __free_pages() on tail page pfn " + pfn);
    }
    boolean head = memmap.testFlag(pfn, PG_HEAD);
    if (head && memmap.folioOrder(pfn) != order) {
      throw health.bug(
          "VM_BUG_ON_PAGE: free of folio pfn "
              + pfn
              + " order "
              + memmap.folioOrder(pfn)
              + " as order "
              + order);
    }
    if (putTestZero(pfn)) {
      freeFrozen(pfn, order);
    }
  }

  /**
   * {@code put_page_testzero()}: a drop from zero is {@code VM_BUG_ON_PAGE}, the memmap untouched.
   */
  private boolean putTestZero(long pfn) {
    while (true) {
      int c = memmap.refcount(pfn);
      if (c <= 0) {
        throw health.bug(
            "VM_BUG_ON_PAGE(page_ref_count(page) == 0): pfn " + pfn + " refcount " + c);
      }
      if (memmap.refCompareAndSet(pfn, c, c - 1)) {
        return c == 1;
      }
    }
  }

  /** {@code free_pages_prepare()} then {@code __free_one_page()}; a bad page is leaked. */
  private void freeFrozen(long pfn, int order) {
    if (memmap.zone(pfn) == ZoneType.DEVICE) {
      hooks.freeZoneDevicePage(pfn);
      return;
    }
    hooks.pageCacheRelease(pfn); // __page_cache_release(): off the LRU before the checks
    String bad = badReason(pfn);
    for (long i = 1; bad == null && i < (1L << order); i++) {
      if (memmap.testFlag(pfn, PG_HEAD)) {
        if (!memmap.testFlag(pfn + i, PG_TAIL) || memmap.compound(pfn + i) != i) {
          bad = "corrupted compound tail pfn " + (pfn + i);
        } else if (memmap.mapcount(pfn + i) != 0) {
          bad = "nonzero mapcount on tail pfn " + (pfn + i);
        }
      }
    }
    if (bad == null && memmap.testFlag(pfn, PG_HEAD) && memmap.pincount(pfn) != 0) {
      bad = "nonzero _pincount " + memmap.pincount(pfn);
    }
    if (bad == null && memmap.testFlag(pfn, PG_HEAD) && memmap.entireMapcount(pfn) != 0) {
      bad = "nonzero entire_mapcount " + memmap.entireMapcount(pfn);
    }
    if (bad != null) {
      health.badPage(pfn, bad);
      return;
    }
    for (long i = 0; i < (1L << order); i++) {
      long p = pfn + i;
      long keep = memmap.flags(p) & (bit(PG_HWPOISON));
      memmap.clearDescriptor(p);
      if (keep != 0) {
        memmap.setFlag(p, PG_HWPOISON);
      }
    }
    BuddyZone z = zoneOf(pfn);
    synchronized (z.lock) {
      z.freeOne(pfn, order);
    }
    vmstat.add(VmItem.NR_FREE_PAGES, 1L << order);
    vmstat.add(VmItem.PGFREE, 1L << order);
  }

  /** {@code page_bad_reason()}. */
  private String badReason(long pfn) {
    if (memmap.mapcount(pfn) != 0) {
      return "nonzero mapcount " + memmap.mapcount(pfn);
    }
    // an anon page's mapping names its anon_vma (PAGE_MAPPING_ANON) and is simply cleared
    if (memmap.mapping(pfn) != 0 && !memmap.testFlag(pfn, PG_ANON)) {
      return "non-NULL mapping";
    }
    if (memmap.refcount(pfn) != 0) {
      return "nonzero _refcount";
    }
    if ((memmap.flags(pfn) & CHECK_AT_FREE) != 0) {
      return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set: "
          + longSymbolic(memmap.flags(pfn) & CHECK_AT_FREE);
    }
    return null;
  }

  private BuddyZone zoneOf(long pfn) {
    return movable != null && movable.contains(pfn) ? movable : normal;
  }

  @Override
  public void getPage(long pfn) {
    health.checkAlive();
    checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    int c = memmap.refcount(head);
    if (c <= 0 || c == Integer.MAX_VALUE) {
      // folio_ref_zero_or_close_to_overflow()
      throw health.bug("VM_BUG_ON_FOLIO: get_page() on pfn " + pfn + " with refcount " + c);
    }
    memmap.refAdd(head, 1);
  }

  @Override
  public boolean tryGetPage(long pfn) {
    health.checkAlive();
    checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    while (true) {
      int c = memmap.refcount(head);
      if (c <= 0) {
        health.warn(true, "try_get_page() on pfn " + pfn + " with refcount " + c);
        return false;
      }
      if (c == Integer.MAX_VALUE) {
        return false;
      }
      if (memmap.refCompareAndSet(head, c, c + 1)) {
        return true;
      }
    }
  }

  @Override
  public void putPage(long pfn) {
    health.checkAlive();
    checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (putTestZero(head)) {
      freeFrozen(head, memmap.folioOrder(head));
    }
  }

  @Override
  public long nrFreePages() {
    long n = 0;
    for (BuddyZone z : buddyZones()) {
      n += z.freePages();
    }
    return n;
  }

  @Override
  public List<ZoneInfo> zones() {
    List<ZoneInfo> out = new ArrayList<>();
    for (BuddyZone z : buddyZones()) {
      out.add(z.info());
    }
    out.add(
        new ZoneInfo(
            ZoneType.DEVICE,
            deviceStart,
            deviceEnd - deviceStart,
            0,
            0,
            0,
            0,
            0,
            0,
            new long[MAX_ORDER + 1]));
    return out;
  }

  /** Checks the free lists against the memmap; for {@code DebugVm}. Returns problems found. */
  public List<String> checkFreeLists() {
    List<String> problems = new ArrayList<>();
    for (BuddyZone z : buddyZones()) {
      synchronized (z.lock) {
        long total = 0;
        for (int o = 0; o <= MAX_ORDER; o++) {
          long[] list = z.freeList(o);
          if (list == null) {
            problems.add(z.type + " order " + o + ": free list length disagrees with nr_free");
            continue;
          }
          for (long pfn : list) {
            if (!z.contains(pfn) || !z.contains(pfn + (1L << o) - 1)) {
              problems.add(
                  z.type + ": free block pfn " + pfn + " order " + o + " outside the zone");
            }
            if ((pfn & ((1L << o) - 1)) != 0) {
              problems.add(z.type + ": free block pfn " + pfn + " not aligned to order " + o);
            }
            if (!memmap.testFlag(pfn, PG_BUDDY) || memmap.privateData(pfn) != o) {
              problems.add(z.type + ": free block pfn " + pfn + " lacks PG_buddy/order " + o);
            }
            for (long i = 0; i < (1L << o); i++) {
              if (memmap.refcount(pfn + i) != 0 || memmap.mapcount(pfn + i) != 0) {
                problems.add("free pfn " + (pfn + i) + " has refcount/mapcount");
                break;
              }
            }
          }
          total += (long) list.length << o;
        }
        if (total != z.freePages()) {
          problems.add(
              z.type + ": free lists hold " + total + " pages, counter says " + z.freePages());
        }
      }
    }
    return problems;
  }

  /** First pfn of the {@code ZONE_DEVICE} range. */
  public long deviceStart() {
    return deviceStart;
  }

  // ---------------------------------------------------------------- compaction

  /**
   * {@code PageBuddy()} + {@code buddy_order()}, read under the zone lock: the order of the free
   * block whose head is {@code pfn}, or -1 if {@code pfn} is not the head of a free block (in use,
   * inside a free block, or not buddy-managed memory at all).
   */
  public int freeBlockOrder(long pfn) {
    if (pfn < 0 || pfn >= deviceStart) {
      return -1;
    }
    BuddyZone z = zoneOf(pfn);
    synchronized (z.lock) {
      return memmap.testFlag(pfn, PG_BUDDY) ? (int) memmap.privateData(pfn) : -1;
    }
  }

  /**
   * {@code __isolate_free_page()} then {@code split_map_pages()} ({@code post_alloc_hook()}, {@code
   * set_page_refcounted()}), as compaction's free scanner ({@code isolate_freepages_block()}) uses
   * them: if {@code pfn} heads a free block of {@code zone}, takes it off the free lists and hands
   * it out split into {@code n = 1 << order} order-0 pages {@code [pfn, pfn + n)}, each with
   * refcount 1; the caller owns one reference on each and drops it with {@link #putPage}. {@code
   * NR_FREE_PAGES} drops by {@code n}; like the kernel, no {@code pgalloc} event is counted.
   *
   * <p>The watermark is obeyed as {@code __isolate_free_page()} does: the block is refused if the
   * zone would not keep more than {@code WMARK_MIN + (1 << order)} free pages.
   *
   * @return {@code n}; 0 if the watermark refuses the block; -1 if {@code pfn} is not the head of a
   *     free block in {@code zone} (checked under the zone lock)
   * @throws KernelException {@code EINVAL} for a zone the buddy allocator does not manage
   */
  public int isolateFreeBlock(ZoneType zone, long pfn) {
    health.checkAlive();
    BuddyZone z = buddyZone(zone);
    if (!z.contains(pfn)) {
      return -1;
    }
    int order;
    synchronized (z.lock) {
      if (!memmap.testFlag(pfn, PG_BUDDY)) {
        return -1;
      }
      order = (int) memmap.privateData(pfn);
      if (!z.watermarkOk(0, z.wmarkMin + (1L << order), false)) {
        return 0;
      }
      z.delFromFreeList(pfn, order);
      vmstat.add(VmItem.NR_FREE_PAGES, -(1L << order));
    }
    for (long i = 0; i < (1L << order); i++) {
      memmap.setRefcount(pfn + i, 1);
    }
    return 1 << order;
  }

  private BuddyZone buddyZone(ZoneType type) {
    if (type == ZoneType.NORMAL) {
      return normal;
    }
    if (type == ZoneType.MOVABLE && movable != null) {
      return movable;
    }
    throw new KernelException(Errno.EINVAL, "no buddy-managed zone " + type);
  }
}
