package dev.refkern.mm;

import static dev.refkern.mm.PageFlags.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.vm.Filemap;
import dev.refkern.mm.vm.Migrate;
import dev.refkern.mm.vm.PageWriteback;
import dev.refkern.mm.vm.PinnedTruncateDecision;
import dev.refkern.mm.vm.PinnedWritebackDecision;
import dev.refkern.mm.vm.Truncate;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The page cache: {@code filemap_add_folio}, lookup, removal, reads, truncation, migration. */
class AddressSpaceTest {
  @TempDir Path dir;
  private PhysicalMemory mem;
  private MemmapOps memmap;
  private PageAllocator alloc;
  private RamBackedAops aops;
  private AddressSpace as;
  private FolioOps folios;
  // The page cache's vm-package code, without a VirtualMemory: nothing is mapped or pinned here.
  private PageWriteback writeback;
  private Filemap filemap;
  private Truncate truncate;
  private long freeAtStart;

  @BeforeEach
  void boot() {
    mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false);
    memmap = MemmapTesting.ops(mem);
    alloc = mem.allocator();
    aops = new RamBackedAops();
    as = AddressSpace.create(mem, aops);
    folios = new FolioOps(mem);
    writeback = new PageWriteback(mem, folios, null, pfn -> false, PinnedWritebackDecision.IGNORE);
    filemap = new Filemap(mem, folios, writeback);
    truncate =
        new Truncate(mem, folios, filemap, null, pfn -> false, PinnedTruncateDecision.ORPHAN);
    freeAtStart = alloc.nrFreePages();
  }

  @AfterEach
  void close() {
    mem.close();
  }

  private void assertClean() {
    assertEquals(List.of(), mem.debugVm().check());
  }

  /** Empties the cache and checks that every page went back to the allocator. */
  private void assertAllFreedAfterTruncate() {
    truncate.truncateInodePages(as, 0);
    assertEquals(0, as.nrPages());
    assertEquals(freeAtStart, alloc.nrFreePages(), "a page leaked");
    assertClean();
  }

  private static byte[] block(long marker) {
    byte[] b = new byte[Page.PAGE_SIZE];
    for (int i = 0; i < 8; i++) {
      b[i] = (byte) (marker >>> (8 * i));
    }
    return b;
  }

  private static long marker(byte[] b) {
    return java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0);
  }

  @Test
  void pageCacheHoldsOneReferencePerPageAndLookupAddsOne() {
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    assertEquals(0, filemap.filemapAddFolio(as, pfn, 5));
    assertTrue(folios.folioTestLocked(pfn), "filemap_add_folio returns the folio locked");
    assertEquals(2, memmap.refcount(pfn), "caller + page cache");
    assertEquals(as.id(), memmap.mapping(pfn));
    assertEquals(5, memmap.index(pfn));
    assertEquals(1, as.nrPages());
    assertSame(as, mem.mapping(as.id()));
    folios.folioUnlock(pfn);
    alloc.putPage(pfn);
    assertEquals(1, memmap.refcount(pfn), "only the page cache's reference is left");

    long got = filemap.filemapGetFolio(as, 5);
    assertEquals(pfn, got);
    assertEquals(2, memmap.refcount(pfn));
    assertEquals(PageAllocator.NO_PFN, filemap.filemapGetFolio(as, 6));
    assertEquals(PageAllocator.NO_PFN, filemap.filemapGetFolio(as, -1));

    folios.folioLock(got);
    filemap.filemapRemoveFolio(as, got);
    assertEquals(0, memmap.mapping(pfn));
    assertEquals(5, memmap.index(pfn), "index survives removal, truncation relies on it");
    assertEquals(1, memmap.refcount(pfn), "the cache dropped its reference, ours remains");
    assertEquals(0, as.nrPages());
    assertEquals(PageAllocator.NO_PFN, filemap.filemapGetFolio(as, 5));
    folios.folioUnlock(got);
    alloc.putPage(got);
    assertEquals(freeAtStart, alloc.nrFreePages());
    assertClean();
  }

  @Test
  void largeFolioTakesOneReferencePerPageAndCoversItsIndices() {
    long head = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE, 2);
    assertEquals(0, filemap.filemapAddFolio(as, head, 8));
    assertEquals(1 + 4, memmap.refcount(head));
    assertEquals(4, as.nrPages());
    folios.folioUnlock(head);
    alloc.putPage(head);
    assertEquals(head, filemap.filemapGetFolio(as, 10), "a lookup inside the folio finds its head");
    alloc.putPage(head);
    long other = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    assertEquals(-Errno.EEXIST.number(), filemap.filemapAddFolio(as, other, 11));
    assertEquals(1, memmap.refcount(other));
    alloc.putPage(other);
    assertAllFreedAfterTruncate();
  }

  @Test
  void addingAtAnOccupiedIndexIsEexistAndLeavesTheFolioAlone() {
    long a = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    long b = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    assertEquals(0, filemap.filemapAddFolio(as, a, 3));
    assertEquals(-Errno.EEXIST.number(), filemap.filemapAddFolio(as, b, 3));
    assertEquals(1, memmap.refcount(b));
    assertEquals(0, memmap.mapping(b));
    assertFalse(folios.folioTestLocked(b));
    assertEquals(a, filemap.filemapGetFolio(as, 3));
    alloc.putPage(a);
    folios.folioUnlock(a);
    alloc.putPage(a);
    alloc.putPage(b);
    assertEquals(1, as.nrPages());
    assertAllFreedAfterTruncate();
  }

  @Test
  void grabFolioCreatesOnceThenFindsAndLocks() {
    long pfn = filemap.filemapGrabFolio(as, 7);
    assertTrue(folios.folioTestLocked(pfn));
    assertEquals(2, memmap.refcount(pfn));
    folios.folioUnlock(pfn);
    alloc.putPage(pfn);
    long again = filemap.filemapGrabFolio(as, 7, Gfp.KERNEL);
    assertEquals(pfn, again);
    assertTrue(folios.folioTestLocked(again));
    folios.folioUnlock(again);
    alloc.putPage(again);
    assertEquals(1, as.nrPages());
    assertAllFreedAfterTruncate();
  }

  @Test
  void grabFolioFailsWithEnomemAndAddsNothing() {
    List<Long> hog = new ArrayList<>();
    for (long p;
        (p = alloc.allocPages(Gfp.HIGHUSER_MOVABLE | Gfp.HIGH | Gfp.NOWARN, 0))
            != PageAllocator.NO_PFN; ) {
      hog.add(p);
    }
    KernelException e = assertThrows(KernelException.class, () -> filemap.filemapGrabFolio(as, 0));
    assertEquals(Errno.ENOMEM, e.errno());
    assertEquals(0, as.nrPages());
    hog.forEach(alloc::putPage);
    assertAllFreedAfterTruncate();
  }

  @Test
  void readMappingFolioReadsOnceThenHitsTheCache() {
    aops.writeBlock(2, block(0xfeedL));
    long pfn = filemap.readMappingFolio(as, 2);
    assertFalse(folios.folioTestLocked(pfn), "returned unlocked");
    assertTrue(memmap.testFlag(pfn, PG_UPTODATE));
    assertEquals(2, memmap.refcount(pfn), "caller + page cache");
    assertEquals(0xfeedL, mem.ram().readLong(pfn, 0));
    assertEquals(1, aops.reads());
    alloc.putPage(pfn);

    assertEquals(pfn, filemap.readMappingFolio(as, 2));
    assertEquals(1, aops.reads(), "the second read is a cache hit");
    alloc.putPage(pfn);

    long hole = filemap.readMappingFolio(as, 9);
    assertEquals(0, mem.ram().readLong(hole, 0), "a hole reads as zeros");
    alloc.putPage(hole);
    assertEquals(2, aops.reads());
    assertAllFreedAfterTruncate();
  }

  @Test
  void readErrorLeavesNoFolioInTheCacheAndNoReference() {
    aops.failNextRead(Errno.EIO);
    KernelException e = assertThrows(KernelException.class, () -> filemap.readMappingFolio(as, 4));
    assertEquals(Errno.EIO, e.errno());
    assertEquals(0, as.nrPages());
    assertEquals(PageAllocator.NO_PFN, filemap.filemapGetFolio(as, 4));
    assertEquals(freeAtStart, alloc.nrFreePages(), "the failed folio went back to the allocator");
    assertClean();

    long pfn = filemap.readMappingFolio(as, 4);
    assertEquals(2, aops.reads(), "the next reader retries the read");
    alloc.putPage(pfn);
    assertAllFreedAfterTruncate();
  }

  @Test
  void readFolioThatForgetsUptodateIsEio() {
    AddressSpace bad =
        AddressSpace.create(
            mem,
            (m, pfn) -> {
              m.folios().folioUnlock(pfn); // claims success, never sets PG_uptodate
              return 0;
            });
    KernelException e = assertThrows(KernelException.class, () -> filemap.readMappingFolio(bad, 0));
    assertEquals(Errno.EIO, e.errno());
    assertEquals(0, bad.nrPages());
    assertEquals(freeAtStart, alloc.nrFreePages());
    assertClean();
  }

  @Test
  void truncateRemovesFoliosFromIndex() {
    long[] pfns = new long[6];
    for (int i = 0; i < 6; i++) {
      pfns[i] = filemap.readMappingFolio(as, i);
      alloc.putPage(pfns[i]);
    }
    mem.ram().writeLong(pfns[4], 0, 42);
    assertTrue(folios.folioMarkDirty(pfns[4]));
    assertEquals(1, as.nrDirty());

    // Unmapping mapped folios first is FileMappingTest's and PinnedPageCacheTest's (a real rmap).
    truncate.truncateInodePages(as, 3);
    assertEquals(3, as.nrPages());
    assertEquals(0, as.nrDirty(), "truncation cancels the dirty bit");
    assertEquals(0, mem.health().warnCount());
    for (int i = 0; i < 6; i++) {
      long got = filemap.filemapGetFolio(as, i);
      if (i < 3) {
        assertEquals(pfns[i], got);
        alloc.putPage(got);
      } else {
        assertEquals(PageAllocator.NO_PFN, got);
      }
    }
    assertEquals(0, aops.writes(), "truncated dirty data is dropped, not written");
    assertAllFreedAfterTruncate();
  }

  @Test
  void truncateOfAStraddlingLargeFolioZeroesItsTail() {
    long head = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE, 2);
    assertEquals(0, filemap.filemapAddFolio(as, head, 4));
    for (int i = 0; i < 4; i++) {
      mem.ram().writeLong(head + i, 0, 100 + i);
    }
    memmap.setFlag(head, PG_UPTODATE);
    folios.folioUnlock(head);
    alloc.putPage(head);
    truncate.truncateInodePages(as, 6);
    assertEquals(4, as.nrPages(), "the folio stays whole");
    assertEquals(100, mem.ram().readLong(head, 0));
    assertEquals(101, mem.ram().readLong(head + 1, 0));
    assertEquals(0, mem.ram().readLong(head + 2, 0));
    assertEquals(0, mem.ram().readLong(head + 3, 0));
    assertAllFreedAfterTruncate();
  }

  @Test
  void finalTruncateUnregistersTheMapping() {
    AddressSpace other = AddressSpace.create(mem, new RamBackedAops());
    assertTrue(other.id() >= 1);
    assertNotEquals(as.id(), other.id());
    assertSame(other, mem.mapping(other.id()));
    assertNull(mem.mapping(0));
    assertNull(mem.mapping(Long.MAX_VALUE));
    alloc.putPage(filemap.readMappingFolio(other, 0));
    truncate.truncateInodePagesFinal(other);
    assertNull(mem.mapping(other.id()));
    assertSame(as, mem.mapping(as.id()));
    assertEquals(0, other.nrPages());
    assertTrue((other.flags() & (1L << AddressSpace.AS_EXITING)) != 0);
    assertAllFreedAfterTruncate();
  }

  @Test
  void sparseIndicesIterateInOrder() {
    long[] indices = {0, 63, 64, 4095, 1L << 40, AddressSpace.MAX_INDEX};
    for (long i : indices) {
      long pfn = filemap.filemapGrabFolio(as, i);
      memmap.setFlag(pfn, PG_UPTODATE); // as a full-page write_end() would
      if (i != 64) {
        assertTrue(folios.folioMarkDirty(pfn));
      }
      folios.folioUnlock(pfn);
      alloc.putPage(pfn);
    }
    assertEquals(indices.length, as.nrPages());
    for (long i : indices) {
      long pfn = filemap.filemapGetFolio(as, i);
      assertEquals(i, memmap.index(pfn));
      alloc.putPage(pfn);
    }
    assertEquals(PageAllocator.NO_PFN, filemap.filemapGetFolio(as, 65));
    assertEquals(PageAllocator.NO_PFN, filemap.filemapGetFolio(as, AddressSpace.MAX_INDEX + 1));
    List<Long> dirty = new ArrayList<>();
    filemap.forEachDirty(as, 0, AddressSpace.MAX_INDEX, dirty::add);
    assertEquals(List.of(0L, 63L, 4095L, 1L << 40, AddressSpace.MAX_INDEX), dirty);
    dirty.clear();
    filemap.forEachDirty(as, 64, 1L << 40, dirty::add);
    assertEquals(List.of(4095L, 1L << 40), dirty);
    assertEquals(5, as.nrDirty());
    truncate.truncateInodePages(as, 64);
    assertEquals(2, as.nrPages());
    assertEquals(2, as.nrDirty(), "indices 0 and 63 stay dirty");
    assertAllFreedAfterTruncate();
  }

  @Test
  void migrateFolioRefusesAnExtraReferenceAndOtherwiseMovesTheSlot() {
    aops.writeBlock(1, block(0xabcdL));
    long src = filemap.readMappingFolio(as, 1);
    assertEquals(2, folios.expectedRefcount(src), "the caller's reference + the page cache's");
    assertTrue(folios.folioMarkDirty(src));
    long dst = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    folios.folioLock(src);
    folios.folioLock(dst);

    memmap.refAdd(src, 1024); // a FOLL_PIN-like reference
    assertEquals(-Errno.EAGAIN.number(), Migrate.filemapMigrateFolio(folios, as, dst, src));
    assertEquals(2 + 1024, memmap.refcount(src));
    assertEquals(0, memmap.mapping(dst));
    assertEquals(1, memmap.refcount(dst));
    long found = filemap.filemapGetFolio(as, 1);
    assertEquals(src, found, "a refused migration leaves the cache alone");
    alloc.putPage(found);
    memmap.refAdd(src, -1024);

    assertEquals(0, Migrate.filemapMigrateFolio(folios, as, dst, src));
    assertEquals(0xabcdL, mem.ram().readLong(dst, 0), "contents copied");
    assertEquals(as.id(), memmap.mapping(dst));
    assertEquals(1, memmap.index(dst));
    assertTrue(memmap.testFlag(dst, PG_UPTODATE));
    assertTrue(memmap.testFlag(dst, PG_DIRTY), "dirty moves with the data");
    assertFalse(memmap.testFlag(src, PG_DIRTY));
    assertEquals(0, memmap.mapping(src));
    assertEquals(1, memmap.refcount(src), "only the migrating caller's reference is left");
    assertEquals(2, memmap.refcount(dst), "the caller's + the page cache's");
    assertEquals(1, as.nrDirty());
    assertTrue(as.testDirtyTag(1));
    long now = filemap.filemapGetFolio(as, 1);
    assertEquals(dst, now);
    alloc.putPage(now);
    folios.folioUnlock(src);
    folios.folioUnlock(dst);
    alloc.putPage(src);
    alloc.putPage(dst);
    assertEquals(0, filemap.filemapFdatawrite(as));
    assertEquals(0xabcdL, marker(aops.readBlock(1)), "writeback wrote the migrated folio");
    assertAllFreedAfterTruncate();
  }

  @Test
  void migrateFolioRefusesAMappedFolio() {
    long src = filemap.readMappingFolio(as, 0);
    memmap.mapcountAdd(src, 1);
    alloc.getPage(src);
    long dst = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    folios.folioLock(src);
    folios.folioLock(dst);
    assertEquals(3, folios.expectedRefcount(src));
    assertEquals(-Errno.EAGAIN.number(), Migrate.filemapMigrateFolio(folios, as, dst, src));
    folios.folioUnlock(src);
    folios.folioUnlock(dst);
    memmap.mapcountAdd(src, -1);
    alloc.putPage(src);
    alloc.putPage(src);
    alloc.putPage(dst);
    assertAllFreedAfterTruncate();
  }

  @Test
  void removingAMappedFolioIsBug() {
    long pfn = filemap.readMappingFolio(as, 0);
    memmap.mapcountAdd(pfn, 1);
    folios.folioLock(pfn);
    assertThrows(KernelBugException.class, () -> filemap.filemapRemoveFolio(as, pfn));
    assertTrue(mem.health().isDead());
    assertEquals(as.id(), memmap.mapping(pfn), "the BUG left the cache as it was");
    memmap.mapcountAdd(pfn, -1);
    assertClean();
  }
}
