package dev.refkern.mm;

import static dev.refkern.mm.PageFlags.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.vm.Filemap;
import dev.refkern.mm.vm.PageWriteback;
import dev.refkern.mm.vm.PinnedTruncateDecision;
import dev.refkern.mm.vm.PinnedWritebackDecision;
import dev.refkern.mm.vm.Truncate;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The in-memory backing store: contents survive eviction, holes, injected errors. */
class RamBackedAopsTest {
  @TempDir Path dir;
  private PhysicalMemory mem;
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

  private void assertAllFreedAfterTruncate() {
    truncate.truncateInodePages(as, 0);
    assertEquals(freeAtStart, alloc.nrFreePages(), "a page leaked");
    assertEquals(List.of(), mem.debugVm().check());
  }

  private static long marker(byte[] b) {
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
  }

  @Test
  void writtenDataComesBackFromTheStoreAfterTruncate() {
    long pfn = filemap.filemapGrabFolio(as, 0);
    mem.ram().writeLong(pfn, 0, 0x1234_5678L); // a full-page write: write_begin .. write_end
    MemmapTesting.ops(mem).setFlag(pfn, PG_UPTODATE);
    folios.folioMarkDirty(pfn);
    folios.folioUnlock(pfn);
    alloc.putPage(pfn);
    assertEquals(0, filemap.filemapFdatawrite(as));
    assertEquals(1, aops.writes());
    assertEquals(0x1234_5678L, marker(aops.readBlock(0)));

    truncate.truncateInodePages(as, 0);
    assertEquals(freeAtStart, alloc.nrFreePages(), "evicted");
    long again = filemap.readMappingFolio(as, 0);
    assertEquals(0x1234_5678L, mem.ram().readLong(again, 0));
    assertEquals(1, aops.reads());
    alloc.putPage(again);
    assertAllFreedAfterTruncate();
  }

  @Test
  void holesReadAsZerosAndTruncateBlocksPunchesThem() {
    byte[] data = new byte[100];
    data[0] = 7;
    aops.writeBlock(3, data);
    assertTrue(aops.hasBlock(3));
    assertEquals(Page.PAGE_SIZE, aops.readBlock(3).length, "zero-padded to a block");
    long pfn = filemap.readMappingFolio(as, 3);
    assertEquals(7, mem.ram().readLong(pfn, 0));
    alloc.putPage(pfn);
    truncate.truncateInodePages(as, 0);
    aops.truncateBlocks(2);
    assertFalse(aops.hasBlock(3));
    pfn = filemap.readMappingFolio(as, 3);
    assertEquals(0, mem.ram().readLong(pfn, 0));
    alloc.putPage(pfn);
    assertThrows(KernelException.class, () -> aops.writeBlock(0, new byte[5000]));
    assertAllFreedAfterTruncate();
  }

  @Test
  void largeFolioReadsAndWritesEveryBlock() {
    for (int i = 0; i < 4; i++) {
      aops.writeBlock(4 + i, new byte[] {(byte) (10 + i)});
    }
    long head = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE, 2);
    assertEquals(0, filemap.filemapAddFolio(as, head, 4));
    assertEquals(0, aops.readFolio(as, head));
    assertFalse(folios.folioTestLocked(head), "read_folio unlocks");
    for (int i = 0; i < 4; i++) {
      assertEquals(10 + i, mem.ram().readLong(head + i, 0));
      mem.ram().writeLong(head + i, 0, 20 + i);
    }
    folios.folioMarkDirty(head);
    assertEquals(4, as.nrDirty());
    alloc.putPage(head);
    assertEquals(0, filemap.filemapFdatawrite(as));
    assertEquals(1, aops.writes(), "one folio, one write");
    for (int i = 0; i < 4; i++) {
      assertEquals(20 + i, marker(aops.readBlock(4 + i)));
    }
    assertAllFreedAfterTruncate();
  }

  @Test
  void injectedReadErrorFailsOnlyOnce() {
    aops.failNextRead(Errno.EIO);
    assertEquals(
        Errno.EIO,
        assertThrows(KernelException.class, () -> filemap.readMappingFolio(as, 0)).errno());
    long pfn = filemap.readMappingFolio(as, 0);
    assertEquals(2, aops.reads());
    alloc.putPage(pfn);
    assertAllFreedAfterTruncate();
  }
}
