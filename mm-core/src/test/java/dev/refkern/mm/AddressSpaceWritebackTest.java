package dev.refkern.mm;

import static dev.refkern.mm.PageFlags.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.spi.AddressSpaceOperations;
import dev.refkern.mm.vm.Filemap;
import dev.refkern.mm.vm.PageWriteback;
import dev.refkern.mm.vm.PinnedTruncateDecision;
import dev.refkern.mm.vm.PinnedWritebackDecision;
import dev.refkern.mm.vm.Truncate;
import dev.refkern.mm.vm.WbSyncMode;
import dev.refkern.mm.vm.WritebackControl;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Dirty tagging, {@code ->writepages}, write errors, {@code page_mkwrite} and stable writes. */
class AddressSpaceWritebackTest {
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

  private void assertAllFreedAfterTruncate() {
    truncate.truncateInodePages(as, 0);
    assertEquals(freeAtStart, alloc.nrFreePages(), "a page leaked");
    assertEquals(List.of(), mem.debugVm().check());
  }

  /** Reads pages {@code [0, n)} into the cache; returns their pfns (no reference kept). */
  private long[] readPages(int n) {
    long[] pfns = new long[n];
    for (int i = 0; i < n; i++) {
      pfns[i] = filemap.readMappingFolio(as, i);
      alloc.putPage(pfns[i]);
    }
    return pfns;
  }

  private static long marker(byte[] b) {
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
  }

  @Test
  void writepagesWritesBackOnlyDirtyFoliosAndCleansThem() {
    long[] p = readPages(4);
    mem.ram().writeLong(p[1], 0, 11);
    mem.ram().writeLong(p[3], 0, 33);
    assertTrue(folios.folioMarkDirty(p[1]));
    assertFalse(folios.folioMarkDirty(p[1]), "already dirty");
    assertTrue(folios.folioMarkDirty(p[3]));
    assertEquals(2, as.nrDirty());
    assertTrue(as.taggedDirty());
    assertTrue(as.testDirtyTag(1));
    assertFalse(as.testDirtyTag(0));

    assertEquals(0, filemap.filemapFdatawrite(as));
    assertEquals(2, aops.writes());
    assertEquals(11, marker(aops.readBlock(1)));
    assertEquals(33, marker(aops.readBlock(3)));
    assertFalse(aops.hasBlock(0), "a clean folio is not written");
    assertFalse(aops.hasBlock(2));
    for (long pfn : p) {
      assertFalse(folios.folioTestDirty(pfn));
      assertFalse(folios.folioTestWriteback(pfn));
      assertFalse(folios.folioTestLocked(pfn));
    }
    assertEquals(0, as.nrDirty());
    assertEquals(0, as.nrWriteback());
    assertFalse(as.taggedDirty());
    assertFalse(as.testWritebackTag(1));

    assertEquals(0, filemap.filemapFdatawrite(as));
    assertEquals(2, aops.writes(), "nothing left to write");
    assertAllFreedAfterTruncate();
  }

  @Test
  void writepagesHonoursItsRange() {
    long[] p = readPages(4);
    for (long pfn : p) {
      folios.folioMarkDirty(pfn);
    }
    assertEquals(0, writeback.doWritepages(as, 1, 2));
    assertEquals(2, aops.writes());
    assertTrue(folios.folioTestDirty(p[0]));
    assertFalse(folios.folioTestDirty(p[1]));
    assertFalse(folios.folioTestDirty(p[2]));
    assertTrue(folios.folioTestDirty(p[3]));
    assertEquals(2, as.nrDirty());
    assertAllFreedAfterTruncate();
  }

  @Test
  void writeErrorIsRecordedForFsyncAndTheDataIsLost() {
    long[] p = readPages(2);
    folios.folioMarkDirty(p[0]);
    folios.folioMarkDirty(p[1]);
    aops.failNextWrite(Errno.EIO);
    assertEquals(-Errno.EIO.number(), filemap.filemapFdatawrite(as));
    assertEquals(2, aops.writes(), "the walk goes on after an error");
    assertFalse(aops.hasBlock(0));
    assertTrue(aops.hasBlock(1));
    assertFalse(folios.folioTestDirty(p[0]), "as in the kernel, a failed folio is not redirtied");
    assertEquals(-Errno.EIO.number(), filemap.filemapCheckErrors(as));
    assertEquals(0, filemap.filemapCheckErrors(as), "reported once");
    assertAllFreedAfterTruncate();
  }

  @Test
  void writeAndWaitReportsEnospc() {
    long[] p = readPages(1);
    folios.folioMarkDirty(p[0]);
    aops.failNextWrite(Errno.ENOSPC);
    assertEquals(-Errno.ENOSPC.number(), filemap.filemapWriteAndWait(as));
    assertEquals(0, filemap.filemapCheckErrors(as));
    folios.folioMarkDirty(p[0]);
    assertEquals(0, filemap.filemapWriteAndWait(as));
    assertTrue(aops.hasBlock(0));
    assertAllFreedAfterTruncate();
  }

  @Test
  void mappingWithoutWriteFolioKeepsItsFoliosDirty() {
    AddressSpace shm =
        AddressSpace.create(
            mem,
            (m, pfn) -> {
              mem.ram().zeroPage(pfn);
              memmap.setFlag(pfn, PG_UPTODATE);
              m.folios().folioUnlock(pfn);
              return 0;
            });
    long pfn = filemap.readMappingFolio(shm, 0);
    assertTrue(folios.folioMarkDirty(pfn));
    assertEquals(0, filemap.filemapFdatawrite(shm));
    assertTrue(folios.folioTestDirty(pfn), "AOP_WRITEPAGE_ACTIVATE: redirtied");
    assertTrue(shm.testDirtyTag(0));
    assertEquals(1, shm.nrDirty());
    assertEquals(0, shm.nrWriteback());
    alloc.putPage(pfn);
    truncate.truncateInodePagesFinal(shm);
    assertAllFreedAfterTruncate();
  }

  @Test
  void markDirtyOfACacheFolioGoesThroughDirtyFolio() {
    AtomicInteger calls = new AtomicInteger();
    RamBackedAops inner = new RamBackedAops();
    AddressSpace counted =
        AddressSpace.create(
            mem,
            new AddressSpaceOperations() {
              @Override
              public int readFolio(AddressSpace m, long pfn) {
                return inner.readFolio(m, pfn);
              }

              @Override
              public boolean dirtyFolio(AddressSpace m, long pfn) {
                calls.incrementAndGet();
                return AddressSpaceOperations.super.dirtyFolio(m, pfn);
              }
            });
    long pfn = filemap.readMappingFolio(counted, 0);
    assertTrue(folios.folioMarkDirty(pfn));
    assertEquals(1, calls.get());
    assertSame(counted, folios.folioMapping(pfn));
    alloc.putPage(pfn);
    truncate.truncateInodePagesFinal(counted);
    assertAllFreedAfterTruncate();
  }

  @Test
  void pageMkwriteDirtiesTheFolioAndRefusesATruncatedOne() {
    long pfn = filemap.readMappingFolio(as, 0);
    assertEquals(0, filemap.doPageMkwrite(as, pfn));
    assertTrue(folios.folioTestDirty(pfn));
    assertFalse(folios.folioTestLocked(pfn));
    assertTrue(as.testDirtyTag(0));
    truncate.truncateInodePages(as, 0);
    assertEquals(VmFault.VM_FAULT_NOPAGE, filemap.doPageMkwrite(as, pfn));
    alloc.putPage(pfn);
    assertAllFreedAfterTruncate();
  }

  /** Puts the folio at {@code index} under writeback as a flusher would, and leaves it unlocked. */
  private long startWriteback(long index) {
    long pfn = filemap.filemapGetFolio(as, index);
    folios.folioLock(pfn);
    assertTrue(writeback.folioClearDirtyForIo(pfn));
    folios.folioStartWriteback(pfn);
    folios.folioUnlock(pfn);
    assertTrue(as.testWritebackTag(index));
    assertFalse(as.testDirtyTag(index));
    assertEquals(1, as.nrWriteback());
    return pfn;
  }

  @Test
  void stableWritesMakePageMkwriteWaitForWriteback() throws Exception {
    as.setStableWrites(true);
    assertTrue(as.stableWrites());
    long pfn = readPages(1)[0];
    folios.folioMarkDirty(pfn);
    assertEquals(pfn, startWriteback(0));
    CountDownLatch done = new CountDownLatch(1);
    Thread writer =
        new Thread(
            () -> {
              filemap.doPageMkwrite(as, pfn);
              done.countDown();
            });
    writer.start();
    TestThreads.awaitBlocked(writer);
    assertEquals(1, done.getCount(), "waits for the writeback to end");
    folios.folioEndWriteback(pfn);
    assertTrue(done.await(10, TimeUnit.SECONDS));
    writer.join(10_000);
    assertTrue(folios.folioTestDirty(pfn));
    assertEquals(0, as.nrWriteback());
    alloc.putPage(pfn);
    assertAllFreedAfterTruncate();
  }

  @Test
  void withoutStableWritesPageMkwriteDoesNotWait() {
    long pfn = readPages(1)[0];
    folios.folioMarkDirty(pfn);
    startWriteback(0);
    assertEquals(0, filemap.doPageMkwrite(as, pfn), "returns while the folio is under writeback");
    assertTrue(folios.folioTestDirty(pfn));
    assertTrue(as.testDirtyTag(0), "redirtied during writeback");
    folios.folioEndWriteback(pfn);
    assertFalse(as.testWritebackTag(0));
    alloc.putPage(pfn);
    assertAllFreedAfterTruncate();
  }

  @Test
  void removingADirtyFolioWarnsOnceAndKeepsPgDirty() {
    long[] p = readPages(2);
    folios.folioMarkDirty(p[0]);
    folios.folioMarkDirty(p[1]);
    for (long pfn : p) {
      long got = filemap.filemapGetFolio(as, memmap.index(pfn));
      folios.folioLock(got);
      filemap.filemapRemoveFolio(
          as, got); // without folio_cancel_dirty(): what GUP's late dirtying does
      assertTrue(memmap.testFlag(got, PG_DIRTY));
      folios.folioUnlock(got);
      alloc.putPage(got);
    }
    assertEquals(1, mem.health().warnCount(), "WARN_ON_ONCE");
    assertEquals(0, as.nrDirty());
    assertAllFreedAfterTruncate();
  }

  @Test
  void aWbSyncNonePassStopsWhenNrToWriteIsSpentAndCountsDown() {
    long[] p = readPages(6);
    long dirtyBefore = mem.vmstat().get(VmItem.NR_DIRTY);
    for (long pfn : p) {
      folios.folioMarkDirty(pfn);
    }
    assertEquals(dirtyBefore + 6, mem.vmstat().get(VmItem.NR_DIRTY), "NR_FILE_DIRTY follows");
    WritebackControl wbc =
        WritebackControl.range(WbSyncMode.NONE, 0, WritebackControl.WHOLE_FILE).nrToWrite(4);
    assertEquals(0, writeback.writeCachePages(as, wbc));
    assertEquals(4, aops.writes(), "stops at nr_to_write");
    assertEquals(0, wbc.nrToWrite());
    assertEquals(2, as.nrDirty());
    assertEquals(dirtyBefore + 2, mem.vmstat().get(VmItem.NR_DIRTY));

    WritebackControl range =
        WritebackControl.range(WbSyncMode.ALL, 5L * Page.PAGE_SIZE, 5L * Page.PAGE_SIZE + 1)
            .nrToWrite(0);
    assertEquals(0, writeback.writeCachePages(as, range));
    assertEquals(5, aops.writes(), "WB_SYNC_ALL ignores nr_to_write; only the range is written");
    assertTrue(folios.folioTestDirty(p[4]));
    assertFalse(folios.folioTestDirty(p[5]));
    assertEquals(-1, range.nrToWrite());
    assertAllFreedAfterTruncate();
  }

  @Test
  void aFailedWriteLeavesTheFolioCleanCountsTheLostBytesAndSetsTheErrseq() {
    long[] p = readPages(1);
    int[] since = {as.wbErr().sample()};
    folios.folioMarkDirty(p[0]);
    aops.failNextWrite(Errno.EIO);
    long lost = mem.vmstat().get(VmItem.WB_LOST_BYTES);
    assertEquals(-Errno.EIO.number(), filemap.filemapFdatawrite(as));
    assertFalse(folios.folioTestDirty(p[0]), "not redirtied: the data is lost");
    assertEquals(0, as.nrDirty());
    assertEquals(lost + Page.PAGE_SIZE, mem.vmstat().get(VmItem.WB_LOST_BYTES));
    assertEquals(-Errno.EIO.number(), as.wbErr().checkAndAdvance(since));
    assertEquals(0, as.wbErr().checkAndAdvance(since));
    assertAllFreedAfterTruncate();
  }
}
