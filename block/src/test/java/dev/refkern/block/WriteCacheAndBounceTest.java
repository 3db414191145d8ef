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

/** The file disk's bounded write cache, partial-page cache hits, the bounce pool and null_blk. */
class WriteCacheAndBounceTest {
  static final int PAGE = 4096;
  static final int SECTOR = Bio.SECTOR_SIZE;

  @TempDir Path dir;
  PhysicalMemory mem;
  final List<Long> pages = new ArrayList<>();
  final List<AutoCloseable> closers = new ArrayList<>();

  @BeforeEach
  void boot() {
    mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir.resolve("k"), true);
  }

  @AfterEach
  void shutdown() throws Exception {
    for (AutoCloseable c : closers) {
      c.close();
    }
    for (long pfn : pages) {
      mem.allocator().putPage(pfn);
    }
    assertEquals(List.of(), mem.debugVm().check());
    mem.close();
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

  FileDisk fileDisk(long sectors, DiskOptions opts) {
    FileDisk d = FileDisk.create(mem, dir.resolve("disk.img"), sectors, opts);
    closers.add(d);
    return d;
  }

  @Test
  void aFullCacheDestagesByItselfAndWhatItDestagedSurvivesAPowerCut() throws IOException {
    FileDisk d = fileDisk(256, DiskOptions.defaults().writeCacheSize(4 * PAGE));
    for (int i = 0; i < 6; i++) { // six pages into a four-page cache
      long p = page(pattern(i + 1, PAGE));
      assertEquals(0, submit(d, new Bio(BioOp.WRITE, i * 8L, 0).addPage(p, 0, PAGE)));
    }
    assertEquals(1, d.destages(), "the fifth page found the cache full");
    assertEquals(0, d.flushes(), "a destage is not a FLUSH");
    assertEquals(2 * 8, d.dirtySectors(), "pages 4 and 5 are cached, 0..3 on the media");
    FileDisk.PowerCut cut = d.powerCut();
    assertEquals(2, cut.writesLost());
    byte[] image = Files.readAllBytes(dir.resolve("disk.img"));
    for (int i = 0; i < 6; i++) {
      byte[] want = i < 4 ? pattern(i + 1, PAGE) : new byte[PAGE];
      assertArrayEquals(want, Arrays.copyOfRange(image, i * PAGE, (i + 1) * PAGE), "page " + i);
    }
  }

  @Test
  void aReadSeesCachedSectorsOverTheFileInsideOnePage() {
    FileDisk d = fileDisk(64, DiskOptions.defaults().writeCache(true));
    long base = page(pattern(3, PAGE));
    assertEquals(
        0, submit(d, new Bio(BioOp.WRITE, 0, Bio.REQ_FUA).addPage(base, 0, PAGE)), "on the media");
    long patch = page(pattern(9, PAGE));
    // sectors 2 and 5 of the page, cached only
    assertEquals(0, submit(d, new Bio(BioOp.WRITE, 2, 0).addPage(patch, 0, SECTOR)));
    assertEquals(0, submit(d, new Bio(BioOp.WRITE, 5, 0).addPage(patch, SECTOR, SECTOR)));
    // read back into two segments that split the page at an odd sector
    long a = page(new byte[PAGE]);
    long b = page(new byte[PAGE]);
    Bio read = new Bio(BioOp.READ, 0, 0).addPage(a, 1024, 3 * SECTOR).addPage(b, 0, 5 * SECTOR);
    assertEquals(0, submit(d, read));
    byte[] want = pattern(3, PAGE);
    System.arraycopy(pattern(9, PAGE), 0, want, 2 * SECTOR, SECTOR);
    System.arraycopy(pattern(9, PAGE), SECTOR, want, 5 * SECTOR, SECTOR);
    byte[] got = new byte[PAGE];
    System.arraycopy(contents(a), 1024, got, 0, 3 * SECTOR);
    System.arraycopy(contents(b), 0, got, 3 * SECTOR, 5 * SECTOR);
    assertArrayEquals(want, got);
    assertArrayEquals(want, d.peek(0, 8));
  }

  @Test
  void aReadPastTheEndOfAShrunkImageIsZeros() throws IOException {
    FileDisk d = fileDisk(16, DiskOptions.defaults());
    long p = page(pattern(4, PAGE));
    assertEquals(0, submit(d, new Bio(BioOp.WRITE, 8, Bio.REQ_FUA).addPage(p, 0, PAGE)));
    try (var ch =
        java.nio.channels.FileChannel.open(
            dir.resolve("disk.img"), java.nio.file.StandardOpenOption.WRITE)) {
      ch.truncate(8L * SECTOR + 2 * SECTOR); // someone shrank the image behind the disk
    }
    long dst = page(pattern(5, PAGE));
    assertEquals(0, submit(d, new Bio(BioOp.READ, 8, 0).addPage(dst, 0, PAGE)));
    byte[] want = new byte[PAGE];
    System.arraycopy(pattern(4, PAGE), 0, want, 0, 2 * SECTOR);
    assertArrayEquals(want, contents(dst));
  }

  @Test
  void writeCacheSizeMustBeWholePages() {
    for (long bad : new long[] {0, -PAGE, PAGE + 1}) {
      KernelException e =
          assertThrows(KernelException.class, () -> DiskOptions.defaults().writeCacheSize(bad));
      assertEquals(Errno.EINVAL, e.errno());
    }
    assertEquals(8L * PAGE, DiskOptions.defaults().writeCacheSize(8 * PAGE).writeCacheBytes());
  }

  @Test
  void bouncePagesComeFromTheMachineAndGoBackAtClose() {
    long free = mem.allocator().nrFreePages();
    RamDisk d = new RamDisk(mem, 1024, DiskOptions.defaults().bounce(true).manualConsumption());
    long p = page(pattern(6, PAGE));
    long q = page(pattern(7, PAGE));
    long before = mem.allocator().nrFreePages();
    List<Bio> bios = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      Bio bio = new Bio(BioOp.WRITE, i * 16L, 0).addPage(p, 0, PAGE).addPage(q, 0, PAGE);
      bio.onEnd(b -> {});
      d.submitBio(bio);
      bios.add(bio);
    }
    assertEquals(6, d.bouncePages(), "two bounce pages per queued bio");
    assertEquals(before - 6, mem.allocator().nrFreePages());
    assertEquals(3, d.consumeAll());
    for (Bio b : bios) {
      assertEquals(0, b.status());
    }
    assertEquals(6, d.bouncePages(), "kept for reuse after completion");
    Bio again = new Bio(BioOp.WRITE, 64, 0).addPage(p, 0, PAGE);
    again.onEnd(b -> {});
    d.submitBio(again);
    d.consumeAll();
    assertEquals(6, d.bouncePages(), "reused, not allocated again");
    d.close();
    assertEquals(0, d.bouncePages());
    assertEquals(free - 2, mem.allocator().nrFreePages(), "only the test's own two pages");
    assertArrayEquals(pattern(6, PAGE), d.peek(0, 8));
    assertArrayEquals(pattern(7, PAGE), d.peek(40, 8));
  }

  @Test
  void aBouncedBioWithAPageOutsideRamFailsAndKeepsNoBouncePage() {
    RamDisk d = new RamDisk(mem, 64, DiskOptions.defaults().bounce(true));
    long p = page(pattern(2, PAGE));
    long nowhere = mem.memmap().nrPfns() + 100;
    Bio bio = new Bio(BioOp.WRITE, 0, 0).addPage(p, 0, PAGE).addPage(nowhere, 0, PAGE);
    assertEquals(-Errno.EIO.number(), submit(d, bio));
    assertEquals(0, d.bytesBounced());
    d.close();
    assertEquals(0, d.bouncePages());
  }

  @Test
  void aFileDiskReturnsItsBouncePagesAtClose() {
    long free = mem.allocator().nrFreePages();
    FileDisk d = fileDisk(64, DiskOptions.defaults().bounce(true));
    long p = page(pattern(8, PAGE));
    assertEquals(0, submit(d, new Bio(BioOp.WRITE, 0, 0).addPage(p, 0, PAGE)));
    assertEquals(PAGE, d.bytesBounced());
    d.close();
    assertEquals(free - 1, mem.allocator().nrFreePages());
  }

  @Test
  void nullBlkCompletesWithoutMovingDataAndRefusesPastTheEnd() {
    NullBlk d = new NullBlk(mem, 64);
    long p = page(pattern(1, PAGE));
    assertEquals(0, submit(d, new Bio(BioOp.READ, 0, 0).addPage(p, 0, PAGE)));
    assertArrayEquals(pattern(1, PAGE), contents(p), "no data moved");
    assertEquals(-Errno.EIO.number(), submit(d, new Bio(BioOp.WRITE, 60, 0).addPage(p, 0, PAGE)));
    assertEquals(2, d.bios());
    assertThrows(KernelException.class, () -> new NullBlk(mem, -1));
  }
}
