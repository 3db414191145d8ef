package dev.refkern.block;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.sched.Workqueue;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RamDiskTest {
  static final int EIO = -Errno.EIO.number();
  static final int PAGE = 4096;

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

  long page(int fill) {
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    assertNotEquals(PageAllocator.NO_PFN, pfn);
    pages.add(pfn);
    byte[] b = new byte[PAGE];
    Arrays.fill(b, (byte) fill);
    mem.ram().write(pfn, 0, b, 0, PAGE);
    return pfn;
  }

  long patternPage(int seed) {
    long pfn = page(0);
    byte[] b = pattern(seed, PAGE);
    mem.ram().write(pfn, 0, b, 0, PAGE);
    return pfn;
  }

  static byte[] pattern(int seed, int len) {
    byte[] b = new byte[len];
    for (int i = 0; i < len; i++) {
      b[i] = (byte) (i * 31 + seed * 7 + (i >> 9));
    }
    return b;
  }

  byte[] contents(long pfn) {
    byte[] b = new byte[PAGE];
    mem.ram().read(pfn, 0, b, 0, PAGE);
    return b;
  }

  /** Submits and returns the status; the RAM disk completes inside submitBio by default. */
  static int submit(BlockDevice dev, Bio bio) {
    int[] status = {Integer.MIN_VALUE};
    int[] calls = {0};
    bio.onEnd(
        b -> {
          status[0] = b.status();
          calls[0]++;
        });
    dev.submitBio(bio);
    assertEquals(1, calls[0], "completed exactly once");
    return status[0];
  }

  @Test
  void writeThenReadRoundTrips() {
    RamDisk disk = new RamDisk(mem, 64);
    long src = patternPage(1);
    assertEquals(0, submit(disk, new Bio(BioOp.WRITE, 8, 0).addPage(src, 0, PAGE)));
    long dst = page(0xee);
    assertEquals(0, submit(disk, new Bio(BioOp.READ, 8, 0).addPage(dst, 0, PAGE)));
    assertArrayEquals(pattern(1, PAGE), contents(dst));
    assertArrayEquals(pattern(1, PAGE), disk.peek(8, 8));
    assertEquals(PAGE, disk.bytesWritten());
    assertEquals(PAGE, disk.bytesRead());
  }

  @Test
  void partialSectorsAcrossPagesRoundTrip() {
    RamDisk disk = new RamDisk(mem, 64);
    long src = patternPage(2);
    // 3 sectors from offset 1024, landing at sector 6: straddles two device pages
    assertEquals(0, submit(disk, new Bio(BioOp.WRITE, 6, 0).addPage(src, 1024, 1536)));
    long dst = page(0);
    assertEquals(0, submit(disk, new Bio(BioOp.READ, 5, 0).addPage(dst, 0, 2048)));
    byte[] got = contents(dst);
    assertArrayEquals(new byte[512], Arrays.copyOfRange(got, 0, 512), "sector 5 never written");
    assertArrayEquals(
        Arrays.copyOfRange(pattern(2, PAGE), 1024, 2560), Arrays.copyOfRange(got, 512, 2048));
    assertEquals(2, disk.pagesAllocated());
  }

  @Test
  void unwrittenSectorsReadAsZeros() {
    RamDisk disk = new RamDisk(mem, 64);
    long dst = page(0x55);
    assertEquals(0, submit(disk, new Bio(BioOp.READ, 16, 0).addPage(dst, 0, PAGE)));
    assertArrayEquals(new byte[PAGE], contents(dst));
    assertEquals(0, disk.pagesAllocated());
  }

  @Test
  void beyondCapacityFailsWithEio() {
    RamDisk disk = new RamDisk(mem, 16);
    long p = page(1);
    assertEquals(EIO, submit(disk, new Bio(BioOp.WRITE, 12, 0).addPage(p, 0, PAGE)));
    assertEquals(EIO, submit(disk, new Bio(BioOp.READ, 16, 0).addPage(p, 0, 512)));
    assertEquals(EIO, submit(disk, new Bio(BioOp.READ, Long.MAX_VALUE, 0).addPage(p, 0, 512)));
    assertEquals(0, submit(disk, new Bio(BioOp.WRITE, 8, 0).addPage(p, 0, PAGE)));
    assertEquals(0, disk.bytesRead());
  }

  @Test
  void unalignedSegmentFailsWithEio() {
    RamDisk disk = new RamDisk(mem, 64);
    long p = page(1);
    assertEquals(EIO, submit(disk, new Bio(BioOp.WRITE, 0, 0).addPage(p, 100, 512)));
    assertEquals(EIO, submit(disk, new Bio(BioOp.READ, 0, 0).addPage(p, 0, 700)));
    assertEquals(0, disk.pagesAllocated());
  }

  @Test
  void flushAndFlagsAreNoOps() {
    RamDisk disk = new RamDisk(mem, 64);
    assertEquals(0, disk.features());
    assertEquals("ram0", disk.name());
    assertEquals(0, submit(disk, new Bio(BioOp.FLUSH, 0, 0)));
    long p = patternPage(3);
    int flags = Bio.REQ_FUA | Bio.REQ_PREFLUSH;
    assertEquals(0, submit(disk, new Bio(BioOp.WRITE, 0, flags).addPage(p, 0, PAGE)));
    assertArrayEquals(pattern(3, PAGE), disk.peek(0, 8));
  }

  @Test
  void completionRunsInCompletionContext() {
    RamDisk disk = new RamDisk(mem, 64);
    long p = page(1);
    boolean[] atomic = {false};
    disk.submitBio(
        new Bio(BioOp.WRITE, 0, 0)
            .addPage(p, 0, PAGE)
            .onEnd(b -> atomic[0] = mem.scheduler().inAtomicContext()));
    assertTrue(atomic[0]);
    assertFalse(mem.scheduler().inAtomicContext());
  }

  @Test
  void manualConsumptionHoldsBiosInOrder() {
    RamDisk disk = new RamDisk(mem, 64, DiskOptions.defaults().manualConsumption());
    long a = patternPage(4);
    long b = patternPage(5);
    List<Long> done = new ArrayList<>();
    disk.submitBio(new Bio(BioOp.WRITE, 0, 0).addPage(a, 0, PAGE).onEnd(x -> done.add(1L)));
    disk.submitBio(new Bio(BioOp.WRITE, 0, 0).addPage(b, 0, PAGE).onEnd(x -> done.add(2L)));
    assertEquals(2, disk.pendingBios());
    assertEquals(List.of(), done);
    assertArrayEquals(new byte[PAGE], disk.peek(0, 8));
    assertTrue(disk.consume());
    assertEquals(List.of(1L), done);
    assertArrayEquals(pattern(4, PAGE), disk.peek(0, 8));
    assertEquals(1, disk.consumeAll());
    assertFalse(disk.consume());
    assertEquals(List.of(1L, 2L), done);
    assertArrayEquals(pattern(5, PAGE), disk.peek(0, 8));
  }

  @Test
  void workqueueConsumptionCompletesAfterFlush() {
    Workqueue wq = mem.scheduler().allocOrderedWorkqueue("kblockd");
    try {
      RamDisk disk = new RamDisk(mem, 64, DiskOptions.defaults().asyncCompletion(wq));
      long src = patternPage(6);
      int[] status = {1};
      disk.submitBio(
          new Bio(BioOp.WRITE, 0, 0).addPage(src, 0, PAGE).onEnd(b -> status[0] = b.status()));
      long dst = page(0);
      disk.submitBio(new Bio(BioOp.READ, 0, 0).addPage(dst, 0, PAGE));
      wq.flush();
      assertEquals(0, status[0]);
      assertEquals(0, disk.pendingBios());
      assertArrayEquals(pattern(6, PAGE), contents(dst));
    } finally {
      wq.destroy();
    }
  }
}
