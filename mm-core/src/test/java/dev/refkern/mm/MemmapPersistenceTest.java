package dev.refkern.mm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.internal.memmap.MemmapFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MemmapPersistenceTest {
  @TempDir Path dir;

  @Test
  void memmapSurvivesShutdownAndReopensForInspection() {
    long pfn;
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
      assertNotEquals(PageAllocator.NO_PFN, pfn);
      MemmapTesting.ops(mem).setFlag(pfn, PageFlags.PG_DIRTY);
      MemmapTesting.ops(mem).setIndex(pfn, 4242);
      mem.allocator().getPage(pfn);
    }
    try (MemmapFile f = MemmapFile.openForInspection(dir)) {
      assertEquals("stopped", f.properties().getProperty("status"));
      var m =
          new dev.refkern.mm.internal.memmap.OffHeapMemmap(
              f.sectionBuffers(), f.nrPfns(), f.nrPfns(), f.nrPfns());
      assertEquals(2, m.refcount(pfn));
      assertEquals(4242, m.index(pfn));
      assertTrue(m.testFlag(pfn, PageFlags.PG_DIRTY));
    }
  }

  @Test
  void inspectionWorksWhileTheKernelRuns() {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
      MemmapTesting.ops(mem).setIndex(pfn, 7);
      assertTrue(MemmapFile.isLive(dir));
      try (MemmapFile f = MemmapFile.openForInspection(dir)) {
        assertEquals("running", f.properties().getProperty("status"));
        var m =
            new dev.refkern.mm.internal.memmap.OffHeapMemmap(
                f.sectionBuffers(), f.nrPfns(), f.nrPfns(), f.nrPfns());
        assertEquals(7, m.index(pfn));
        // a write by the live kernel is visible to the inspector: the same mapped memory
        MemmapTesting.ops(mem).setIndex(pfn, 8);
        assertEquals(8, m.index(pfn));
      }
    }
    assertFalse(MemmapFile.isLive(dir));
  }

  @Test
  void secondKernelOnTheSameDirectoryIsEbusy() {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      KernelException e =
          assertThrows(
              KernelException.class,
              () -> PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, true));
      assertEquals(Errno.EBUSY, e.errno());
      assertEquals(1, mem.memmap().refcount(mem.allocator().allocPages(Gfp.KERNEL, 0)));
    }
  }

  @Test
  void previousMemmapIsNeverSilentlyReset() throws Exception {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      mem.allocator().allocPages(Gfp.KERNEL, 0);
    }
    KernelException e =
        assertThrows(
            KernelException.class,
            () -> PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false));
    assertEquals(Errno.EEXIST, e.errno());
    assertTrue(e.getMessage().contains("--reset"), e.getMessage());
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=32M"), dir, true)) {
      assertEquals(32L << 20 >> 12, mem.ramPfns());
    }
  }

  @Test
  void truncatedFileIsAClearErrorNotACrash() throws Exception {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      mem.allocator().allocPages(Gfp.KERNEL, 0);
    }
    Path map = dir.resolve(MemmapFile.MAP_FILE);
    try (var ch = java.nio.channels.FileChannel.open(map, java.nio.file.StandardOpenOption.WRITE)) {
      ch.truncate(Files.size(map) / 2);
    }
    KernelException e =
        assertThrows(KernelException.class, () -> MemmapFile.openForInspection(dir));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(e.getMessage().contains("corrupt"), e.getMessage());
  }

  @Test
  void garbageHeaderIsAClearError() throws Exception {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      mem.allocator().allocPages(Gfp.KERNEL, 0);
    }
    Path map = dir.resolve(MemmapFile.MAP_FILE);
    try (var ch = java.nio.channels.FileChannel.open(map, java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap("garbage garbage garbage".getBytes()), 0);
    }
    KernelException e =
        assertThrows(KernelException.class, () -> MemmapFile.openForInspection(dir));
    assertEquals(Errno.EINVAL, e.errno());
  }

  @Test
  void incompatibleFormatIsAClearError() throws Exception {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      mem.allocator().allocPages(Gfp.KERNEL, 0);
    }
    Path props = dir.resolve(MemmapFile.PROPS_FILE);
    Properties p = new Properties();
    try (var in = Files.newInputStream(props)) {
      p.load(in);
    }
    p.setProperty("descriptor_bytes", "128");
    try (var out = Files.newOutputStream(props)) {
      p.store(out, null);
    }
    KernelException e =
        assertThrows(KernelException.class, () -> MemmapFile.openForInspection(dir));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(e.getMessage().contains("incompatible"), e.getMessage());
  }

  @Test
  void missingStateIsEnoent() {
    KernelException e =
        assertThrows(KernelException.class, () -> MemmapFile.openForInspection(dir));
    assertEquals(Errno.ENOENT, e.errno());
  }

  @Test
  void descriptorsStartOnCacheLines() {
    // an atomic straddling a cache line would be a split lock
    try (MemmapFile f =
        MemmapFile.create(dir, 5 * MemmapFile.PAGES_PER_SECTION, "t", false, java.util.Map.of())) {
      for (long base : f.sectionBases()) {
        assertEquals(0, base % 64, "section base " + base);
      }
      for (java.nio.ByteBuffer b : f.sectionBuffers()) {
        assertEquals(0, b.alignmentOffset(0, 64));
      }
    }
  }

  @Test
  void memmapBudgetIsAtMost64BytesPerFrame() {
    try (PhysicalMemory mem =
        PhysicalMemory.boot(BootParams.parse("mem=512M zone_device=0"), dir, false)) {
      assertEquals(64, PhysicalMemory.descriptorBytes());
      assertTrue(mem.memmapBytesPerFrame() <= 64.5, "bytes/frame " + mem.memmapBytesPerFrame());
    }
  }
}
