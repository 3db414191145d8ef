package dev.refkern.mm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.spi.DevPagemapOps;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ZoneDeviceTest {
  @TempDir Path dir;
  private PhysicalMemory mem;
  private final List<Long> freed = new ArrayList<>();
  private final DevPagemapOps ops = freed::add;

  @BeforeEach
  void boot() {
    mem = PhysicalMemory.boot(BootParams.parse("mem=64M zone_device=8M"), dir, false);
  }

  @AfterEach
  void close() {
    mem.close();
  }

  @Test
  void memremapPagesPlacesDevicePagesAfterRam() {
    DevPagemap pg = new DevPagemap(DevPagemap.MemoryType.DEVICE_PRIVATE, ops, "gpu0");
    long start = mem.memremapPages(pg, 512);
    assertEquals(mem.ramPfns(), start);
    assertEquals(ZoneType.DEVICE, mem.memmap().zone(start));
    assertTrue(mem.memmap().testFlag(start + 511, PageFlags.PG_DEVICE));
    assertEquals(
        0, mem.memmap().refcount(start), "device-private pages start free, owned by the driver");
    assertSame(pg, mem.pagemapOf(start + 5));
    assertNull(mem.pagemapOf(0));
    DevPagemap second = new DevPagemap(DevPagemap.MemoryType.DEVICE_COHERENT, ops, "gpu1");
    assertEquals(start + 512, mem.memremapPages(second, 16));
    mem.debugVm().assertConsistent();
  }

  @Test
  void lastPutReturnsTheDevicePageToTheDriver() {
    DevPagemap pg = new DevPagemap(DevPagemap.MemoryType.DEVICE_PRIVATE, ops, "gpu0");
    long start = mem.memremapPages(pg, 4);
    mem.zoneDevicePageInit(start + 1);
    assertEquals(1, mem.memmap().refcount(start + 1));
    mem.allocator().getPage(start + 1);
    mem.allocator().putPage(start + 1);
    assertTrue(freed.isEmpty());
    mem.allocator().putPage(start + 1);
    assertEquals(List.of(start + 1), freed);
    assertEquals(0, mem.memmap().refcount(start + 1));
    assertEquals(
        65536 / 4, mem.allocator().nrFreePages(), "device pages never enter the buddy allocator");
  }

  @Test
  void initOfABusyDevicePageIsBug() {
    DevPagemap pg = new DevPagemap(DevPagemap.MemoryType.DEVICE_PRIVATE, ops, "gpu0");
    long start = mem.memremapPages(pg, 4);
    mem.zoneDevicePageInit(start);
    assertThrows(KernelBugException.class, () -> mem.zoneDevicePageInit(start));
  }

  @Test
  void memunmapRefusesWhilePagesAreReferenced() {
    DevPagemap pg = new DevPagemap(DevPagemap.MemoryType.DEVICE_PRIVATE, ops, "gpu0");
    long start = mem.memremapPages(pg, 4);
    mem.zoneDevicePageInit(start + 2);
    assertEquals(
        Errno.EBUSY, assertThrows(KernelException.class, () -> mem.memunmapPages(pg)).errno());
    mem.allocator().putPage(start + 2);
    mem.memunmapPages(pg);
    assertEquals(-1, pg.startPfn());
    assertFalse(mem.memmap().testFlag(start, PageFlags.PG_DEVICE));
    mem.debugVm().assertConsistent();
  }

  @Test
  void exhaustedDeviceRangeIsErangeBadArgsEinvalAndAConflictEnomem() {
    DevPagemap pg = new DevPagemap(DevPagemap.MemoryType.DEVICE_PRIVATE, ops, "gpu0");
    assertEquals(
        Errno.ERANGE,
        assertThrows(KernelException.class, () -> mem.memremapPages(pg, 2049)).errno());
    assertEquals(
        Errno.EINVAL, assertThrows(KernelException.class, () -> mem.memremapPages(pg, 0)).errno());
    mem.memremapPages(pg, 2048);
    // pagemap_range(): a second memremap_pages() over the same pagemap conflicts: WARN, -ENOMEM
    long warns = mem.health().warnCount();
    assertEquals(
        Errno.ENOMEM, assertThrows(KernelException.class, () -> mem.memremapPages(pg, 1)).errno());
    assertEquals(warns + 1, mem.health().warnCount());
    assertEquals(
        Errno.EINVAL, assertThrows(KernelException.class, () -> mem.zoneDevicePageInit(3)).errno());
  }
}
