package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.MigrateDevice.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.ZoneType;
import dev.refkern.notifier.MmuNotifier;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierOps;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code make_device_exclusive()} and {@code MEMORY_DEVICE_COHERENT} pages. */
class DeviceExclusiveCoherentTest extends VmTestBase {
  final List<MmuNotifierRange> ranges = new ArrayList<>();

  void watch(Task task) {
    task.mm()
        .notifiers()
        .register(
            new MmuNotifierOps() {
              @Override
              public int invalidateRangeStart(MmuNotifier s, MmuNotifierRange r) {
                ranges.add(r);
                return 0;
              }
            });
  }

  long exclusive(Task t, long a, Object owner) {
    t.mm().mmapReadLock();
    try {
      return vm.migrateDevice().makeDeviceExclusive(t.mm(), a, owner);
    } finally {
      t.mm().mmapReadUnlock();
    }
  }

  @Test
  void makeDeviceExclusiveReplacesThePteUntilTheCpuTouchesIt() {
    boot();
    Task t = vm.createTask("t");
    long a = t.mmapAnon(4096);
    watch(t);
    long pfn = exclusive(t, a, "gpu"); // faults the page in for write first
    FolioOps folios = new FolioOps(mem);
    assertTrue(folios.folioTestLocked(pfn), "returned locked");
    long e = t.mm().pte(a);
    assertTrue(Pte.isDeviceExclusive(e));
    assertEquals(pfn, Pte.entryPfn(e));
    assertEquals(1, mem.memmap().mapcount(pfn), "the entry still counts as a mapping");
    MmuNotifierRange r = ranges.get(ranges.size() - 1);
    assertEquals(MmuNotifierEvent.EXCLUSIVE, r.event());
    assertEquals("gpu", r.owner());
    folios.folioUnlock(pfn);
    mem.allocator().putPage(pfn);
    settle();
    assertEquals(1, mem.memmap().refcount(pfn), "the mapping's reference only");
    ranges.clear();
    t.storeLong(a, 77); // remove_device_exclusive_entry()
    long back = t.mm().pte(a);
    assertTrue(Pte.present(back));
    assertEquals(pfn, Pte.pfn(back));
    assertEquals(MmuNotifierEvent.EXCLUSIVE, ranges.get(0).event());
    assertNull(ranges.get(0).owner(), "the device must see this one");
    assertEquals(77, t.loadLong(a));
    assertEquals(1, mem.memmap().mapcount(pfn));
    t.exit();
  }

  @Test
  void deviceExclusiveEntriesAreZappedAndRestoredAtFork() {
    boot();
    Task t = vm.createTask("t");
    long a = t.mmapAnon(2 * 4096);
    t.storeLong(a, 1);
    t.storeLong(a + 4096, 2);
    long p0 = exclusive(t, a, "gpu");
    FolioOps folios = new FolioOps(mem);
    folios.folioUnlock(p0);
    mem.allocator().putPage(p0);
    Task c = t.fork("c");
    assertTrue(Pte.present(t.mm().pte(a)), "copy_nonpresent_pte() restored it first");
    assertEquals(1, c.loadLong(a));
    assertEquals(2, mem.memmap().mapcount(p0));
    c.exit();
    t.storeLong(a + 4096, 2); // the fork made it COW-shared; now it is exclusive again
    long p1 = exclusive(t, a + 4096, "gpu");
    folios.folioUnlock(p1);
    mem.allocator().putPage(p1);
    assertTrue(Pte.isDeviceExclusive(t.mm().pte(a + 4096)));
    long anon = t.mm().anonPages.get();
    t.madvise(a + 4096, 4096, MADV_DONTNEED);
    assertEquals(0, t.mm().pte(a + 4096));
    assertEquals(anon - 1, t.mm().anonPages.get());
    settle();
    assertEquals(0, mem.memmap().refcount(p1), "the exclusive entry's reference was dropped");
    t.exit();
  }

  @Test
  void makeDeviceExclusiveRefusesFilePagesAndHoles() {
    boot();
    Task t = vm.createTask("t");
    AddressSpace file = AddressSpace.create(mem, new RamBackedAops());
    file.setSize(4096);
    long a = t.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    KernelException x = assertThrows(KernelException.class, () -> exclusive(t, a, "gpu"));
    assertEquals(Errno.EOPNOTSUPP, x.errno());
    assertTrue(Pte.present(t.mm().pte(a)));
    x = assertThrows(KernelException.class, () -> exclusive(t, 0x7000_0000L, "gpu"));
    assertEquals(Errno.EFAULT, x.errno());
    t.exit();
  }

  @Test
  void coherentPagesAreMappedLikeRamAndLeaveForLongtermPins() {
    boot("mem=256M zone_device=8M");
    DmirrorTestDriver dev =
        new DmirrorTestDriver(vm, DevPagemap.MemoryType.DEVICE_COHERENT, "cxl", 8);
    Task t = vm.createTask("t");
    long a = t.mmapAnon(4096);
    t.storeLong(a, 42);
    dev.migrateToDevice(t.mm(), a, 1);
    long e = t.mm().pte(a);
    assertTrue(Pte.present(e), "coherent memory is mapped by a normal pte");
    long d = Pte.pfn(e);
    assertEquals(ZoneType.DEVICE, mem.memmap().zone(d));
    assertEquals(42, t.loadLong(a), "the CPU reads it in place");
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(t, a, 1, Foll.FOLL_WRITE, pages));
    assertEquals(d, pages[0], "a short-term pin leaves it on the device");
    gup.unpinUserPage(pages[0]);
    assertEquals(1, gup.pinUserPages(t, a, 1, Foll.FOLL_WRITE | Foll.FOLL_LONGTERM, pages));
    assertNotEquals(ZoneType.DEVICE, mem.memmap().zone(pages[0]));
    assertEquals(pages[0], Pte.pfn(t.mm().pte(a)));
    assertEquals(42, mem.ram().readLong(pages[0], 0));
    assertEquals(List.of(d), dev.freed, "the coherent page went back to its driver");
    // migrate_device_coherent_folio(), not migrate_pages(): no pgmigrate_* event
    assertEquals(0, mem.vmstat().get(VmItem.PGMIGRATE_SUCCESS));
    gup.unpinUserPage(pages[0]);
    // and SELECT_DEVICE_COHERENT with the owner brings one back explicitly
    dev.migrateToDevice(t.mm(), a, 1);
    MigrateVma m = dev.migrateTo(t.mm(), a, 1, SELECT_DEVICE_COHERENT, false);
    assertNotEquals(0, m.src[0] & MIGRATE_PFN_MIGRATE);
    assertNotEquals(ZoneType.DEVICE, mem.memmap().zone(Pte.pfn(t.mm().pte(a))));
    assertEquals(42, t.loadLong(a));
    assertFalse(mem.memmap().testFlag(d, PageFlags.PG_LOCKED));
    t.exit();
  }
}
