package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.RamBackedAops;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Writeback and truncate of a page-cache folio pinned with {@code pin_user_pages()}: mainline's
 * outcome, and the one decision point each consulted exactly for the pinned folios.
 */
class PinnedPageCacheTest extends VmTestBase {
  private RamBackedAops disk;
  private AddressSpace file;
  private Task task;
  private Memmap memmap;
  private FolioOps folios;

  @BeforeEach
  void setUp() {
    boot();
    disk = new RamBackedAops();
    file = AddressSpace.create(mem, disk);
    file.setSize(2 * 4096);
    task = vm.createTask("t");
    memmap = mem.memmap();
    folios = new FolioOps(mem);
  }

  @Test
  void writebackWritesAPinnedFolioAsItIsAndAsksOnlyForIt() {
    long a = task.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(a, 1);
    task.storeLong(a + 4096, 2);
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, a, 1, FOLL_WRITE, pages));
    List<Long> asked = new ArrayList<>();
    PageWriteback wb =
        new PageWriteback(
            mem,
            folios,
            vm.rmap(),
            gup::maybeDmaPinnedUnchecked,
            (mapping, head, mode) -> {
              assertSame(file, mapping);
              assertTrue(folios.folioTestLocked(head), "asked under the folio lock");
              assertEquals(WbSyncMode.ALL, mode, "write_cache_pages() is WB_SYNC_ALL");
              asked.add(head);
              return PinnedWritebackDecision.Action.WRITE;
            });

    assertEquals(0, wb.writeCachePages(file, 0, AddressSpace.MAX_INDEX));
    assertEquals(List.of(pages[0]), asked, "consulted for the pinned folio only");
    assertEquals(2, disk.writes(), "mainline writes the pinned folio like any other");
    assertEquals(1, disk.readBlock(0)[0]);
    assertEquals(0, file.nrDirty(), "and marks it clean while DMA may still change it");
    assertFalse(folios.folioTestDirty(pages[0]));
    assertFalse(Pte.write(task.mm().pte(a)), "folio_mkclean write-protected the pte");
    assertFalse(Pte.dirty(task.mm().pte(a)));
    settle();
    assertEquals(GUP_PIN_COUNTING_BIAS + 2, memmap.refcount(pages[0]), "pin + page cache + pte");
    assertTrue(gup.folioMaybeDmaPinned(pages[0]));

    mem.ram().writeLong(pages[0], 0, 3); // the device's DMA after writeback
    assertFalse(folios.folioTestDirty(pages[0]), "nothing tells the page cache");
    task.storeLong(a, 4); // a CPU store faults on the clean pte and redirties
    assertTrue(folios.folioTestDirty(pages[0]));
    assertEquals(1, file.nrDirty());

    gup.unpinUserPagesDirtyLock(pages, 1, true);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void truncateOrphansAPinnedFolioAndAsksOnlyForIt() {
    long a = task.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.loadLong(a);
    task.loadLong(a + 4096);
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, a + 4096, 1, 0, pages));
    long unpinned = Pte.pfn(task.mm().pte(a));
    List<Long> asked = new ArrayList<>();
    Truncate truncate =
        new Truncate(
            mem,
            folios,
            vm.filemap(),
            vm.memory(),
            gup::maybeDmaPinnedUnchecked,
            (mapping, head) -> {
              assertSame(file, mapping);
              assertTrue(folios.folioTestLocked(head), "asked under the folio lock");
              assertFalse(folios.folioMapped(head), "after unmap_mapping_folio()");
              assertEquals(file.id(), memmap.mapping(head), "before it leaves the cache");
              asked.add(head);
              return PinnedTruncateDecision.Action.REMOVE;
            });

    file.setSize(0);
    truncate.truncateInodePages(file, 0);
    assertEquals(List.of(pages[0]), asked, "consulted for the pinned folio only");
    assertEquals(0, file.nrPages());
    assertEquals(0, task.mm().pte(a + 4096), "truncate zapped the mapping");
    settle();
    assertEquals(0, memmap.refcount(unpinned), "the unpinned folio is freed");
    assertEquals(
        GUP_PIN_COUNTING_BIAS, memmap.refcount(pages[0]), "the orphan lives on for its pin");
    assertEquals(0, memmap.mapping(pages[0]), "out of the page cache");
    assertTrue(memmap.testFlag(pages[0], PageFlags.PG_UPTODATE));

    gup.unpinUserPage(pages[0]);
    assertEquals(0, memmap.refcount(pages[0]), "the last unpin frees it");
    task.exit();
  }

  @Test
  void clearDirtyForIoWriteProtectsTheMappingsThroughTheRmap() {
    long a = task.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(a, 1);
    long pfn = Pte.pfn(task.mm().pte(a));
    assertTrue(Pte.write(task.mm().pte(a)));
    assertEquals(1, file.nrDirty());
    folios.folioLock(pfn);
    assertTrue(vm.pageWriteback().folioClearDirtyForIo(pfn));
    folios.folioUnlock(pfn);
    assertFalse(Pte.write(task.mm().pte(a)), "folio_mkclean write-protected the pte");
    assertFalse(Pte.dirty(task.mm().pte(a)), "and took its dirty bit");
    assertFalse(folios.folioTestDirty(pfn));
    assertEquals(0, file.nrDirty());
    task.storeLong(a, 2);
    assertTrue(folios.folioTestDirty(pfn), "the next store faults and dirties it again");
    assertEquals(1, file.nrDirty());
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }
}
