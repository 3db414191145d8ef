package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.ZoneType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/**
 * {@code hmm.file_pages=} (seed 004, beyond mainline): a shared mapping of a ram-backed file whose
 * page a small dmirror-like driver migrates to device-private memory and writes there.
 */
class DeviceFilePagesTest extends VmTestBase {
  private static final long DEVICE_DATA = 0x0de71ce_0004L;

  private RamBackedAops disk;
  private AddressSpace file;
  private Task task;
  private long addr;
  private DmirrorTestDriver dev;

  private void bootFile(String policy) {
    boot("mem=256M zone_device=8M hmm.file_pages=" + policy);
    disk = new RamBackedAops();
    file = AddressSpace.create(mem, disk);
    file.setSize(2 * 4096);
    task = vm.createTask("t");
    addr = task.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(addr, 1); // a CPU write fault: ->page_mkwrite, the folio is dirty
    assertEquals(0, vm.filemap().filemapWriteAndWait(file));
    dev = new DmirrorTestDriver(vm, DevPagemap.MemoryType.DEVICE_PRIVATE, this, 8);
  }

  /** Migrates page 0 to the device; returns its device pfn, or -1 if it stayed. */
  private long toDevice() {
    MigrateVma a = dev.migrateToDevice(task.mm(), addr, 1);
    return (a.src[0] & MigrateDevice.MIGRATE_PFN_MIGRATE) != 0 ? MigrateDevice.pfnOf(a.dst[0]) : -1;
  }

  /** The device writes its page, after telling the filesystem. */
  private void deviceWrite(long devPfn, long value) {
    assertEquals(0, vm.filemap().devicePageMkwrite(file, devPfn));
    mem.ram().writeLong(devPfn, 0, value);
  }

  private long onDisk() {
    return ByteBuffer.wrap(disk.readBlock(0)).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
  }

  private long stat(String name) {
    return vm.deviceFilePages().stats().get(name);
  }

  private boolean onDevice() {
    return Pte.isDevicePrivate(task.mm().pte(addr));
  }

  private long cachedPfn() {
    long pfn = vm.filemap().filemapGetFolio(file, 0);
    mem.allocator().putPage(pfn);
    return pfn;
  }

  @Test
  void offRefusesPageCacheFoliosAndCountsThem() {
    bootFile("off");
    assertEquals("off", vm.deviceFilePages().name());
    assertEquals(-1, toDevice(), "mainline: only anonymous memory moves to a device");
    assertFalse(onDevice());
    assertEquals(1, stat("file_pages_skipped"));
    assertEquals(1, task.loadLong(addr), "the page stays mapped in system memory");
    task.exit();
  }

  @Test
  void migrateBackWritebackBringsTheFolioHomeThenWritesTheDeviceData() {
    bootFile("migrate_back");
    long devPfn = toDevice();
    assertTrue(devPfn >= 0);
    assertTrue(onDevice());
    assertEquals(1, stat("file_pages_to_device"));
    deviceWrite(devPfn, DEVICE_DATA);
    assertEquals(1, file.nrDirty(), "->page_mkwrite dirtied the device folio");
    assertEquals(0, vm.filemap().filemapWriteAndWait(file), "fsync");
    assertEquals(DEVICE_DATA, onDisk());
    assertEquals(1, stat("migrations_back"));
    assertEquals(0, stat("bytes_bounced"));
    assertFalse(onDevice(), "writeback migrated it home first");
    assertEquals(ZoneType.NORMAL, mem.memmap().zone(cachedPfn()));
    assertEquals(0, file.nrDirty());
    assertEquals(DEVICE_DATA, task.loadLong(addr));
    task.exit();
  }

  @Test
  void migrateBackReadWaitsForTheMigrationAndSeesTheDeviceData() {
    bootFile("migrate_back");
    deviceWrite(toDevice(), DEVICE_DATA);
    long pfn = vm.filemap().readMappingFolio(file, 0);
    try {
      assertNotEquals(ZoneType.DEVICE, mem.memmap().zone(pfn));
      assertEquals(DEVICE_DATA, mem.ram().readLong(pfn, 0));
      assertTrue(new FolioOps(mem).folioTestDirty(pfn), "the dirty state came home with it");
    } finally {
      mem.allocator().putPage(pfn);
    }
    assertEquals(1, stat("migrations_back"));
    assertFalse(onDevice());
    task.exit();
  }

  @Test
  void migrateBackWriteLocksTheSystemFolioNotTheDevicePage() {
    bootFile("migrate_back");
    deviceWrite(toDevice(), DEVICE_DATA);
    long pfn = vm.filemap().filemapGrabFolio(file, 0); // write_begin
    try {
      assertNotEquals(ZoneType.DEVICE, mem.memmap().zone(pfn));
      assertEquals(DEVICE_DATA, mem.ram().readLong(pfn, 0));
      mem.ram().writeLong(pfn, 8, 7);
    } finally {
      new FolioOps(mem).folioUnlock(pfn);
      mem.allocator().putPage(pfn);
    }
    assertEquals(1, stat("migrations_back"));
    assertEquals(7, task.loadLong(addr + 8));
    task.exit();
  }

  @Test
  void migrateBackTruncateMigratesHomeThenRemovesTheFolio() {
    bootFile("migrate_back");
    long devPfn = toDevice();
    deviceWrite(devPfn, DEVICE_DATA);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
    assertEquals(1, stat("migrations_back"));
    assertEquals(0, file.nrPages());
    assertTrue(dev.freed.contains(devPfn), "the device page went back to its driver");
  }

  @Test
  void aCpuFaultOnTheDeviceEntryMigratesBackThroughTheDriver() {
    bootFile("bounce");
    deviceWrite(toDevice(), DEVICE_DATA);
    assertEquals(DEVICE_DATA, task.loadLong(addr));
    assertEquals(1, dev.migrateToRamCalls);
    assertFalse(onDevice());
    assertEquals(0, stat("migrations_back"), "the driver's migrate_to_ram, not the page cache's");
    assertEquals(0, vm.filemap().filemapWriteAndWait(file));
    assertEquals(DEVICE_DATA, onDisk(), "the folio came home dirty");
    task.exit();
  }

  @Test
  void bounceWritebackWritesTheDeviceDataWhileTheFolioStaysOnTheDevice() {
    bootFile("bounce");
    task.storeLong(addr, 2); // writable and dirty again: it migrates as a writable entry
    long devPfn = toDevice();
    assertTrue(Pte.isDevicePrivateWrite(task.mm().pte(addr)));
    deviceWrite(devPfn, DEVICE_DATA);
    assertEquals(0, vm.filemap().filemapWriteAndWait(file), "fsync");
    assertEquals(DEVICE_DATA, onDisk());
    assertEquals(1, stat("folios_bounced"));
    assertEquals(4096, stat("bytes_bounced"));
    assertEquals(0, stat("migrations_back"));
    assertTrue(onDevice(), "no migration");
    assertEquals(devPfn, Pte.entryPfn(task.mm().pte(addr)));
    assertFalse(Pte.isDevicePrivateWrite(task.mm().pte(addr)), "write-protected by mkclean");
    assertEquals(0, file.nrDirty());
    deviceWrite(devPfn, DEVICE_DATA + 1); // the device writes again: ->page_mkwrite redirties
    assertEquals(1, file.nrDirty());
    assertEquals(0, vm.filemap().filemapWriteAndWait(file));
    assertEquals(DEVICE_DATA + 1, onDisk());
    assertEquals(2, stat("folios_bounced"));
    assertTrue(mem.debugVm().check().isEmpty(), "CONFIG_DEBUG_VM with a device file folio");
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
    assertEquals(1, stat("migrations_back"), "truncate still migrates back");
  }
}
