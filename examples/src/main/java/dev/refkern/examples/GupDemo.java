package dev.refkern.examples;

import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.PrintStream;

/**
 * The story GUP exists for: a process pins a buffer for DMA, forks, and the child writes the same
 * virtual address. Mainline copies the pinned page to the child at fork, so the device's writes
 * stay visible to the parent and the child's writes never reach the device.
 */
public final class GupDemo {
  private GupDemo() {}

  /** Runs the story on {@code mem}, printing what happens. */
  public static void run(PhysicalMemory mem, PrintStream out) {
    VirtualMemory vm = new VirtualMemory(mem);
    Gup gup = vm.gup();
    Task app = vm.createTask("app");
    long buf = app.mmapAnon(4 * 4096);
    app.storeLong(buf, 1);
    long[] pages = new long[4];
    if (mem.memmap().zone(Pte.pfn(app.mm().pte(buf))) == ZoneType.MOVABLE) {
      try {
        gup.pinUserPagesFast(app, buf, 4, Foll.FOLL_WRITE | Foll.FOLL_LONGTERM, pages);
      } catch (KernelException e) {
        out.println("FOLL_LONGTERM on ZONE_MOVABLE memory: " + e.getMessage());
      }
    }
    long n = gup.pinUserPagesFast(app, buf, 4, Foll.FOLL_WRITE, pages);
    out.printf(
        "pin_user_pages_fast(4 pages, FOLL_WRITE) = %d; pfn %d refcount %d (1 + GUP_PIN_COUNTING_BIAS)%n",
        n, pages[0], mem.memmap().refcount(pages[0]));
    Task child = app.fork("child");
    out.printf(
        "fork(): parent maps pfn %d, child maps pfn %d (pinned pages are copied at fork)%n",
        Pte.pfn(app.mm().pte(buf)), Pte.pfn(child.mm().pte(buf)));
    mem.ram().writeLong(pages[0], 0, 0xD3A);
    child.storeLong(buf, 7);
    out.printf(
        "device DMA writes 0xd3a; child stores 7: parent reads 0x%x, child reads %d%n",
        app.loadLong(buf), child.loadLong(buf));
    gup.unpinUserPagesDirtyLock(pages, (int) n, true);
    child.exit();
    app.exit();
    out.printf(
        "unpinned and exited: nr_foll_pin_acquired %d, nr_foll_pin_released %d, debug_vm %s%n",
        mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED),
        mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED),
        mem.debugVm().checkNoPinsHeld().isEmpty() ? "clean" : mem.debugVm().checkNoPinsHeld());
  }
}
