package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.MigrateDevice.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.RamSwapDevice;
import dev.refkern.mm.ZoneType;
import dev.refkern.notifier.MmuNotifier;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierOps;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code mm/migrate_device.c}: migration to and from device memory, with a dmirror-like driver. */
class MigrateDeviceTest extends VmTestBase {
  DmirrorTestDriver dev;
  Task t;
  final List<MmuNotifierRange> ranges = new ArrayList<>();

  @BeforeEach
  void bootWithDevice() {
    boot("mem=256M zone_device=8M");
    dev = new DmirrorTestDriver(vm, DevPagemap.MemoryType.DEVICE_PRIVATE, "dmirror0", 64);
    t = vm.createTask("t");
  }

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

  long pte(Task task, long a) {
    return task.mm().pte(a);
  }

  boolean isDevicePage(long pfn) {
    return mem.memmap().zone(pfn) == ZoneType.DEVICE;
  }

  @Test
  void anonPageGoesToDevicePrivateMemoryAndComesBackOnACpuFault() {
    long a = t.mmapAnon(4096);
    t.storeLong(a, 0x1234);
    long src = Pte.pfn(pte(t, a));
    settle();
    long free = mem.allocator().nrFreePages();
    watch(t);
    MigrateVma m = dev.migrateToDevice(t.mm(), a, 1);
    assertEquals(1, m.cpages);
    assertNotEquals(0, m.src[0] & MIGRATE_PFN_MIGRATE);
    assertNotEquals(0, m.src[0] & MIGRATE_PFN_WRITE, "the pte was writable");
    assertEquals(src, pfnOf(m.src[0]));
    long e = pte(t, a);
    assertTrue(Pte.isDevicePrivate(e));
    assertTrue(Pte.isDevicePrivateWrite(e), "a writable source gives a writable entry");
    long d = Pte.entryPfn(e);
    assertEquals(1, mem.memmap().mapcount(d));
    assertEquals(1, mem.memmap().refcount(d), "only the entry's reference");
    assertEquals(1, t.mm().anonPages.get());
    settle();
    assertEquals(free + 1, mem.allocator().nrFreePages(), "the system page was freed");
    MmuNotifierRange r = ranges.get(0);
    assertEquals(MmuNotifierEvent.MIGRATE, r.event());
    assertEquals("dmirror0", r.owner(), "mmu_notifier_range_init_owner()");

    assertEquals(0x1234, t.loadLong(a), "migrate_to_ram brought the data home");
    assertEquals(1, dev.migrateToRamCalls);
    long back = pte(t, a);
    assertTrue(Pte.present(back));
    assertFalse(isDevicePage(Pte.pfn(back)));
    assertTrue(Pte.write(back));
    assertEquals(List.of(d), dev.freed, "the device page's last put called page_free");
    assertEquals(0, mem.memmap().refcount(d));
    assertFalse(mem.memmap().testFlag(d, PageFlags.PG_LOCKED));
    assertEquals(1, mem.memmap().mapcount(Pte.pfn(back)));
    t.storeLong(a, 7);
    assertEquals(7, t.loadLong(a));
    t.exit();
  }

  @Test
  void emptyAndZeroPagePtesArePopulatedWithDevicePages() {
    long a = t.mmapAnon(2 * 4096);
    assertEquals(0, t.loadLong(a)); // the zero page
    MigrateVma m = dev.migrateToDevice(t.mm(), a, 2);
    assertEquals(2, m.cpages);
    assertEquals(MIGRATE_PFN_MIGRATE, m.src[0], "zero page: no pfn, to be migrated");
    assertEquals(MIGRATE_PFN_MIGRATE, m.src[1], "pte_none: no pfn, to be migrated");
    assertTrue(Pte.isDevicePrivate(pte(t, a)));
    assertTrue(Pte.isDevicePrivate(pte(t, a + 4096)));
    assertEquals(2, t.mm().anonPages.get());
    assertEquals(1, mem.memmap().refcount(Pte.entryPfn(pte(t, a + 4096))));
    assertEquals(0, t.loadLong(a + 4096));
    t.munmap(a, 2 * 4096);
    assertEquals(2, dev.freed.size(), "both device pages went back to the driver");
    assertEquals(0, t.mm().anonPages.get());
    t.exit();
  }

  @Test
  void aPinnedPageStaysWhereItIs() {
    long a = t.mmapAnon(4096);
    t.storeLong(a, 9);
    long[] pages = new long[1];
    gup.pinUserPages(t, a, 1, Foll.FOLL_WRITE, pages);
    long before = pte(t, a);
    MigrateVma m = dev.migrateToDevice(t.mm(), a, 1);
    assertEquals(0, m.src[0], "migrate_vma_collect_pmd() leaves a maybe-pinned exclusive page");
    assertEquals(0, m.cpages);
    assertEquals(before, pte(t, a));
    settle();
    assertEquals(1 + Foll.GUP_PIN_COUNTING_BIAS, mem.memmap().refcount(pages[0]));
    assertFalse(mem.memmap().testFlag(pages[0], PageFlags.PG_LOCKED));
    gup.unpinUserPage(pages[0]);
    t.exit();
  }

  @Test
  void aPageWithAnExtraReferenceIsRestoredAtSetup() {
    long a = t.mmapAnon(4096);
    t.storeLong(a, 9);
    long[] pages = new long[1];
    gup.getUserPages(t, a, 1, Foll.FOLL_WRITE, pages); // FOLL_GET: not a pin
    long before = pte(t, a);
    MigrateVma m = dev.migrateToDevice(t.mm(), a, 1);
    assertEquals(0, m.src[0], "migrate_device_unmap() restores it and clears its entry");
    assertEquals(0, m.cpages);
    assertEquals(before, pte(t, a));
    settle();
    assertEquals(2, mem.memmap().refcount(pages[0]), "mapping + the GUP reference, no leak");
    assertEquals(1, mem.memmap().mapcount(pages[0]));
    mem.allocator().putPage(pages[0]);
    assertTrue(dev.freed.isEmpty());
    t.exit();
  }

  @Test
  void aPageCachePageIsCollectedButRefusedByMigrateVmaPages() {
    RamBackedAops disk = new RamBackedAops();
    AddressSpace file = AddressSpace.create(mem, disk);
    file.setSize(4096);
    long a = t.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
    t.loadLong(a);
    long before = pte(t, a);
    MigrateVma m = dev.migrateToDevice(t.mm(), a, 1);
    assertEquals(Pte.pfn(before), pfnOf(m.src[0]));
    assertEquals(0, m.src[0] & MIGRATE_PFN_MIGRATE, "only anonymous memory goes to a device");
    assertEquals(before, pte(t, a), "finalize restored the pte");
    assertEquals(1, dev.freed.size(), "the unused destination was put back");
    t.exit();
  }

  @Test
  void devicePagesOfAnotherOwnerAreNotSelected() {
    long a = t.mmapAnon(4096);
    t.storeLong(a, 3);
    dev.migrateToDevice(t.mm(), a, 1);
    long e = pte(t, a);
    DmirrorTestDriver other =
        new DmirrorTestDriver(vm, DevPagemap.MemoryType.DEVICE_PRIVATE, "other", 4);
    MigrateVma m = other.migrateTo(t.mm(), a, 1, SELECT_DEVICE_PRIVATE, false);
    assertEquals(0, m.src[0]);
    assertEquals(e, pte(t, a));
    m = dev.migrateTo(t.mm(), a, 1, SELECT_SYSTEM, false);
    assertEquals(0, m.src[0], "SELECT_SYSTEM does not take device-private pages");
    m = dev.migrateTo(t.mm(), a, 1, SELECT_DEVICE_PRIVATE, false);
    assertNotEquals(0, m.src[0] & MIGRATE_PFN_MIGRATE, "its owner migrates it home");
    assertTrue(Pte.present(pte(t, a)));
    assertEquals(3, t.loadLong(a));
    assertEquals(0, dev.migrateToRamCalls);
    t.exit();
  }

  @Test
  void badArgumentsAreEinval() {
    long a = t.mmapAnon(2 * 4096);
    MigrateDevice md = vm.migrateDevice();
    Vma v = t.mm().vmaLookup(a);
    assertEinval(md, null, a, a + 4096, 1);
    assertEinval(md, v, a + 1, a + 4096, 1);
    assertEinval(md, v, a, a, 1);
    assertEinval(md, v, a + 4096, a, 1);
    assertEinval(md, v, a, a + 3 * 4096, 3);
    assertEinval(md, v, a, a + 2 * 4096, 1);
    t.exit();
  }

  private static void assertEinval(MigrateDevice md, Vma v, long s, long e, int n) {
    MigrateVma m = new MigrateVma();
    m.vma = v;
    m.start = s;
    m.end = e;
    m.src = new long[n];
    m.dst = new long[n];
    KernelException x = assertThrows(KernelException.class, () -> md.migrateVmaSetup(m));
    assertEquals(Errno.EINVAL, x.errno());
  }

  @Test
  void migrateToRamFailureIsSigbusWithoutLeaks() {
    long a = t.mmapAnon(4096);
    t.storeLong(a, 1);
    dev.migrateToDevice(t.mm(), a, 1);
    long d = Pte.entryPfn(pte(t, a));
    dev.failMigrateToRam = true;
    KernelException x = assertThrows(KernelException.class, () -> t.loadLong(a));
    assertTrue(x.getMessage().contains("SIGBUS"), x.getMessage());
    assertEquals(1, mem.memmap().refcount(d), "the fault's reference was dropped");
    assertFalse(mem.memmap().testFlag(d, PageFlags.PG_LOCKED));
    // faultin_page(): GUP turns the VM_FAULT_SIGBUS into -EFAULT, with nothing taken
    long[] pages = new long[1];
    KernelException g =
        assertThrows(
            KernelException.class, () -> vm.gup().getUserPages(t, a, 1, Foll.FOLL_WRITE, pages));
    assertEquals(Errno.EFAULT, g.errno());
    assertEquals(1, mem.memmap().refcount(d));
    assertFalse(mem.memmap().testFlag(d, PageFlags.PG_LOCKED));
    assertTrue(mem.debugVm().checkNoPinsHeld().isEmpty());
    mem.debugVm().assertConsistent();
    dev.failMigrateToRam = false;
    assertEquals(1, t.loadLong(a));
    t.exit();
  }

  @Test
  void exitAndMadviseDontneedZapDeviceEntries() throws Exception {
    vm.swapon(new RamSwapDevice(64)); // a device entry must never be freed as a swap slot
    long a = t.mmapAnon(2 * 4096);
    t.storeLong(a, 1);
    t.storeLong(a + 4096, 2);
    dev.migrateToDevice(t.mm(), a, 2);
    t.madvise(a, 4096, MADV_DONTNEED);
    assertEquals(1, dev.freed.size());
    assertEquals(0, pte(t, a));
    assertEquals(1, t.mm().anonPages.get());
    t.exit();
    assertEquals(2, dev.freed.size(), "exit zapped the other one");
  }

  @Test
  void forkSharesTheDevicePageReadOnly() {
    long a = t.mmapAnon(4096);
    t.storeLong(a, 5);
    dev.migrateToDevice(t.mm(), a, 1);
    long d = Pte.entryPfn(pte(t, a));
    Task c = t.fork("c");
    assertTrue(Pte.isDevicePrivate(pte(t, a)));
    assertFalse(Pte.isDevicePrivateWrite(pte(t, a)), "COW: the parent's entry is readable now");
    assertFalse(Pte.isDevicePrivateWrite(pte(c, a)));
    assertEquals(d, Pte.entryPfn(pte(c, a)));
    assertEquals(2, mem.memmap().mapcount(d));
    assertEquals(2, mem.memmap().refcount(d));
    assertEquals(1, c.mm().anonPages.get());
    // the child's fault migrates the page home for both: try_to_migrate() finds the parent's entry
    assertEquals(5, c.loadLong(a));
    long p = Pte.pfn(pte(c, a));
    assertEquals(p, Pte.pfn(pte(t, a)));
    assertEquals(2, mem.memmap().mapcount(p));
    assertEquals(List.of(d), dev.freed);
    c.storeLong(a, 6);
    assertEquals(5, t.loadLong(a), "copy on write after the device page came home");
    c.exit();
    t.exit();
  }

  @Test
  void mprotectReadOnlyMakesTheEntryReadable() {
    long a = t.mmapAnon(4096);
    t.storeLong(a, 5);
    dev.migrateToDevice(t.mm(), a, 1);
    t.mprotect(a, 4096, PROT_READ);
    assertTrue(Pte.isDevicePrivate(pte(t, a)));
    assertFalse(Pte.isDevicePrivateWrite(pte(t, a)));
    assertEquals(5, t.loadLong(a));
    assertFalse(Pte.write(pte(t, a)), "came home read-only");
    t.exit();
  }

  @Test
  void gupNeverPinsADevicePrivatePage() {
    long a = t.mmapAnon(2 * 4096);
    t.storeLong(a, 5);
    t.storeLong(a + 4096, 6);
    dev.migrateToDevice(t.mm(), a, 2);
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(t, a, 1, Foll.FOLL_WRITE, pages));
    assertFalse(isDevicePage(pages[0]), "the slow path faulted it home first");
    assertEquals(pages[0], Pte.pfn(pte(t, a)));
    assertEquals(5, mem.ram().readLong(pages[0], 0));
    gup.unpinUserPage(pages[0]);
    assertEquals(1, gup.pinUserPagesFast(t, a + 4096, 1, Foll.FOLL_WRITE, pages));
    assertFalse(isDevicePage(pages[0]), "gup_fast fell back to the slow path");
    assertEquals(6, mem.ram().readLong(pages[0], 0));
    gup.unpinUserPage(pages[0]);
    assertEquals(2, dev.freed.size());
    t.exit();
  }

  @Test
  void debugVmFlagsAPinnedDevicePrivatePage() {
    long a = t.mmapAnon(4096);
    t.storeLong(a, 5);
    dev.migrateToDevice(t.mm(), a, 1);
    long d = Pte.entryPfn(pte(t, a));
    assertTrue(mem.debugVm().check().isEmpty(), "device-private mappings are consistent");
    vm.memmap().refAdd(d, Foll.GUP_PIN_COUNTING_BIAS);
    List<String> p = mem.debugVm().check();
    assertTrue(p.stream().anyMatch(s -> s.contains("device-private page pinned")), p.toString());
    vm.memmap().refAdd(d, -Foll.GUP_PIN_COUNTING_BIAS);
    t.exit();
  }

  @Test
  void deviceRangeEvictionBringsEveryMappedPageHome() {
    long a = t.mmapAnon(3 * 4096);
    for (int i = 0; i < 3; i++) {
      t.storeLong(a + i * 4096L, 100 + i);
    }
    dev.migrateToDevice(t.mm(), a, 3);
    Task c = t.fork("c");
    t.munmap(a + 2 * 4096, 4096); // the child alone maps the last one
    dev.evictAll();
    for (int i = 0; i < 3; i++) {
      long e = pte(c, a + i * 4096L);
      assertTrue(Pte.present(e), "child page " + i);
      assertFalse(isDevicePage(Pte.pfn(e)));
      assertEquals(100 + i, c.loadLong(a + i * 4096L));
      if (i < 2) {
        assertEquals(Pte.pfn(e), Pte.pfn(pte(t, a + i * 4096L)));
        assertEquals(2, mem.memmap().mapcount(Pte.pfn(e)));
      }
    }
    assertEquals(0, dev.migrateToRamCalls, "eviction, not faults");
    assertEquals(3, dev.freed.size());
    assertEquals(64, dev.free.size(), "nothing left on the device");
    c.exit();
    t.exit();
    mem.memunmapPages(dev.pgmap);
  }

  @Test
  void migrationEntriesStandInWhileTheDriverCopies() throws Exception {
    long a = t.mmapAnon(4096);
    t.storeLong(a, 11);
    long src = Pte.pfn(pte(t, a));
    MigrateVma m = new MigrateVma();
    t.mm().mmapReadLock();
    try {
      m.vma = t.mm().vmaLookup(a);
      m.start = a;
      m.end = a + 4096;
      m.src = new long[1];
      m.dst = new long[1];
      m.pgmapOwner = dev.owner;
      m.flags = SELECT_SYSTEM;
      vm.migrateDevice().migrateVmaSetup(m);
      long e = pte(t, a);
      assertTrue(Migrate.isMigrationEntry(e), "a CPU fault now waits in migration_entry_wait()");
      assertEquals(src, Pte.entryPfn(e));
      assertTrue(mem.memmap().testFlag(src, PageFlags.PG_LOCKED));
      assertEquals(0, mem.memmap().mapcount(src));
      assertEquals(1, mem.memmap().refcount(src), "only the isolation's reference");
      // a racing CPU access blocks until finalize replaces the entry
      java.util.concurrent.atomic.AtomicLong seen = new java.util.concurrent.atomic.AtomicLong(-1);
      Thread cpu = new Thread(() -> seen.set(t.loadLong(a)));
      cpu.start();
      long d = dev.allocDevicePage();
      mem.ram().copyPage(d, src);
      m.dst[0] = migratePfn(d);
      vm.migrateDevice().migrateVmaPages(m);
      vm.migrateDevice().migrateVmaFinalize(m);
      t.mm().mmapReadUnlock();
      cpu.join(60_000);
      assertFalse(cpu.isAlive());
      assertEquals(11, seen.get(), "the racing access saw the data");
      t.mm().mmapReadLock();
    } finally {
      t.mm().mmapReadUnlock();
    }
    assertEquals(11, t.loadLong(a));
    t.exit();
  }
}
