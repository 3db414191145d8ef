package dev.refkern.mm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.internal.memmap.MemmapFile;
import dev.refkern.mm.internal.memmap.PageDescriptor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.Properties;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The memmap's own defences: checksums, sanity checks, locks, disk space, state-dir errors. */
class MemmapIntegrityTest {
  @TempDir Path dir;

  @AfterEach
  void restoreProbe() {
    MemmapFile.setUsableSpaceProbe(null);
  }

  private void bootAndStop(String cmdline) {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse(cmdline), dir, false)) {
      for (int i = 0; i < 100; i++) {
        mem.allocator().allocPages(Gfp.KERNEL, i % 3);
      }
    }
  }

  private Properties props() throws Exception {
    Properties p = new Properties();
    try (var in = Files.newInputStream(dir.resolve(MemmapFile.PROPS_FILE))) {
      p.load(in);
    }
    return p;
  }

  private void storeProps(Properties p) throws Exception {
    try (var out = Files.newOutputStream(dir.resolve(MemmapFile.PROPS_FILE))) {
      p.store(out, null);
    }
  }

  /** File offset of {@code pfn}'s descriptor, from the layout recorded at boot. */
  private long fileOffset(long pfn) throws Exception {
    String[] v = props().getProperty("section_offsets").split("\\+");
    long section = pfn >>> MemmapFile.SECTION_SHIFT;
    long base = Long.parseLong(v[0]) + section * Long.parseLong(v[1]);
    return base + (pfn & (MemmapFile.PAGES_PER_SECTION - 1)) * PageDescriptor.SIZE;
  }

  private void write(long offset, byte[] bytes) throws Exception {
    try (FileChannel ch =
        FileChannel.open(dir.resolve(MemmapFile.MAP_FILE), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(bytes), offset);
    }
  }

  @Test
  void flippedBytesInAStoppedKernelsSectionAreEucleanNamingTheSection() throws Exception {
    bootAndStop("mem=512M zone_device=0"); // 4 sections
    try (MemmapInspection in = MemmapInspection.open(dir)) {
      assertEquals(MemmapInspection.KernelState.STOPPED, in.state());
      in.verify(); // untouched: clean
    }
    Random r = new Random(1);
    long first = 2 * MemmapFile.PAGES_PER_SECTION;
    for (int i = 0; i < 1000; i++) {
      long off = fileOffset(first + r.nextInt((int) MemmapFile.PAGES_PER_SECTION));
      write(off + r.nextInt(PageDescriptor.SIZE), new byte[] {(byte) (1 + r.nextInt(255))});
    }
    try (MemmapInspection in = MemmapInspection.open(dir)) {
      KernelException e = assertThrows(KernelException.class, in::verify);
      assertEquals(Errno.EUCLEAN, e.errno());
      assertEquals(117, e.errno().number());
      assertTrue(e.getMessage().contains("memmap section 2 "), e.getMessage());
    }
  }

  @Test
  void aDiedKernelIsSanityCheckedAndTheFirstBadPfnIsEuclean() throws Exception {
    bootAndStop("mem=256M zone_device=0");
    // what kill -9 leaves: status running, no checksums, no lock holder
    Properties p = props();
    p.remove("section_crc32c");
    p.setProperty("status", "running");
    storeProps(p);
    try (MemmapInspection in = MemmapInspection.open(dir)) {
      assertEquals(MemmapInspection.KernelState.DIED, in.state());
      assertTrue(in.integrityNote().contains("checksums not verifiable"), in.integrityNote());
      in.verify(); // a sane memmap passes
    }
    ByteBuffer minusOne = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(0, -7);
    write(fileOffset(4242) + PageDescriptor.REFCOUNT, minusOne.array());
    try (MemmapInspection in = MemmapInspection.open(dir)) {
      KernelException e = assertThrows(KernelException.class, in::verify);
      assertEquals(Errno.EUCLEAN, e.errno());
      assertTrue(e.getMessage().contains("pfn 4242"), e.getMessage());
    }
  }

  @Test
  void inspectionMapsReadOnlyAndLeavesFilesUntouched() throws Exception {
    bootAndStop("mem=256M zone_device=0");
    Path map = dir.resolve(MemmapFile.MAP_FILE);
    Path propsFile = dir.resolve(MemmapFile.PROPS_FILE);
    FileTime old = FileTime.fromMillis(1_000_000_000_000L);
    for (Path f : new Path[] {map, propsFile, dir}) {
      Files.setLastModifiedTime(f, old);
    }
    byte[] before = Files.readAllBytes(map);
    byte[] propsBefore = Files.readAllBytes(propsFile);
    try (MemmapInspection in = MemmapInspection.open(dir)) {
      assertTrue(in.readOnly());
      in.verify();
      long used = 0;
      for (long pfn = 0; pfn < in.memmap().nrPfns(); pfn++) {
        used += in.memmap().refcount(pfn);
      }
      assertTrue(used > 0);
    }
    for (Path f : new Path[] {map, propsFile, dir}) {
      assertEquals(old, Files.getLastModifiedTime(f), f.toString());
    }
    assertTrue(Arrays.equals(before, Files.readAllBytes(map)));
    assertTrue(Arrays.equals(propsBefore, Files.readAllBytes(propsFile)));
    assertFalse(Files.exists(dir.resolve(MemmapFile.LOCK_FILE + ".new")));
  }

  @Test
  void anUnreadableStateIsEaccesNotEnoent() {
    // root reads anything, so the denial is simulated at the point the JDK reports it
    KernelException e =
        MemmapFile.ioError("cannot read x", new AccessDeniedException("/state/kernel.properties"));
    assertEquals(Errno.EACCES, e.errno());
  }

  @Test
  void aCorruptNumberInKernelPropertiesIsOneLineEinval() throws Exception {
    bootAndStop("mem=64M");
    Properties p = props();
    p.setProperty("ram_pfns", "abc");
    storeProps(p);
    KernelException e = assertThrows(KernelException.class, () -> MemmapInspection.open(dir));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(
        e.getMessage()
            .contains("corrupt state: ram_pfns=abc in " + dir.resolve("kernel.properties")),
        e.getMessage());
  }

  @Test
  void tooLittleDiskIsEnospcAndLeavesNoFile() {
    MemmapFile.setUsableSpaceProbe(d -> 100L << 20);
    KernelException e =
        assertThrows(
            KernelException.class,
            () -> PhysicalMemory.boot(BootParams.parse("mem=64G zone_device=0"), dir, false));
    assertEquals(Errno.ENOSPC, e.errno());
    assertTrue(
        e.getMessage().matches("ENOSPC: memmap needs 1\\.0 GiB, only 0\\.1 GiB free on .*"),
        e.getMessage());
    assertFalse(Files.exists(dir.resolve(MemmapFile.MAP_FILE)));
    assertFalse(Files.exists(dir.resolve(MemmapFile.PROPS_FILE)));
    MemmapFile.setUsableSpaceProbe(null);
    bootAndStop("mem=64M"); // and the directory is not "a previous kernel's"
  }

  @Test
  void deletingTheLockFileDoesNotLetASecondKernelReset() throws Exception {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
      MemmapTesting.ops(mem).setIndex(pfn, 99);
      Files.delete(dir.resolve(MemmapFile.LOCK_FILE));
      KernelException e =
          assertThrows(
              KernelException.class,
              () -> PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, true));
      assertEquals(Errno.EBUSY, e.errno());
      assertEquals(99, mem.memmap().index(pfn));
    }
  }

  @Test
  void aRegularFileOrEmptyPathAsStateIsEnotdirOrEnoent() throws Exception {
    Path file = Files.writeString(dir.resolve("f"), "x");
    KernelException e =
        assertThrows(
            KernelException.class,
            () -> PhysicalMemory.boot(BootParams.parse("mem=64M"), file, false));
    assertEquals(Errno.ENOTDIR, e.errno());
    e = assertThrows(KernelException.class, () -> MemmapInspection.open(file));
    assertEquals(Errno.ENOTDIR, e.errno());
    e =
        assertThrows(
            KernelException.class,
            () -> PhysicalMemory.boot(BootParams.parse("mem=64M"), Path.of(""), false));
    assertEquals(Errno.ENOENT, e.errno());
  }

  @Test
  void aFatalSignalMakesKernelEntriesEintrAndTheKernelStillStopsCleanly() throws Exception {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      mem.health().fatalSignal(); // what PhysicalMemory.fatalSignalAll() does to each machine
      KernelException e =
          assertThrows(KernelException.class, () -> mem.allocator().allocPages(Gfp.KERNEL, 0));
      assertEquals(Errno.EINTR, e.errno());
    }
    try (MemmapInspection in = MemmapInspection.open(dir)) {
      assertEquals(MemmapInspection.KernelState.STOPPED, in.state());
      in.verify();
    }
  }
}
