package dev.refkern.block;

import static dev.refkern.block.RamDiskTest.pattern;
import static dev.refkern.block.RamDiskTest.submit;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileDiskTest {
  static final int EIO = -Errno.EIO.number();
  static final int PAGE = 4096;
  static final int SECTOR = Bio.SECTOR_SIZE;

  @TempDir Path dir;
  PhysicalMemory mem;
  Path image;
  FileDisk disk;
  final List<Long> pages = new ArrayList<>();

  @BeforeEach
  void boot() {
    mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false);
    image = dir.resolve("disk0.img");
  }

  @AfterEach
  void shutdown() {
    if (disk != null) {
      disk.close();
    }
    for (long pfn : pages) {
      mem.allocator().putPage(pfn);
    }
    assertEquals(List.of(), mem.debugVm().check());
    mem.close();
  }

  FileDisk create(long sectors, DiskOptions opts) {
    disk = FileDisk.create(mem, image, sectors, opts);
    return disk;
  }

  long page(byte[] contents) {
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    assertNotEquals(PageAllocator.NO_PFN, pfn);
    pages.add(pfn);
    mem.ram().write(pfn, 0, contents, 0, PAGE);
    return pfn;
  }

  byte[] contents(long pfn) {
    byte[] b = new byte[PAGE];
    mem.ram().read(pfn, 0, b, 0, PAGE);
    return b;
  }

  int write(BlockDevice d, long sector, int flags, long pfn) {
    return submit(d, new Bio(BioOp.WRITE, sector, flags).addPage(pfn, 0, PAGE));
  }

  byte[] read(BlockDevice d, long sector) {
    long dst = page(new byte[PAGE]);
    assertEquals(0, submit(d, new Bio(BioOp.READ, sector, 0).addPage(dst, 0, PAGE)));
    return contents(dst);
  }

  byte[] fileAt(long sector, int len) throws IOException {
    byte[] all = Files.readAllBytes(image);
    return Arrays.copyOfRange(all, (int) sector * SECTOR, (int) sector * SECTOR + len);
  }

  @Test
  void createdImageIsZeroedAndAdvertisesCacheAndFua() throws IOException {
    FileDisk d = create(64, DiskOptions.defaults());
    assertEquals(64L * SECTOR, Files.size(image));
    assertEquals(64, d.capacitySectors());
    assertEquals("disk0.img", d.name());
    assertEquals(BlockDevice.BLK_FEAT_WRITE_CACHE | BlockDevice.BLK_FEAT_FUA, d.features());
    assertArrayEquals(new byte[PAGE], read(d, 0));
  }

  @Test
  void writesAreReadableBeforeFlushButNotInTheFile() throws IOException {
    FileDisk d = create(64, DiskOptions.defaults());
    assertEquals(0, write(d, 8, 0, page(pattern(1, PAGE))));
    assertArrayEquals(pattern(1, PAGE), read(d, 8));
    assertArrayEquals(new byte[PAGE], fileAt(8, PAGE));
    assertEquals(8, d.dirtySectors());
    assertEquals(0, d.bytesWrittenToMedia());
  }

  @Test
  void unflushedWritesAreLostAtPowerCut() throws IOException {
    FileDisk d = create(64, DiskOptions.defaults());
    long p = page(pattern(2, PAGE));
    assertEquals(0, write(d, 0, 0, p));
    assertEquals(0, write(d, 16, 0, p));
    FileDisk.PowerCut cut = d.powerCut();
    assertEquals(new FileDisk.PowerCut(2, 0, 16, 0, 0), cut);
    assertEquals(2, d.writesLostAtPowerCut());
    assertFalse(d.online());
    assertEquals(EIO, write(d, 0, 0, p), "offline until reopen");
    long dst = page(new byte[PAGE]);
    assertEquals(EIO, submit(d, new Bio(BioOp.READ, 0, 0).addPage(dst, 0, PAGE)));
    assertEquals(EIO, submit(d, new Bio(BioOp.FLUSH, 0, 0)));
    d.reopen();
    assertArrayEquals(new byte[PAGE], read(d, 0));
    assertArrayEquals(new byte[PAGE], read(d, 16));
    assertArrayEquals(new byte[64 * SECTOR], Files.readAllBytes(image));
  }

  @Test
  void flushMakesCompletedWritesDurable() throws IOException {
    FileDisk d = create(64, DiskOptions.defaults());
    assertEquals(0, write(d, 8, 0, page(pattern(3, PAGE))));
    assertEquals(0, write(d, 16, 0, page(pattern(4, PAGE))));
    assertEquals(0, submit(d, new Bio(BioOp.FLUSH, 0, 0)));
    assertEquals(1, d.flushes());
    assertEquals(2 * PAGE, d.bytesWrittenToMedia());
    assertEquals(0, d.dirtySectors());
    assertEquals(new FileDisk.PowerCut(0, 0, 0, 0, 0), d.powerCut());
    d.reopen();
    assertArrayEquals(pattern(3, PAGE), read(d, 8));
    assertArrayEquals(pattern(4, PAGE), read(d, 16));
    assertArrayEquals(pattern(3, PAGE), fileAt(8, PAGE));
  }

  @Test
  void withoutHostSyncFlushFuaAndPowerCutKeepTheirSemantics() throws IOException {
    // only the host's fsync goes: what the drive made durable is in the file, the rest is lost
    FileDisk d = create(64, DiskOptions.defaults().hostSync(false));
    assertFalse(DiskOptions.defaults().hostSync(false).hasHostSync());
    assertEquals(0, write(d, 8, 0, page(pattern(3, PAGE))));
    assertEquals(0, submit(d, new Bio(BioOp.FLUSH, 0, 0)));
    assertEquals(0, write(d, 16, Bio.REQ_FUA, page(pattern(4, PAGE))));
    assertEquals(0, write(d, 24, 0, page(pattern(5, PAGE))));
    assertEquals(1, d.flushes());
    assertArrayEquals(pattern(3, PAGE), fileAt(8, PAGE), "flushed: in the file");
    assertArrayEquals(pattern(4, PAGE), fileAt(16, PAGE), "FUA: in the file");
    assertEquals(new FileDisk.PowerCut(1, 0, 8, 0, 0), d.powerCut());
    d.reopen();
    assertArrayEquals(pattern(3, PAGE), read(d, 8));
    assertArrayEquals(pattern(4, PAGE), read(d, 16));
    assertArrayEquals(new byte[PAGE], read(d, 24), "unflushed: lost");
  }

  @Test
  void fuaWriteIsDurableWithoutFlushingTheCache() throws IOException {
    FileDisk d = create(64, DiskOptions.defaults());
    assertEquals(0, write(d, 0, 0, page(pattern(5, PAGE))));
    assertEquals(0, write(d, 8, Bio.REQ_FUA, page(pattern(6, PAGE))));
    assertEquals(0, d.flushes());
    assertArrayEquals(pattern(6, PAGE), fileAt(8, PAGE));
    assertEquals(1, d.powerCut().writesLost(), "the earlier cached write is not made durable");
    d.reopen();
    assertArrayEquals(new byte[PAGE], read(d, 0));
    assertArrayEquals(pattern(6, PAGE), read(d, 8));
  }

  @Test
  void fuaWriteSupersedesCachedSectors() {
    FileDisk d = create(64, DiskOptions.defaults());
    assertEquals(0, write(d, 0, 0, page(pattern(7, PAGE))));
    assertEquals(0, write(d, 0, Bio.REQ_FUA, page(pattern(8, PAGE))));
    assertArrayEquals(pattern(8, PAGE), read(d, 0));
    assertEquals(0, d.dirtySectors());
    d.powerCut();
    d.reopen();
    assertArrayEquals(pattern(8, PAGE), read(d, 0));
  }

  @Test
  void preflushMakesEarlierWritesDurableBeforeTheWrite() throws IOException {
    FileDisk d = create(64, DiskOptions.defaults());
    assertEquals(0, write(d, 0, 0, page(pattern(9, PAGE))));
    assertEquals(0, write(d, 8, Bio.REQ_PREFLUSH, page(pattern(10, PAGE))));
    assertEquals(1, d.flushes());
    assertArrayEquals(pattern(9, PAGE), fileAt(0, PAGE), "earlier write durable");
    assertArrayEquals(new byte[PAGE], fileAt(8, PAGE), "the write itself only cached");
    assertEquals(1, d.powerCut().writesLost());
    d.reopen();
    assertArrayEquals(pattern(9, PAGE), read(d, 0));
    assertArrayEquals(new byte[PAGE], read(d, 8));
  }

  @Test
  void preflushWithFuaIsDurableAltogether() throws IOException {
    FileDisk d = create(64, DiskOptions.defaults());
    assertEquals(0, write(d, 0, 0, page(pattern(11, PAGE))));
    assertEquals(0, write(d, 8, Bio.REQ_PREFLUSH | Bio.REQ_FUA, page(pattern(12, PAGE))));
    assertEquals(0, d.powerCut().writesLost());
    d.reopen();
    assertArrayEquals(pattern(11, PAGE), read(d, 0));
    assertArrayEquals(pattern(12, PAGE), read(d, 8));
  }

  @Test
  void reopenSeesExactlyTheFile() throws IOException {
    FileDisk d = create(32, DiskOptions.defaults());
    write(d, 0, 0, page(pattern(13, PAGE)));
    write(d, 8, 0, page(pattern(14, PAGE)));
    submit(d, new Bio(BioOp.FLUSH, 0, 0));
    write(d, 8, 0, page(pattern(15, PAGE))); // overwrites durable data in the cache only
    write(d, 24, 0, page(pattern(16, PAGE)));
    d.powerCut();
    byte[] file = Files.readAllBytes(image);
    d.reopen();
    assertArrayEquals(file, d.peek(0, 32));
    byte[] viaBios = new byte[32 * SECTOR];
    for (int s = 0; s < 32; s += 8) {
      System.arraycopy(read(d, s), 0, viaBios, s * SECTOR, PAGE);
    }
    assertArrayEquals(file, viaBios);
    assertArrayEquals(pattern(14, PAGE), Arrays.copyOfRange(file, 8 * SECTOR, 16 * SECTOR));
  }

  @Test
  void tornWriteLeavesEachSectorEntirelyOldOrNew() {
    FileDisk d = create(32, DiskOptions.defaults());
    byte[] oldData = new byte[PAGE];
    Arrays.fill(oldData, (byte) 0x11);
    byte[] newData = pattern(17, PAGE);
    long oldPage = page(oldData);
    long newPage = page(newData);
    int mixed = 0;
    for (long seed = 1; seed <= 8; seed++) {
      // 4 pages = 32 sectors of old data, durable; then one 32-sector write, unflushed
      Bio old = new Bio(BioOp.WRITE, 0, Bio.REQ_FUA);
      Bio neu = new Bio(BioOp.WRITE, 0, 0);
      for (int i = 0; i < 4; i++) {
        old.addPage(oldPage, 0, PAGE);
        neu.addPage(newPage, 0, PAGE);
      }
      assertEquals(0, submit(d, old));
      assertEquals(0, submit(d, neu));
      FileDisk.PowerCut cut = d.powerCut(FileDisk.TearMode.TORN_SECTORS, seed);
      assertEquals(32, cut.sectorsLost() + cut.sectorsPersisted());
      d.reopen();
      byte[] got = d.peek(0, 32);
      int oldSectors = 0;
      int newSectors = 0;
      for (int s = 0; s < 32; s++) {
        byte[] sec = Arrays.copyOfRange(got, s * SECTOR, (s + 1) * SECTOR);
        int off = (s % 8) * SECTOR;
        if (Arrays.equals(sec, Arrays.copyOfRange(oldData, off, off + SECTOR))) {
          oldSectors++;
        } else if (Arrays.equals(sec, Arrays.copyOfRange(newData, off, off + SECTOR))) {
          newSectors++;
        } else {
          fail("seed " + seed + ": sector " + s + " is neither entirely old nor entirely new");
        }
      }
      assertEquals(cut.sectorsPersisted(), newSectors, "seed " + seed);
      assertEquals(cut.sectorsLost(), oldSectors, "seed " + seed);
      if (oldSectors > 0 && newSectors > 0) {
        mixed++;
        assertEquals(1, cut.writesTorn(), "seed " + seed);
      }
    }
    assertTrue(mixed > 0, "some seed tore the write");
    assertTrue(d.writesTornAtPowerCut() > 0);
  }

  @Test
  void tearingIsReproducibleFromTheSeed() throws IOException {
    byte[][] results = new byte[2][];
    for (int run = 0; run < 2; run++) {
      FileDisk d = create(16, DiskOptions.defaults());
      Bio w = new Bio(BioOp.WRITE, 0, 0);
      w.addPage(page(pattern(18, PAGE)), 0, PAGE).addPage(page(pattern(19, PAGE)), 0, PAGE);
      assertEquals(0, submit(d, w));
      d.powerCut(FileDisk.TearMode.TORN_SECTORS, 42);
      results[run] = Files.readAllBytes(image);
      d.close();
      disk = null;
    }
    assertArrayEquals(results[0], results[1]);
  }

  @Test
  void queuedBiosFailAtPowerCut() {
    FileDisk d = create(64, DiskOptions.defaults().manualConsumption());
    int[] status = {1, 1};
    long p = page(pattern(20, PAGE));
    d.submitBio(new Bio(BioOp.WRITE, 0, 0).addPage(p, 0, PAGE).onEnd(b -> status[0] = b.status()));
    d.submitBio(new Bio(BioOp.FLUSH, 0, 0).onEnd(b -> status[1] = b.status()));
    assertEquals(2, d.pendingBios());
    assertEquals(2, d.powerCut().biosFailed());
    assertArrayEquals(new int[] {EIO, EIO}, status);
    assertEquals(0, d.pendingBios());
    assertFalse(d.consume());
  }

  @Test
  void closeIsACleanShutdownThatFlushes() throws IOException {
    FileDisk d = create(64, DiskOptions.defaults().manualConsumption());
    int[] status = {1};
    long p = page(pattern(21, PAGE));
    d.submitBio(new Bio(BioOp.WRITE, 8, 0).addPage(p, 0, PAGE).onEnd(b -> status[0] = b.status()));
    d.close();
    assertEquals(0, status[0], "queued bio consumed at shutdown");
    assertTrue(d.closed());
    assertEquals(1, d.flushes());
    assertArrayEquals(pattern(21, PAGE), fileAt(8, PAGE));
    assertEquals(EIO, write(d, 0, 0, p));
    disk = FileDisk.open(mem, image, DiskOptions.defaults());
    assertEquals(64, disk.capacitySectors());
    assertArrayEquals(pattern(21, PAGE), read(disk, 8));
  }

  @Test
  void reopenWhileOnlineIsEbusy() {
    FileDisk d = create(8, DiskOptions.defaults());
    KernelException e = assertThrows(KernelException.class, d::reopen);
    assertEquals(Errno.EBUSY, e.errno());
  }

  @Test
  void openRejectsMissingAndRaggedImages() throws IOException {
    KernelException e =
        assertThrows(
            KernelException.class,
            () -> FileDisk.open(mem, dir.resolve("none.img"), DiskOptions.defaults()));
    assertEquals(Errno.ENOENT, e.errno());
    Files.write(image, new byte[700]);
    e =
        assertThrows(
            KernelException.class, () -> FileDisk.open(mem, image, DiskOptions.defaults()));
    assertEquals(Errno.EINVAL, e.errno());
  }

  @Test
  void beyondCapacityAndUnalignedFailWithEio() {
    FileDisk d = create(8, DiskOptions.defaults());
    long p = page(pattern(22, PAGE));
    assertEquals(EIO, write(d, 1, 0, p));
    assertEquals(EIO, submit(d, new Bio(BioOp.WRITE, 0, 0).addPage(p, 256, 512)));
    assertEquals(0, d.dirtySectors());
  }

  @Test
  void writeThroughDiskMakesEveryWriteDurable() throws IOException {
    FileDisk d = create(64, DiskOptions.defaults().writeCache(false));
    assertEquals(0, d.features());
    assertEquals(0, write(d, 0, 0, page(pattern(23, PAGE))));
    assertEquals(0, submit(d, new Bio(BioOp.FLUSH, 0, 0)));
    assertEquals(0, d.flushes(), "nothing to flush without a cache");
    assertEquals(0, d.powerCut().writesLost());
    d.reopen();
    assertArrayEquals(pattern(23, PAGE), read(d, 0));
  }
}
