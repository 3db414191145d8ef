package dev.refkern.block;

import static dev.refkern.block.RamDiskTest.pattern;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IntegrityTest {
  static final int EIO = -Errno.EIO.number();
  static final int PAGE = 4096;
  static final int SECTOR = Bio.SECTOR_SIZE;

  @TempDir Path dir;
  PhysicalMemory mem;
  final List<Long> pages = new ArrayList<>();

  @BeforeEach
  void boot() {
    mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false);
  }

  @AfterEach
  void shutdown() {
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

  /** Stores a byte into the page, as a CPU store through a mapping would after submission. */
  void scribble(long pfn, int offset, byte value) {
    mem.ram().write(pfn, offset, new byte[] {value}, 0, 1);
  }

  static int[] statusOf(Bio bio) {
    int[] status = {Integer.MIN_VALUE};
    bio.onEnd(b -> status[0] = b.status());
    return status;
  }

  @Test
  void tagsDetectAChangedSectorAndAWrongSector() {
    byte[] data = pattern(1, PAGE);
    Integrity pi = Integrity.generate(100, data);
    assertEquals(8, pi.sectors());
    assertEquals(100, pi.refTag(0));
    assertEquals(Integrity.guard(data, 3 * SECTOR), pi.guardTag(3));
    assertEquals(-1, pi.firstMismatch(100, data));
    byte[] changed = data.clone();
    changed[3 * SECTOR + 17] ^= 1;
    assertEquals(3, pi.firstMismatch(100, changed));
    assertEquals(0, pi.firstMismatch(101, data), "reference tag catches a misdirected write");
  }

  @Test
  void unmodifiedPagePassesVerification() {
    RamDisk disk = new RamDisk(mem, 64, DiskOptions.defaults().integrity(true).manualConsumption());
    assertEquals(BlockDevice.BLK_FEAT_STABLE_WRITES, disk.features());
    long p = page(pattern(2, PAGE));
    Bio bio = new Bio(BioOp.WRITE, 8, 0).addPage(p, 0, PAGE);
    int[] status = statusOf(bio);
    disk.submitBio(bio);
    assertTrue(disk.consume());
    assertEquals(0, status[0]);
    assertEquals(0, disk.integrityErrors());
    assertArrayEquals(pattern(2, PAGE), disk.peek(8, 8));
  }

  @Test
  void pageModifiedBetweenSubmissionAndConsumptionIsDetected() {
    RamDisk disk = new RamDisk(mem, 64, DiskOptions.defaults().integrity(true).manualConsumption());
    long p = page(pattern(3, PAGE));
    Bio bio = new Bio(BioOp.WRITE, 0, 0).addPage(p, 0, PAGE);
    int[] status = statusOf(bio);
    disk.submitBio(bio); // guard tags generated from the page now
    scribble(p, 1000, (byte) 0x5a); // the page changes while the write is in flight
    assertEquals(Integer.MIN_VALUE, status[0], "not completed before consumption");
    disk.consumeAll();
    assertEquals(EIO, status[0]);
    assertEquals(1, disk.integrityErrors());
    byte[] expected = pattern(3, PAGE);
    expected[1000] = 0x5a;
    assertArrayEquals(expected, disk.peek(0, 8), "the device consumed what memory held then");
  }

  @Test
  void integrityOnFileDiskRejectsAChangedPage() {
    try (FileDisk disk =
        FileDisk.create(
            mem,
            dir.resolve("pi.img"),
            64,
            DiskOptions.defaults().integrity(true).manualConsumption())) {
      assertEquals(
          BlockDevice.BLK_FEAT_STABLE_WRITES
              | BlockDevice.BLK_FEAT_WRITE_CACHE
              | BlockDevice.BLK_FEAT_FUA,
          disk.features());
      long a = page(pattern(4, PAGE));
      long b = page(pattern(5, PAGE));
      Bio good = new Bio(BioOp.WRITE, 0, 0).addPage(a, 0, PAGE);
      Bio bad = new Bio(BioOp.WRITE, 8, 0).addPage(b, 0, PAGE);
      int[] goodStatus = statusOf(good);
      int[] badStatus = statusOf(bad);
      disk.submitBio(good);
      disk.submitBio(bad);
      scribble(b, 4095, (byte) 1);
      assertEquals(2, disk.consumeAll());
      assertEquals(0, goodStatus[0]);
      assertEquals(EIO, badStatus[0]);
      assertEquals(1, disk.integrityErrors());
    }
  }

  @Test
  void bounceDeliversTheSubmittedDataDespiteALaterChange() {
    RamDisk disk = new RamDisk(mem, 64, DiskOptions.defaults().bounce(true).manualConsumption());
    assertEquals(0, disk.features());
    long p = page(pattern(6, PAGE));
    Bio bio = new Bio(BioOp.WRITE, 0, 0).addPage(p, 0, 2048).addPage(p, 2048, 2048);
    int[] status = statusOf(bio);
    disk.submitBio(bio);
    assertEquals(PAGE, disk.bytesBounced());
    scribble(p, 0, (byte) 0x77);
    scribble(p, 3000, (byte) 0x77);
    disk.consumeAll();
    assertEquals(0, status[0]);
    assertArrayEquals(pattern(6, PAGE), disk.peek(0, 8));
  }

  @Test
  void bounceWithIntegrityPassesDespiteALaterChange() {
    RamDisk disk =
        new RamDisk(
            mem, 64, DiskOptions.defaults().integrity(true).bounce(true).manualConsumption());
    long p = page(pattern(7, PAGE));
    Bio bio = new Bio(BioOp.WRITE, 0, 0).addPage(p, 0, PAGE);
    int[] status = statusOf(bio);
    disk.submitBio(bio);
    scribble(p, 5, (byte) 0);
    disk.consumeAll();
    assertEquals(0, status[0]);
    assertEquals(0, disk.integrityErrors());
    assertArrayEquals(pattern(7, PAGE), disk.peek(0, 8));
  }

  @Test
  void withoutBounceALaterChangeReachesTheDevice() {
    RamDisk disk = new RamDisk(mem, 64, DiskOptions.defaults().manualConsumption());
    long p = page(pattern(8, PAGE));
    Bio bio = new Bio(BioOp.WRITE, 0, 0).addPage(p, 0, PAGE);
    int[] status = statusOf(bio);
    disk.submitBio(bio);
    scribble(p, 5, (byte) 0x42);
    disk.consumeAll();
    assertEquals(0, status[0], "no integrity: nobody notices");
    assertEquals(0, disk.bytesBounced());
    byte[] got = disk.peek(0, 8);
    assertEquals(0x42, got[5]);
    assertArrayEquals(
        Arrays.copyOfRange(pattern(8, PAGE), 6, PAGE), Arrays.copyOfRange(got, 6, PAGE));
  }
}
