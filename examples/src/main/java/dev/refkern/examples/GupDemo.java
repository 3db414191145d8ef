package dev.refkern.examples;

import static dev.refkern.mm.Page.*;

import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.PrintStream;

/**
 * The story {@code pin_user_pages()} exists for: a process pins a buffer long-term for DMA ({@code
 * FOLL_LONGTERM}, as RDMA does), forks, and the child writes the same virtual address. A long-term
 * pin first moves the buffer out of {@code ZONE_MOVABLE}; fork copies the pinned page to the child,
 * so the device's writes stay visible to the parent and the child's writes never reach the device.
 * Every pin it takes it releases.
 */
public final class GupDemo {
  private static final int PAGES = 4;

  private GupDemo() {}

  /** Runs the story on {@code vm}, printing what happens. */
  public static void run(VirtualMemory vm, PrintStream out) {
    PhysicalMemory mem = vm.physicalMemory();
    Gup gup = vm.gup();
    Task app = vm.createTask("app");
    long buf = app.mmapAnon(PAGES * (long) PAGE_SIZE);
    app.storeLong(buf, 1);
    long before = Pte.pfn(app.mm().pte(buf));
    out.printf(
        "the app faults in a %d-page buffer: pfn %d, zone %s%n",
        PAGES, before, mem.memmap().zone(before));
    long acquired0 = mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
    long released0 = mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED);
    long[] pages = new long[PAGES];
    long n;
    int flags = Foll.FOLL_WRITE | Foll.FOLL_LONGTERM;
    try {
      n = gup.pinUserPagesFast(app, buf, PAGES, flags, pages);
      out.printf(
          "pin_user_pages_fast(%d pages, FOLL_WRITE|FOLL_LONGTERM) = %d: pfn %d, zone %s%s%n",
          PAGES,
          n,
          pages[0],
          mem.memmap().zone(pages[0]),
          pages[0] != before
              ? " (moved out of ZONE_MOVABLE first: a long-term pin must not block hot-unplug)"
              : "");
    } catch (KernelException e) {
      out.println("FOLL_LONGTERM refused (" + e.getMessage() + "); pinning without it");
      flags = Foll.FOLL_WRITE;
      n = gup.pinUserPagesFast(app, buf, PAGES, flags, pages);
      out.printf("pin_user_pages_fast(%d pages, FOLL_WRITE) = %d: pfn %d%n", PAGES, n, pages[0]);
    }
    int ref = mem.memmap().refcount(pages[0]);
    out.printf(
        "pfn %d: refcount %d = GUP_PIN_COUNTING_BIAS %d for the pin + %d for the mapping%n",
        pages[0], ref, Foll.GUP_PIN_COUNTING_BIAS, ref - Foll.GUP_PIN_COUNTING_BIAS);
    Task child = app.fork("child");
    out.printf(
        "fork(): parent maps pfn %d, child maps pfn %d (a pinned page is copied at fork)%n",
        Pte.pfn(app.mm().pte(buf)), Pte.pfn(child.mm().pte(buf)));
    mem.ram().writeLong(pages[0], 0, 0xD3A);
    child.storeLong(buf, 7);
    out.printf(
        "the device DMA-writes 0xd3a, the child stores 7: parent reads 0x%x, child reads %d%n",
        app.loadLong(buf), child.loadLong(buf));
    gup.unpinUserPagesDirtyLock(pages, (int) n, true);
    child.exit();
    app.exit();
    long acquired = mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED) - acquired0;
    long released = mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED) - released0;
    out.printf(
        "unpin_user_pages_dirty_lock(), both exit: nr_foll_pin_acquired +%d, nr_foll_pin_released"
            + " +%d: %s%n",
        acquired, released, acquired == released ? "every pin released" : "PINS LEAKED");
    if (acquired > n) {
      out.println(
          "  (more than "
              + n
              + " acquired: FOLL_LONGTERM pinned, found ZONE_MOVABLE pages, dropped those pins,"
              + " migrated and pinned again, as __gup_longterm_locked() does)");
    }
  }
}
