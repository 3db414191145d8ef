package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.spi.AddressSpaceOperations;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Each {@code writeback.pinned=} policy against a device that keeps writing a file page it holds
 * with a writable {@code FOLL_LONGTERM} pin ({@code gup.longterm_file=allow}, the seeds' era). The
 * DMA data is seeded; a DMA write can also land while the folio's write is in flight, which only a
 * bounce copy keeps out of the written block.
 */
class PinnedWritebackPoliciesTest extends VmTestBase {
  private static final long SEED = 0x5eed_0003L;

  private final Random rnd = new Random(SEED);
  private RamBackedAops disk;
  private AddressSpace file;
  private Task task;
  private long addr;
  private final long[] pages = new long[1];

  /** A DMA write the "device" makes while the next folio write is in flight; 0 for none. */
  private long dmaDuringWrite;

  /** A RamBackedAops file whose writes let the pinned device write the folio mid-I/O. */
  private final class InFlightDma implements AddressSpaceOperations {
    @Override
    public int readFolio(AddressSpace mapping, long pfn) {
      return disk.readFolio(mapping, pfn);
    }

    @Override
    public int writeFolio(AddressSpace mapping, long pfn) {
      return writeFolioFrom(mapping, pfn, pfn);
    }

    @Override
    public int writeFolioFrom(AddressSpace mapping, long pfn, long dataPfn) {
      if (dmaDuringWrite != 0 && pfn == pages[0]) {
        mem.ram().writeLong(pfn, 0, dmaDuringWrite); // the device, racing the write
        dmaDuringWrite = 0;
      }
      return disk.writeFolioFrom(mapping, pfn, dataPfn);
    }
  }

  /** One dirty shared file page, long-term pinned for writing, as an RDMA buffer is. */
  private long bootPinned(String policy) {
    boot("mem=256M gup.longterm_file=allow writeback.pinned=" + policy);
    disk = new RamBackedAops();
    file = AddressSpace.create(mem, new InFlightDma());
    file.setSize(4096);
    task = vm.createTask("t");
    addr = task.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    long first = dma();
    task.storeLong(addr, first);
    assertEquals(1, gup.pinUserPages(task, addr, 1, FOLL_WRITE | FOLL_LONGTERM, pages));
    return first;
  }

  /** A fresh nonzero DMA value. */
  private long dma() {
    long v;
    do {
      v = rnd.nextLong();
    } while (v == 0);
    return v;
  }

  private long onDisk() {
    return java.nio.ByteBuffer.wrap(disk.readBlock(0))
        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
        .getLong(0);
  }

  private boolean dirty() {
    return new FolioOps(mem).folioTestDirty(pages[0]);
  }

  private void cleanUp() {
    gup.unpinUserPages(pages, 1);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void ignoreWritesAndCleansTheFolioSoTheNextDmaWriteIsLost() {
    long first = bootPinned("ignore");
    long racing = dma();
    dmaDuringWrite = racing;
    assertEquals(0, vm.pageWriteback().writeCachePages(file, 0, 0, WbSyncMode.NONE));
    assertEquals(racing, onDisk(), "the write took the device's data mid-I/O, not a snapshot");
    assertNotEquals(first, onDisk());
    assertFalse(dirty(), "and the folio is clean");
    long later = dma();
    mem.ram().writeLong(pages[0], 0, later); // DMA after writeback
    assertEquals(0, vm.filemap().filemapFdatawrite(file), "fsync");
    assertNotEquals(later, onDisk(), "the disk holds data older than the last DMA: lost");
    assertEquals(0, file.nrDirty());
    cleanUp();
  }

  @Test
  void bounceWritesOneCopyPerPinnedFolioAndKeepsItDirtyForTheNewerDma() {
    long first = bootPinned("bounce");
    PinnedWritebackPolicy p = vm.pinnedWriteback();
    dmaDuringWrite = dma();
    assertEquals(0, vm.pageWriteback().writeCachePages(file, 0, 0, WbSyncMode.NONE));
    assertEquals(first, onDisk(), "the copy taken at submission, not the racing DMA");
    assertEquals(1, p.stats().get("folios_bounced"));
    assertEquals(4096, p.stats().get("bytes_bounced"));
    assertTrue(dirty(), "still pinned: it stays dirty");
    assertEquals(1, file.nrDirty());
    assertTrue(file.testDirtyTag(0));

    long later = dma();
    mem.ram().writeLong(pages[0], 0, later); // DMA after the first pass
    assertEquals(0, vm.filemap().filemapFdatawrite(file), "fsync bounces too");
    assertEquals(later, onDisk(), "the later pass wrote the newest data");
    assertEquals(2, p.stats().get("folios_bounced"));
    assertEquals(2, disk.writes());

    gup.unpinUserPages(pages, 1);
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    assertFalse(dirty(), "unpinned: written in place and cleaned");
    assertEquals(0, file.nrDirty());
    assertEquals(2, p.stats().get("folios_bounced"), "no copy for an unpinned folio");
    assertEquals(2, p.stats().get("pinned_written"));
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void skipKeepsThePinnedFolioDirtyInBackgroundAndBouncesItForIntegrity() {
    long first = bootPinned("skip");
    PinnedWritebackPolicy p = vm.pinnedWriteback();
    assertEquals(0, vm.pageWriteback().writeCachePages(file, 0, 0, WbSyncMode.NONE));
    assertEquals(0, disk.writes(), "background writeback skips it");
    assertTrue(dirty());
    assertEquals(1, p.stats().get("skipped"));
    assertEquals(0, p.stats().get("folios_bounced"));

    long dma = dma();
    mem.ram().writeLong(pages[0], 0, dma);
    dmaDuringWrite = dma();
    assertEquals(0, vm.filemap().filemapFdatawrite(file), "fsync: WB_SYNC_ALL");
    assertEquals(dma, onDisk(), "a copy of the data at submission");
    assertNotEquals(first, onDisk());
    assertEquals(1, p.stats().get("folios_bounced"));
    assertTrue(dirty(), "still pinned: the racing DMA is still to be written");
    cleanUp();
  }

  @Test
  void aMappingsOwnDecisionOverridesTheBootedPolicy() {
    long first = bootPinned("ignore");
    PinnedWritebackPolicy own = vm.newPinnedWriteback("bounce");
    MappingPinnedPolicies.setPinnedWriteback(file, own);
    assertSame(own, MappingPinnedPolicies.pinnedWriteback(file));
    dmaDuringWrite = dma();
    assertEquals(0, vm.pageWriteback().writeCachePages(file, 0, 0, WbSyncMode.NONE));
    assertEquals(first, onDisk(), "bounced, as the mapping chose");
    assertEquals(1, own.stats().get("folios_bounced"));
    assertEquals(0, vm.pinnedWriteback().stats().get("pinned_folios"), "the boot's is not asked");

    MappingPinnedPolicies.setPinnedWriteback(file, null); // back to the booted ignore
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    assertFalse(dirty());
    assertEquals(1, vm.pinnedWriteback().stats().get("pinned_folios"));
    cleanUp();
  }

  @Test
  void aMappingsOwnTruncateDecisionOverridesTheBootedPolicy() {
    bootPinned("ignore");
    PinnedTruncatePolicy own = vm.newPinnedTruncate("revoke");
    MappingPinnedPolicies.setPinnedTruncate(file, own);
    file.setSize(0);
    vm.truncate().truncateInodePages(file, 0);
    assertEquals(1, own.stats().get("revoked"), "the mapping's revoke decided");
    assertEquals(0, vm.pinnedTruncate().stats().get("orphaned"), "not the booted orphan");
    assertEquals(0, file.nrPages());
    cleanUp();
  }

  @Test
  void aFilesystemThatCannotWriteFromACopyIsWrittenInPlace() {
    boot("mem=256M gup.longterm_file=allow writeback.pinned=bounce");
    disk = new RamBackedAops();
    AddressSpaceOperations noBounce =
        new AddressSpaceOperations() {
          @Override
          public int readFolio(AddressSpace mapping, long pfn) {
            return disk.readFolio(mapping, pfn);
          }

          @Override
          public int writeFolio(AddressSpace mapping, long pfn) {
            return disk.writeFolio(mapping, pfn);
          }
        };
    file = AddressSpace.create(mem, noBounce);
    file.setSize(4096);
    task = vm.createTask("t");
    addr = task.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(addr, 5);
    assertEquals(1, gup.pinUserPages(task, addr, 1, FOLL_WRITE | FOLL_LONGTERM, pages));
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    assertEquals(5, onDisk());
    assertEquals(0, vm.pinnedWriteback().stats().get("folios_bounced"), "no copy was written");
    cleanUp();
  }
}
