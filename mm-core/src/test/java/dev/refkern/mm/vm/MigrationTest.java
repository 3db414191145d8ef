package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.VmItem;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierOps;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code migrate_pages()}: the expected-refcount rule, the CLEAR notifier of try_to_migrate_one(),
 * anon and file folios.
 */
class MigrationTest extends VmTestBase {
  @Test
  void anonPageMovesWithItsMappingsInBothProcesses() {
    boot();
    Task p = vm.createTask("p");
    long a = p.mmapAnon(4096);
    p.storeLong(a, 5);
    Task c = p.fork("c");
    settle();
    long src = Pte.pfn(p.mm().pte(a));
    List<MmuNotifierEvent> events = new ArrayList<>();
    p.mm()
        .notifiers()
        .register(
            new MmuNotifierOps() {
              @Override
              public int invalidateRangeStart(
                  dev.refkern.notifier.MmuNotifier s, MmuNotifierRange r) {
                events.add(r.event());
                return 0;
              }
            });
    long free = mem.allocator().nrFreePages();
    assertEquals(0, vm.migrateFolio(src, true));
    settle();
    long dst = Pte.pfn(p.mm().pte(a));
    assertNotEquals(src, dst);
    assertEquals(dst, Pte.pfn(c.mm().pte(a)), "both mappings follow");
    assertEquals(2, mem.memmap().mapcount(dst));
    assertEquals(2, mem.memmap().refcount(dst));
    assertEquals(5, p.loadLong(a));
    assertEquals(5, c.loadLong(a));
    // try_to_migrate_one() sends CLEAR; MIGRATE is for migrate_vma_*() (device migration) only
    assertEquals(List.of(MmuNotifierEvent.CLEAR), events);
    assertEquals(free, mem.allocator().nrFreePages(), "the source was freed");
    assertEquals(1, mem.vmstat().get(VmItem.PGMIGRATE_SUCCESS));
    c.exit();
    p.exit();
  }

  @Test
  void aPinnedPageIsNotMigrated() {
    boot();
    Task t = vm.createTask("t");
    long a = t.mmapAnon(4096);
    t.storeLong(a, 5);
    long[] pages = new long[1];
    gup.pinUserPages(t, a, 1, Foll.FOLL_WRITE, pages);
    assertEquals(-Errno.EAGAIN.number(), vm.migrateFolio(pages[0], true));
    assertEquals(pages[0], Pte.pfn(t.mm().pte(a)), "mapped back to the same page");
    assertEquals(1, mem.memmap().mapcount(pages[0]));
    assertEquals(1 + Foll.GUP_PIN_COUNTING_BIAS, mem.memmap().refcount(pages[0]));
    assertEquals(1, mem.vmstat().get(VmItem.PGMIGRATE_FAIL));
    gup.unpinUserPage(pages[0]);
    assertEquals(0, vm.migrateFolio(pages[0], true), "once unpinned it moves");
    t.exit();
  }

  @Test
  void pageCacheFolioMovesItsCacheSlotAndMappings() {
    boot();
    RamBackedAops disk = new RamBackedAops();
    AddressSpace file = AddressSpace.create(mem, disk);
    file.setSize(4096);
    byte[] block = new byte[4096];
    block[0] = 42;
    disk.writeBlock(0, block);
    Task t = vm.createTask("t");
    long a = t.mmap(0, 4096, PROT_READ, MAP_SHARED, file, 0);
    assertEquals(42, t.loadLong(a) & 0xff);
    long src = Pte.pfn(t.mm().pte(a));
    assertEquals(0, vm.migrateFolio(src, true));
    long dst = Pte.pfn(t.mm().pte(a));
    assertNotEquals(src, dst);
    long cached = vm.filemap().filemapGetFolio(file, 0);
    assertEquals(dst, cached, "the page cache slot points at the new folio");
    mem.allocator().putPage(cached);
    assertEquals(42, t.loadLong(a) & 0xff);
    t.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void badPfnIsEinval() {
    boot();
    assertEquals(
        Errno.EINVAL,
        assertThrows(dev.refkern.mm.KernelException.class, () -> vm.migrateFolio(-1, true))
            .errno());
    assertEquals(
        -Errno.EAGAIN.number(), vm.migrateFolio(vm.zeroPfn(), true), "the zero page stays");
  }
}
