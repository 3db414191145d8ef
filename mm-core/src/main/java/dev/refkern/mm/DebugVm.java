package dev.refkern.mm;

import static dev.refkern.mm.PageFlags.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.internal.page.BuddyAllocator;
import dev.refkern.mm.internal.pageops.MemmapOps;
import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * The invariant checker ({@code CONFIG_DEBUG_VM}): walks the memmap and the free lists and reports
 * every broken invariant. Tests run it after a scenario and assert that it finds nothing.
 *
 * <p>Checked: refcount, mapcount and pincount never negative; free (buddy) blocks have no
 * references, lie aligned in their zone and match the free counters; compound tails point at a head
 * that covers them; a pinned large folio's refcount covers its pins; {@code ZONE_DEVICE} flags only
 * in the device range; pins balance ({@code nr_foll_pin_acquired == nr_foll_pin_released}) when the
 * caller says none is held; no {@code MEMORY_DEVICE_PRIVATE} page is pinned.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class DebugVm {
  private static final int MAX_REPORTED = 50;
  private final PhysicalMemory mem;
  private final BuddyAllocator allocator;

  DebugVm(PhysicalMemory mem, BuddyAllocator allocator) {
    this.mem = mem;
    this.allocator = allocator;
  }

  /** Every violation found, empty when the machine is consistent. */
  public List<String> check() {
    List<String> p = new ArrayList<>();
    MemmapOps m = mem.rawMemmap();
    for (long pfn = 0; pfn < m.nrPfns() && p.size() < MAX_REPORTED; pfn++) {
      int ref = m.refcount(pfn);
      int map = m.mapcount(pfn);
      long flags = m.flags(pfn);
      if (ref < 0) {
        p.add("pfn " + pfn + ": negative refcount " + ref);
      }
      if (map < 0) {
        p.add("pfn " + pfn + ": negative mapcount " + map);
      }
      if (m.pincount(pfn) < 0) {
        p.add("pfn " + pfn + ": negative pincount " + m.pincount(pfn));
      }
      boolean device = m.zone(pfn) == ZoneType.DEVICE;
      if (((flags & bit(PG_DEVICE)) != 0) != (device && m.pgmap(pfn) != 0)) {
        p.add("pfn " + pfn + ": PG_device flag disagrees with zone " + m.zone(pfn));
      }
      if ((flags & bit(PG_BUDDY)) != 0 && device) {
        p.add("pfn " + pfn + ": ZONE_DEVICE page on a buddy free list");
      }
      if ((flags & bit(PG_TAIL)) != 0) {
        long head = pfn - m.compound(pfn);
        if (m.compound(pfn) <= 0
            || head < 0
            || !m.testFlag(head, PG_HEAD)
            || pfn - head >= (1L << m.folioOrder(head))) {
          p.add("pfn " + pfn + ": compound tail without a head covering it");
        } else if (ref != 0) {
          p.add("pfn " + pfn + ": tail page with refcount " + ref);
        }
      }
      if ((flags & bit(PG_HEAD)) != 0 && m.pincount(pfn) > 0 && ref < m.pincount(pfn)) {
        p.add("pfn " + pfn + ": refcount " + ref + " below _pincount " + m.pincount(pfn));
      }
    }
    p.addAll(allocator.checkFreeLists());
    checkDevicePrivateUnpinned(p);
    long free = mem.allocator().nrFreePages();
    if (free != mem.vmstat().get(VmItem.NR_FREE_PAGES)) {
      p.add(
          "nr_free_pages "
              + mem.vmstat().get(VmItem.NR_FREE_PAGES)
              + " but free lists hold "
              + free);
    }
    return p;
  }

  /**
   * A {@code MEMORY_DEVICE_PRIVATE} page is never pinned: the CPU cannot address it, so GUP
   * migrates it home first. A device page is a small folio, so a pin shows in its refcount ({@code
   * GUP_PIN_COUNTING_BIAS}) or in the page_pinner flag. Reads the public memmap only.
   */
  private void checkDevicePrivateUnpinned(List<String> p) {
    Memmap mm = mem.memmap();
    for (long pfn = mem.ramPfns(); pfn < mm.nrPfns() && p.size() < MAX_REPORTED; pfn++) {
      int ref = mm.refcount(pfn);
      if (ref < PIN_BIAS && (mm.flags(pfn) & bit(PG_DMA_PINNED)) == 0) {
        continue;
      }
      DevPagemap pg = mem.pagemapOf(pfn);
      if (pg != null && pg.type() == DevPagemap.MemoryType.DEVICE_PRIVATE) {
        p.add("pfn " + pfn + ": device-private page pinned (refcount " + ref + ")");
      }
    }
  }

  /** {@code GUP_PIN_COUNTING_BIAS}. */
  private static final int PIN_BIAS = 1024;

  /** {@link #check()}, plus the pin balance that must hold when no pin is outstanding. */
  public List<String> checkNoPinsHeld() {
    List<String> p = check();
    long acq = mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
    long rel = mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED);
    if (acq != rel) {
      p.add("pins leaked: nr_foll_pin_acquired " + acq + " != nr_foll_pin_released " + rel);
    }
    return p;
  }

  /** Throws {@link AssertionError} listing every violation, if any. */
  public void assertConsistent() {
    List<String> p = check();
    if (!p.isEmpty()) {
      throw new AssertionError("CONFIG_DEBUG_VM: " + String.join("; ", p));
    }
  }
}
