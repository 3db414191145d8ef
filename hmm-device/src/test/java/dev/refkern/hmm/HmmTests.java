package dev.refkern.hmm;

import static dev.refkern.hmm.HmmDmirrorCmd.CHECK_EXCLUSIVE;
import static dev.refkern.hmm.HmmDmirrorCmd.EXCLUSIVE;
import static dev.refkern.hmm.HmmDmirrorCmd.MIGRATE_TO_DEV;
import static dev.refkern.hmm.HmmDmirrorCmd.MIGRATE_TO_SYS;
import static dev.refkern.hmm.HmmDmirrorCmd.READ;
import static dev.refkern.hmm.HmmDmirrorCmd.RELEASE;
import static dev.refkern.hmm.HmmDmirrorCmd.SNAPSHOT;
import static dev.refkern.hmm.HmmDmirrorCmd.WRITE;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.DevPagemap.MemoryType;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntUnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code tools/testing/selftests/mm/hmm-tests.c} (torvalds/linux at 0eaed89c18ae) ported to JUnit:
 * each test is named as in the kernel and runs for the {@code hmm_device_private} and {@code
 * hmm_device_coherent} variants ({@code FIXTURE_VARIANT}); {@code hmm2} tests open two devices. The
 * user buffer ({@code buffer->mirror}) is a Java array; user memory is a task's.
 *
 * <p>Not ported, as not applicable: {@code anon_write_hugetlbfs} and {@code compound} need
 * hugetlbfs, which mm-core lacks ({@link #compound_thp} runs {@code compound}'s assertions over a
 * THP); {@code mixedmap} needs the driver's {@code mmap} ({@code vm_insert_page()} into a {@code
 * VM_MIXEDMAP} VMA), which refkern has no file operation for; {@code migrate_anon_huge_free} needs
 * {@code MADV_FREE} and {@code migrate_remap_fault} needs {@code mremap()}, neither in mm-core;
 * {@code benchmark_thp_migration} is a timing benchmark, not a test. refkern has no large device
 * folios: a THP is split when collected, and the THP tests say in their Javadoc where that changes
 * the kernel's assertion. The tests after them check bad input.
 */
class HmmTests {
  /** {@code FIXTURE_VARIANT_ADD(hmm, hmm_device_private / hmm_device_coherent)}. */
  @Target(ElementType.METHOD)
  @Retention(RetentionPolicy.RUNTIME)
  @ParameterizedTest(name = "{0}")
  @EnumSource(
      value = MemoryType.class,
      names = {"DEVICE_PRIVATE", "DEVICE_COHERENT"})
  @interface Variants {}

  private static final int PAGE_SIZE = 4096;
  private static final int PAGE_SHIFT = 12;

  /** {@code HMM_BUFFER_SIZE}: 1024 pages. */
  private static final long HMM_BUFFER_SIZE = 1024L << 12;

  private static final long TWOMEG = 1L << 21;

  /** {@code NTIMES}. */
  private static final int NTIMES = 10;

  @TempDir Path dir;
  private VirtualMemory vm;
  private PhysicalMemory mem;
  private final List<DmirrorDevice> devices = new ArrayList<>();
  private final List<Dmirror> mirrors = new ArrayList<>();
  private final List<Task> tasks = new ArrayList<>();
  private final List<AddressSpace> files = new ArrayList<>();
  private Task task;
  private Dmirror fd;
  private Dmirror fd0;
  private Dmirror fd1;

  /** {@code FIXTURE_SETUP(hmm)}: a machine, a process and {@code /dev/hmm_dmirror0} open. */
  private void setUp(MemoryType type) {
    vm = VirtualMemory.boot(BootParams.parse("mem=256M zone_device=32M"), dir, false);
    mem = vm.physicalMemory();
    task = newTask("hmm-tests");
    fd = open(device(type, "dmirror0"), task);
  }

  /** {@code FIXTURE_SETUP(hmm2)}: two devices of the same type, both open. */
  private void setUp2(MemoryType type) {
    setUp(type);
    fd0 = fd;
    fd1 = open(device(type, "dmirror1"), task);
  }

  private DmirrorDevice device(MemoryType type, String name) {
    DmirrorDevice d = new DmirrorDevice(vm, type, name);
    devices.add(d);
    return d;
  }

  private Dmirror open(DmirrorDevice d, Task t) {
    Dmirror m = d.open(t.mm());
    mirrors.add(m);
    return m;
  }

  private Task newTask(String name) {
    Task t = vm.createTask(name);
    tasks.add(t);
    return t;
  }

  /** {@code FIXTURE_TEARDOWN}; then {@code CONFIG_DEBUG_VM} is clean and no device page pinned. */
  @AfterEach
  void tearDown() {
    if (mem == null) {
      return;
    }
    try {
      for (Dmirror m : mirrors) {
        m.close();
      }
      for (Task t : tasks) {
        t.exit();
      }
      for (AddressSpace f : files) {
        vm.truncate().truncateInodePages(f, 0);
      }
      vm.lru().lruAddDrainAll();
      List<String> problems = mem.debugVm().checkNoPinsHeld();
      assertTrue(problems.isEmpty(), "CONFIG_DEBUG_VM: " + problems);
      for (DmirrorDevice d : devices) {
        for (DevPagemap p : d.pagemaps()) {
          for (long pfn = p.startPfn(); pfn < p.startPfn() + p.nrPages(); pfn++) {
            assertEquals(0, mem.memmap().pincount(pfn), "device pfn " + pfn + " pinned");
            assertTrue(mem.memmap().refcount(pfn) < 1024, "device pfn " + pfn + " pinned");
            assertEquals(0, mem.memmap().refcount(pfn), "device pfn " + pfn + " still in use");
          }
        }
      }
    } finally {
      mem.close();
    }
  }

  // ---------------------------------------------------------------- helpers

  /** {@code struct hmm_buffer}. */
  private static final class Buffer {
    long oldPtr;
    long ptr;
    byte[] mirror;
    long size;
    long cpages;
    long faults;
  }

  private Buffer buffer(long size) {
    Buffer b = new Buffer();
    b.size = size;
    b.mirror = new byte[(int) size];
    return b;
  }

  /** {@code hmm_dmirror_cmd()}: the ioctl; the counters reach the buffer only on success. */
  private static void cmd(Dmirror m, int request, Buffer b, long npages) {
    HmmDmirrorCmd c = new HmmDmirrorCmd(b.ptr, b.mirror, npages);
    m.ioctl(request, c);
    b.cpages = c.cpages;
    b.faults = c.faults;
  }

  private static Errno errno(Executable e) {
    return assertThrows(KernelException.class, e).errno();
  }

  /** {@code ptr[i] = f(i)} over {@code len} bytes, as ints. */
  private static byte[] ints(long len, IntUnaryOperator f) {
    ByteBuffer bb = ByteBuffer.allocate((int) len).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < len / 4; i++) {
      bb.putInt(i * 4, f.applyAsInt(i));
    }
    return bb.array();
  }

  private static void fill(byte[] buf, IntUnaryOperator f) {
    System.arraycopy(ints(buf.length, f), 0, buf, 0, buf.length);
  }

  /** {@code for (i = from; i < to; ++i) ASSERT_EQ(ptr[i], f(i))} over ints. */
  private static void assertInts(byte[] buf, int from, int to, IntUnaryOperator f) {
    ByteBuffer bb = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = from; i < to; i++) {
      if (bb.getInt(i * 4) != f.applyAsInt(i)) {
        assertEquals(f.applyAsInt(i), bb.getInt(i * 4), "ptr[" + i + "]");
      }
    }
  }

  private static void assertInts(byte[] buf, IntUnaryOperator f) {
    assertInts(buf, 0, buf.length / 4, f);
  }

  private void storeInts(Task t, long addr, long len, IntUnaryOperator f) {
    byte[] b = ints(len, f);
    t.store(addr, b, 0, b.length);
  }

  private byte[] load(Task t, long addr, long len) {
    byte[] b = new byte[(int) len];
    t.load(addr, b, 0, b.length);
    return b;
  }

  private static long align(long x, long a) {
    return (x + a - 1) & -a;
  }

  // ---------------------------------------------------------------- tests

  /** Simple NULL test of device open/close. */
  @Variants
  void open_close(MemoryType type) {
    setUp(type);
  }

  /** Read private anonymous memory. */
  @Variants
  void anon_read(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    // Initialize buffer in system memory but leave the first two pages zero (pte_none and
    // pfn_zero).
    storeInts(task, b.ptr + 2 * PAGE_SIZE, size - 2 * PAGE_SIZE, i -> i + 2 * PAGE_SIZE / 4);
    task.mprotect(b.ptr, size, PROT_READ);
    // Populate the CPU page table with a special zero page.
    assertEquals(0, task.loadLong(b.ptr + PAGE_SIZE));
    cmd(fd, READ, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(b.mirror, 0, 2 * PAGE_SIZE / 4, i -> 0);
    assertInts(b.mirror, 2 * PAGE_SIZE / 4, (int) (size / 4), i -> i);
  }

  /** Read private anonymous memory which has been protected with mprotect() PROT_NONE. */
  @Variants
  void anon_read_prot(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    storeInts(task, b.ptr, size, i -> i);
    // Initialize mirror buffer so we can verify it isn't written.
    fill(b.mirror, i -> -i);
    task.mprotect(b.ptr, size, PROT_NONE);
    assertEquals(Errno.EFAULT, errno(() -> cmd(fd, READ, b, npages)));
    task.mprotect(b.ptr, size, PROT_READ);
    assertInts(load(task, b.ptr, size), i -> i);
    assertInts(b.mirror, i -> -i);
  }

  /** Write private anonymous memory. */
  @Variants
  void anon_write(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    fill(b.mirror, i -> i);
    cmd(fd, WRITE, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(load(task, b.ptr, size), i -> i);
  }

  /** Write private anonymous memory which has been protected with mprotect() PROT_READ. */
  @Variants
  void anon_write_prot(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    // Simulate a device reading a zero page of memory.
    cmd(fd, READ, b, 1);
    assertEquals(1, b.cpages);
    assertEquals(1, b.faults);
    fill(b.mirror, i -> i);
    assertEquals(Errno.EPERM, errno(() -> cmd(fd, WRITE, b, npages)));
    assertInts(load(task, b.ptr, size), i -> 0);
    // Now allow writing and see that the zero page is replaced.
    task.mprotect(b.ptr, size, PROT_WRITE | PROT_READ);
    cmd(fd, WRITE, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(load(task, b.ptr, size), i -> i);
  }

  /**
   * A device writing an anonymous private mapping copies on write when a child inherited it, also
   * after the data was migrated to the device, and the child's device sees the parent's data.
   */
  @Variants
  void anon_write_child(MemoryType type) {
    setUp(type);
    for (int migrate = 0; migrate < 2; ++migrate) {
      for (int useThp = 0; useThp < 2; ++useThp) {
        long npages = (useThp == 1 ? TWOMEG : HMM_BUFFER_SIZE) >> PAGE_SHIFT;
        long size = npages << PAGE_SHIFT;
        Buffer b = buffer(size);
        long oldPtr =
            task.mmap(0, size * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
        b.ptr = oldPtr;
        if (useThp == 1) {
          b.ptr = align(oldPtr, size);
          task.madvise(b.ptr, size, MADV_HUGEPAGE);
        }
        storeInts(task, b.ptr, size, i -> i);
        fill(b.mirror, i -> -i);
        if (migrate == 1) {
          cmd(fd, MIGRATE_TO_DEV, b, npages);
          assertEquals(npages, b.cpages);
          fill(b.mirror, i -> -i);
        }

        Task child = task.fork("child");
        tasks.add(child);
        // The child sees the parent's values.
        assertInts(load(child, b.ptr, size), i -> i);
        // The child process needs its own mirror to its own mm.
        Dmirror childFd = open(fd.device(), child);
        cmd(childFd, WRITE, b, npages);
        assertEquals(npages, b.cpages);
        assertEquals(1, b.faults);
        if (migrate == 0) {
          assertInts(load(child, b.ptr, size), i -> -i);
        }
        childFd.close();
        child.exit();

        // The parent's buffer did not change.
        assertInts(load(task, b.ptr, size), i -> i);
        task.munmap(oldPtr, size * 2);
      }
    }
  }

  /** A device writing an anonymous shared mapping does not copy on write in a child. */
  @Variants
  void anon_write_child_shared(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, null, 0);
    storeInts(task, b.ptr, size, i -> i);
    fill(b.mirror, i -> -i);
    Task child = task.fork("child");
    tasks.add(child);
    assertInts(load(child, b.ptr, size), i -> i);
    Dmirror childFd = open(fd.device(), child);
    cmd(childFd, WRITE, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(load(child, b.ptr, size), i -> -i);
    childFd.close();
    child.exit();
    // The parent's buffer did change.
    assertInts(load(task, b.ptr, size), i -> -i);
  }

  /** Write private anonymous huge page. */
  @Variants
  void anon_write_huge(MemoryType type) {
    setUp(type);
    long size = 2 * TWOMEG;
    Buffer b = buffer(size / 2);
    long oldPtr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    size /= 2;
    long npages = size >> PAGE_SHIFT;
    b.ptr = align(oldPtr, size);
    task.madvise(b.ptr, size, MADV_HUGEPAGE);
    fill(b.mirror, i -> i);
    cmd(fd, WRITE, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(load(task, b.ptr, size), i -> i);
    assertTrue(dev.refkern.mm.vm.Pte.huge(task.mm().pte(b.ptr)), "the device wrote a THP");
  }

  private AddressSpace createFile(RamBackedAops disk, long size) {
    AddressSpace f = AddressSpace.create(mem, disk);
    f.setSize(size);
    files.add(f);
    return f;
  }

  /** Read mmap'ed file memory. */
  @Variants
  void file_read(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    RamBackedAops disk = new RamBackedAops();
    AddressSpace file = createFile(disk, size);
    // Write initial contents of the file.
    byte[] data = ints(size, i -> i);
    for (int p = 0; p < npages; p++) {
      disk.writeBlock(p, java.util.Arrays.copyOfRange(data, p * PAGE_SIZE, (p + 1) * PAGE_SIZE));
    }
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ, MAP_SHARED, file, 0);
    cmd(fd, READ, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(b.mirror, i -> i);
  }

  /** Write mmap'ed file memory. */
  @Variants
  void file_write(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    RamBackedAops disk = new RamBackedAops();
    AddressSpace file = createFile(disk, size);
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    fill(b.mirror, i -> i);
    cmd(fd, WRITE, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(load(task, b.ptr, size), i -> i);
    // The device also wrote the file.
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    byte[] onDisk = new byte[(int) size];
    for (int p = 0; p < npages; p++) {
      System.arraycopy(disk.readBlock(p), 0, onDisk, p * PAGE_SIZE, PAGE_SIZE);
    }
    assertInts(onDisk, i -> i);
  }

  /** Read anonymous memory multiple times. */
  @Variants
  void anon_read_multiple(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    for (int c = 0; c < NTIMES; c++) {
      int cc = c;
      Buffer b = buffer(size);
      b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
      storeInts(task, b.ptr, size, i -> i + cc);
      cmd(fd, READ, b, npages);
      assertEquals(npages, b.cpages);
      assertEquals(1, b.faults);
      assertInts(b.mirror, i -> i + cc);
      task.munmap(b.ptr, size);
    }
  }

  /**
   * Try reading anonymous memory while it is being unmapped: the read either sees all the data or
   * fails with EFAULT, whichever way the two threads interleave.
   */
  @Variants
  void anon_teardown(MemoryType type) throws InterruptedException {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    for (int c = 0; c < NTIMES; ++c) {
      int cc = c;
      Buffer b = buffer(size);
      b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
      storeInts(task, b.ptr, size, i -> i + cc);
      Thread unmapper = new Thread(() -> task.munmap(b.ptr + size / 2, size / 2));
      unmapper.start();
      try {
        cmd(fd, READ, b, npages);
        assertEquals(npages, b.cpages);
        assertEquals(1, b.faults);
        assertInts(b.mirror, i -> i + cc);
      } catch (KernelException e) {
        assertEquals(Errno.EFAULT, e.errno(), "the unmapped half is gone");
      }
      unmapper.join(60_000);
      assertFalse(unmapper.isAlive(), "munmap finished");
      task.munmap(b.ptr, size / 2);
    }
  }

  /** Test memory snapshot without faulting in pages accessed by the device (hmm2). */
  @Variants
  void snapshot(MemoryType type) {
    setUp2(type);
    long npages = 7;
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    long p = task.mmap(0, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    // Punch a hole after the first page address.
    task.munmap(p + PAGE_SIZE, PAGE_SIZE);
    // Page 2 will be read-only zero page.
    task.mprotect(p + 2 * PAGE_SIZE, PAGE_SIZE, PROT_READ);
    int val = (int) task.loadLong(p + 2 * PAGE_SIZE) + 3;
    assertEquals(3, val);
    // Page 3 will be read-only.
    task.mprotect(p + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE);
    task.storeLong(p + 3 * PAGE_SIZE, val);
    task.mprotect(p + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ);
    // Page 4-6 will be read-write.
    task.mprotect(p + 4 * PAGE_SIZE, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE);
    task.storeLong(p + 4 * PAGE_SIZE, val);
    // Page 5 will be migrated to device 0.
    b.ptr = p + 5 * PAGE_SIZE;
    cmd(fd0, MIGRATE_TO_DEV, b, 1);
    assertEquals(1, b.cpages);
    // Page 6 will be migrated to device 1.
    b.ptr = p + 6 * PAGE_SIZE;
    cmd(fd1, MIGRATE_TO_DEV, b, 1);
    assertEquals(1, b.cpages);
    // Simulate a device snapshotting CPU pagetables.
    b.ptr = p;
    b.mirror = new byte[(int) npages];
    cmd(fd0, SNAPSHOT, b, npages);
    assertEquals(npages, b.cpages);
    byte[] m = b.mirror;
    assertEquals(HmmDmirrorCmd.PROT_ERROR, m[0] & 0xff);
    assertEquals(HmmDmirrorCmd.PROT_ERROR, m[1] & 0xff);
    assertEquals(HmmDmirrorCmd.PROT_ZERO | HmmDmirrorCmd.PROT_READ, m[2]);
    assertEquals(HmmDmirrorCmd.PROT_READ, m[3]);
    assertEquals(HmmDmirrorCmd.PROT_WRITE, m[4]);
    if (type == MemoryType.DEVICE_PRIVATE) {
      assertEquals(HmmDmirrorCmd.PROT_DEV_PRIVATE_LOCAL | HmmDmirrorCmd.PROT_WRITE, m[5]);
      assertEquals(HmmDmirrorCmd.PROT_NONE, m[6]);
    } else {
      assertEquals(HmmDmirrorCmd.PROT_DEV_COHERENT_LOCAL | HmmDmirrorCmd.PROT_WRITE, m[5]);
      assertEquals(HmmDmirrorCmd.PROT_DEV_COHERENT_REMOTE | HmmDmirrorCmd.PROT_WRITE, m[6]);
    }
  }

  /** Test two devices reading the same memory (double mapped, hmm2). */
  @Variants
  void double_map(MemoryType type) {
    setUp2(type);
    long npages = 6;
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    storeInts(task, b.ptr, size, i -> i);
    task.mprotect(b.ptr, size, PROT_READ);
    cmd(fd0, READ, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(b.mirror, i -> i);
    fill(b.mirror, i -> 0);
    cmd(fd1, READ, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(b.mirror, i -> i);
    // Migrate pages to device 1 and try to read from device 0.
    cmd(fd1, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    fill(b.mirror, i -> 0);
    cmd(fd0, READ, b, npages);
    assertEquals(npages, b.cpages);
    assertEquals(1, b.faults);
    assertInts(b.mirror, i -> i);
  }

  private Buffer anonBuffer(long npages) {
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    storeInts(task, b.ptr, size, i -> i);
    return b;
  }

  /** Migrate anonymous memory to device memory. */
  @Variants
  void migrate(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> i);
  }

  /**
   * Migrate anonymous memory to device memory and fault some of it back to system memory, then try
   * migrating the resulting mix of system and device memory to the device.
   */
  @Variants
  void migrate_fault(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> i);
    // Fault half the pages back to system memory and check them.
    assertInts(load(task, b.ptr, size / 2), i -> i);
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> i);
  }

  /** Release the device memory while pages are on it: they go home, nothing is lost. */
  @Variants
  void migrate_release(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> i);
    cmd(fd, RELEASE, b, npages);
    assertTrue(fd.device().pagemaps().isEmpty(), "the device memory is gone");
    assertInts(load(task, b.ptr, size / 2), i -> i);
    assertInts(load(task, b.ptr, size), i -> i);
  }

  /** Migrate anonymous shared memory to device memory: not supported, ENOENT. */
  @Variants
  void migrate_shared(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, null, 0);
    assertEquals(Errno.ENOENT, errno(() -> cmd(fd, MIGRATE_TO_DEV, b, npages)));
  }

  /** Try to migrate various memory types to device memory (hmm2). */
  @Variants
  void migrate_mixed(MemoryType type) {
    setUp2(type);
    long npages = 6;
    long size = npages << PAGE_SHIFT;
    Buffer b = buffer(size);
    long p = task.mmap(0, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    b.ptr = p;
    // Migrating a protected area should be an error.
    assertEquals(Errno.EINVAL, errno(() -> cmd(fd1, MIGRATE_TO_DEV, b, npages)));
    // Punch a hole after the first page address.
    task.munmap(p + PAGE_SIZE, PAGE_SIZE);
    // We expect an error if the vma doesn't cover the range.
    assertEquals(Errno.EINVAL, errno(() -> cmd(fd1, MIGRATE_TO_DEV, b, 3)));
    // Page 2 will be a read-only zero page.
    task.mprotect(p + 2 * PAGE_SIZE, PAGE_SIZE, PROT_READ);
    int val = (int) task.loadLong(p + 2 * PAGE_SIZE) + 3;
    assertEquals(3, val);
    // Page 3 will be read-only.
    task.mprotect(p + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE);
    task.storeLong(p + 3 * PAGE_SIZE, val);
    task.mprotect(p + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ);
    // Page 4-5 will be read-write.
    task.mprotect(p + 4 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE);
    task.storeLong(p + 4 * PAGE_SIZE, val);
    task.storeLong(p + 5 * PAGE_SIZE, val);
    // Now try to migrate pages 2-5 to device 1.
    b.ptr = p + 2 * PAGE_SIZE;
    cmd(fd1, MIGRATE_TO_DEV, b, 4);
    assertEquals(4, b.cpages);
    // Page 5 won't be migrated to device 0 because it's on device 1.
    b.ptr = p + 5 * PAGE_SIZE;
    assertEquals(Errno.ENOENT, errno(() -> cmd(fd0, MIGRATE_TO_DEV, b, 1)));
  }

  /**
   * Migrate anonymous memory to device memory and back multiple times: device-private pages come
   * back by CPU faults, device-coherent ones (which the CPU reads in place) by MIGRATE_TO_SYS.
   */
  @Variants
  void migrate_multiple(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    for (int c = 0; c < NTIMES; c++) {
      Buffer b = anonBuffer(npages);
      cmd(fd, MIGRATE_TO_DEV, b, npages);
      assertEquals(npages, b.cpages);
      assertInts(b.mirror, i -> i);
      if (type == MemoryType.DEVICE_COHERENT) {
        cmd(fd, MIGRATE_TO_SYS, b, npages);
        assertEquals(npages, b.cpages);
      }
      assertInts(load(task, b.ptr, size), i -> i);
      task.munmap(b.ptr, size);
    }
  }

  /** Basic check of exclusive faulting. */
  @Variants
  void exclusive(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd, EXCLUSIVE, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> i);
    // Fault pages back to system memory and check them.
    assertInts(load(task, b.ptr, size), i -> i);
    storeInts(task, b.ptr, size, i -> i + 1);
    assertInts(load(task, b.ptr, size), i -> i + 1);
    // Check atomic access revoked.
    cmd(fd, CHECK_EXCLUSIVE, b, npages);
  }

  /** A device write after mprotect(PROT_READ) of exclusively held pages: EPERM. */
  @Variants
  void exclusive_mprotect(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd, EXCLUSIVE, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> i);
    task.mprotect(b.ptr, size, PROT_READ);
    assertEquals(Errno.EPERM, errno(() -> cmd(fd, WRITE, b, npages)));
  }

  /** Check copy-on-write of exclusively held pages works in both processes. */
  @Variants
  void exclusive_cow(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd, EXCLUSIVE, b, npages);
    assertEquals(npages, b.cpages);
    Task child = task.fork("child");
    tasks.add(child);
    for (Task t : List.of(child, task)) {
      assertInts(load(t, b.ptr, size), i -> i);
      storeInts(t, b.ptr, size, i -> i + 1);
      assertInts(load(t, b.ptr, size), i -> i + 1);
    }
    child.exit();
  }

  /**
   * GUP of device pages ({@code gup_test}'s GUP_BASIC_TEST, GUP_FAST_BENCHMARK, PIN_FAST_BENCHMARK
   * with FOLL_LONGTERM, PIN_LONGTERM_BENCHMARK): long-term pins migrate both kinds home; short-term
   * ones migrate device-private pages home and leave coherent ones.
   */
  @Variants
  void hmm_gup_test(MemoryType type) {
    setUp(type);
    long npages = 4;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> i);
    dev.refkern.mm.vm.Gup gup = vm.gup();
    long[] pages = new long[1];
    int write = dev.refkern.mm.vm.Foll.FOLL_WRITE;
    int longterm = dev.refkern.mm.vm.Foll.FOLL_LONGTERM;
    assertEquals(1, gup.getUserPages(task, b.ptr, 1, write, pages));
    gup.putPage(pages[0]);
    assertEquals(1, gup.getUserPagesFast(task, b.ptr + PAGE_SIZE, 1, write, pages));
    gup.putPage(pages[0]);
    assertEquals(1, gup.pinUserPagesFast(task, b.ptr + 2 * PAGE_SIZE, 1, write | longterm, pages));
    gup.unpinUserPage(pages[0]);
    assertEquals(1, gup.pinUserPages(task, b.ptr + 3 * PAGE_SIZE, 1, write | longterm, pages));
    gup.unpinUserPage(pages[0]);
    // Take snapshot to CPU pagetables.
    b.mirror = new byte[(int) npages];
    cmd(fd, SNAPSHOT, b, npages);
    assertEquals(npages, b.cpages);
    byte[] m = b.mirror;
    if (type == MemoryType.DEVICE_COHERENT) {
      assertEquals(HmmDmirrorCmd.PROT_DEV_COHERENT_LOCAL | HmmDmirrorCmd.PROT_WRITE, m[0]);
      assertEquals(HmmDmirrorCmd.PROT_DEV_COHERENT_LOCAL | HmmDmirrorCmd.PROT_WRITE, m[1]);
    } else {
      assertEquals(HmmDmirrorCmd.PROT_WRITE, m[0]);
      assertEquals(HmmDmirrorCmd.PROT_WRITE, m[1]);
    }
    assertEquals(HmmDmirrorCmd.PROT_WRITE, m[2]);
    assertEquals(HmmDmirrorCmd.PROT_WRITE, m[3]);
    // No corrupted data.
    assertInts(load(task, b.ptr, size), i -> i);
  }

  /**
   * Copy-on-write of device pages: the parent's write after fork gets a system page (a
   * device-private page is migrated home first, a coherent one copied from the device).
   */
  @Variants
  void hmm_cow_in_device(MemoryType type) {
    setUp(type);
    long npages = 4;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    Task child = task.fork("child");
    tasks.add(child);
    storeInts(task, b.ptr, size, i -> i);
    child.kill();
    child.exit();
    b.mirror = new byte[(int) npages];
    cmd(fd, SNAPSHOT, b, npages);
    assertEquals(npages, b.cpages);
    for (int i = 0; i < npages; i++) {
      assertEquals(HmmDmirrorCmd.PROT_WRITE, b.mirror[i], "page " + i);
    }
  }

  /**
   * Migrate private file memory (written, so copied on write into anonymous pages) to the device.
   */
  @Variants
  void migrate_file_private(MemoryType type) {
    setUp(type);
    long npages = HMM_BUFFER_SIZE >> PAGE_SHIFT;
    long size = npages << PAGE_SHIFT;
    AddressSpace file = createFile(new RamBackedAops(), size);
    Buffer b = buffer(size);
    b.ptr = task.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
    storeInts(task, b.ptr, size, i -> i);
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> i);
  }

  /** A {@code MADV_HUGEPAGE} buffer of one PMD, aligned inside a mapping of two. */
  private Buffer hugeBuffer(int prot, int advice) {
    Buffer b = buffer(TWOMEG);
    java.util.Arrays.fill(b.mirror, (byte) 0xff);
    b.oldPtr = task.mmap(0, 2 * TWOMEG, prot, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    b.ptr = align(b.oldPtr, TWOMEG);
    task.madvise(b.ptr, TWOMEG, advice);
    return b;
  }

  /** Migrate private anonymous huge empty page. */
  @Variants
  void migrate_anon_huge_empty(MemoryType type) {
    setUp(type);
    long npages = TWOMEG >> PAGE_SHIFT;
    Buffer b = hugeBuffer(PROT_READ, MADV_HUGEPAGE);
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> 0);
  }

  /**
   * Migrate private anonymous huge zero page.
   *
   * <p>Deviation: refkern has no huge zero folio: the read fault maps a zeroed THP, which
   * migrate_vma_setup splits and migrates page by page.
   */
  @Variants
  void migrate_anon_huge_zero(MemoryType type) {
    setUp(type);
    long npages = TWOMEG >> PAGE_SHIFT;
    Buffer b = hugeBuffer(PROT_READ, MADV_HUGEPAGE);
    assertEquals(0, task.loadLong(b.ptr));
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> 0);
    // Fault pages back to system memory and check them.
    assertInts(load(task, b.ptr, TWOMEG), i -> 0);
  }

  /**
   * Migrate private anonymous huge page and fault back to sysmem.
   *
   * <p>Deviations: mm-core has no {@code MADV_COLLAPSE}, so the THP comes from {@code
   * MADV_HUGEPAGE} before the first touch; refkern has no large device folios (migrate_vma splits
   * the THP), so the snapshot shows no {@code HMM_DMIRROR_PROT_PMD}. The pagemap check (swap entry,
   * not present) reads the ptes directly.
   */
  @Variants
  void migrate_anon_huge_fault(MemoryType type) {
    setUp(type);
    long npages = TWOMEG >> PAGE_SHIFT;
    Buffer b = hugeBuffer(PROT_READ | PROT_WRITE, MADV_HUGEPAGE);
    storeInts(task, b.ptr, TWOMEG, i -> i);
    assertTrue(dev.refkern.mm.vm.Pte.huge(task.mm().pte(b.ptr)), "a THP to migrate");
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    assertInts(b.mirror, i -> i);
    if (type == MemoryType.DEVICE_PRIVATE) {
      b.mirror = new byte[(int) npages];
      cmd(fd, SNAPSHOT, b, npages);
      assertEquals(npages, b.cpages);
      for (int i = 0; i < npages; i++) {
        assertEquals(
            HmmDmirrorCmd.PROT_DEV_PRIVATE_LOCAL | HmmDmirrorCmd.PROT_WRITE,
            b.mirror[i],
            "page " + i);
        long pte = task.mm().pte(b.ptr + (long) i * PAGE_SIZE);
        assertFalse(dev.refkern.mm.vm.Pte.present(pte));
        assertTrue(dev.refkern.mm.vm.Pte.isDevicePrivate(pte));
      }
    }
    assertInts(load(task, b.ptr, TWOMEG), i -> i);
  }

  /** Migrate memory and fault back to sysmem after partially unmapping. */
  @Variants
  void migrate_partial_unmap_fault(MemoryType type) {
    setUp(type);
    long size = TWOMEG;
    long npages = size >> PAGE_SHIFT;
    long unmapSize = size / 2;
    long[] offsets = {0, size / 4, size / 2};
    for (int useThp = 0; useThp < 2; ++useThp) {
      for (long off : offsets) {
        Buffer b =
            hugeBuffer(PROT_READ | PROT_WRITE, useThp == 1 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        storeInts(task, b.ptr, size, i -> i);
        cmd(fd, MIGRATE_TO_DEV, b, npages);
        assertEquals(npages, b.cpages);
        assertInts(b.mirror, i -> i);
        task.munmap(b.ptr + off, unmapSize);
        // Fault pages back to system memory and check them.
        byte[] got = new byte[(int) size];
        if (off > 0) {
          task.load(b.ptr, got, 0, (int) off);
        }
        if (off + unmapSize < size) {
          task.load(
              b.ptr + off + unmapSize,
              got,
              (int) (off + unmapSize),
              (int) (size - off - unmapSize));
        }
        assertInts(got, 0, (int) (off / 4), i -> i);
        assertInts(got, (int) ((off + unmapSize) / 4), (int) (size / 4), i -> i);
        task.munmap(b.oldPtr, 2 * size);
      }
    }
  }

  /**
   * Migrate private anonymous huge page with allocation errors.
   *
   * <p>Deviation: the kernel's driver fails the THP allocation and falls back to 512 small device
   * pages, so every page migrates. refkern splits the THP before the driver sees it, so the failed
   * allocation is a small page's: that page stays in system memory and the ioctl fails with ENOENT
   * (as the kernel's does for a small page), nothing lost. Migrating back, the driver's flag is not
   * consulted (refkern's dmirror fails only device allocations).
   */
  @Variants
  void migrate_anon_huge_err(MemoryType type) {
    setUp(type);
    long size = TWOMEG;
    long npages = size >> PAGE_SHIFT;
    Buffer b = hugeBuffer(PROT_READ | PROT_WRITE, MADV_HUGEPAGE);
    storeInts(task, b.ptr, size, i -> i);
    cmd(fd, HmmDmirrorCmd.FLAGS, b, HmmDmirrorCmd.FLAG_FAIL_ALLOC);
    assertEquals(Errno.ENOENT, errno(() -> cmd(fd, MIGRATE_TO_DEV, b, npages)));
    assertFalse(fd.mirrors(b.ptr), "the page whose allocation failed is not on the device");
    assertTrue(fd.mirrors(b.ptr + PAGE_SIZE));
    // Try faulting back a single (PAGE_SIZE) page.
    assertEquals(2048, (int) task.loadLong(b.ptr + 2048 * 4));
    assertInts(load(task, b.ptr, size), i -> i);

    Buffer c = hugeBuffer(PROT_READ | PROT_WRITE, MADV_HUGEPAGE);
    storeInts(task, c.ptr, size, i -> i);
    cmd(fd, MIGRATE_TO_DEV, c, npages);
    assertEquals(npages, c.cpages);
    cmd(fd, HmmDmirrorCmd.FLAGS, c, HmmDmirrorCmd.FLAG_FAIL_ALLOC);
    cmd(fd, MIGRATE_TO_SYS, c, npages);
    assertEquals(2048, (int) task.loadLong(c.ptr + 2048 * 4));
  }

  /**
   * Migrate private anonymous huge zero page with allocation errors; the deviation of {@link
   * #migrate_anon_huge_err}: the failed allocation leaves one page behind (ENOENT), all still zero.
   */
  @Variants
  void migrate_anon_huge_zero_err(MemoryType type) {
    setUp(type);
    long size = TWOMEG;
    long npages = size >> PAGE_SHIFT;
    Buffer b = hugeBuffer(PROT_READ, MADV_HUGEPAGE);
    cmd(fd, HmmDmirrorCmd.FLAGS, b, HmmDmirrorCmd.FLAG_FAIL_ALLOC);
    assertEquals(Errno.ENOENT, errno(() -> cmd(fd, MIGRATE_TO_DEV, b, npages)));
    assertEquals(0, task.loadLong(b.ptr + 2048 * 4));

    Buffer c = hugeBuffer(PROT_READ, MADV_HUGEPAGE);
    // Initialize buffer in system memory (zero THP page).
    assertEquals(0, task.loadLong(c.ptr));
    cmd(fd, HmmDmirrorCmd.FLAGS, c, HmmDmirrorCmd.FLAG_FAIL_ALLOC);
    assertEquals(Errno.ENOENT, errno(() -> cmd(fd, MIGRATE_TO_DEV, c, npages)));
    // Fault the device memory back and check it.
    assertInts(load(task, c.ptr, size), i -> 0);
  }

  /**
   * Test the hmm_range_fault() handling of large pages that should be mapped by a large page table
   * entry: the kernel's {@code compound} test, over a PMD-mapped THP instead of a hugetlbfs page
   * (mm-core has no hugetlbfs); {@code hmm_vma_handle_pmd()} reports a THP's order the same way.
   */
  @Variants
  void compound_thp(MemoryType type) {
    setUp(type);
    long npages = TWOMEG >> PAGE_SHIFT;
    Buffer b = hugeBuffer(PROT_READ | PROT_WRITE, MADV_HUGEPAGE);
    storeInts(task, b.ptr, TWOMEG, i -> i);
    assertTrue(dev.refkern.mm.vm.Pte.huge(task.mm().pte(b.ptr)), "a PMD-mapped THP");
    b.mirror = new byte[(int) npages];
    cmd(fd, SNAPSHOT, b, npages);
    assertEquals(npages, b.cpages);
    for (int i = 0; i < npages; i++) {
      assertEquals(HmmDmirrorCmd.PROT_WRITE | HmmDmirrorCmd.PROT_PMD, b.mirror[i], "page " + i);
    }
    task.mprotect(b.ptr, TWOMEG, PROT_READ);
    assertTrue(dev.refkern.mm.vm.Pte.huge(task.mm().pte(b.ptr)), "still a PMD mapping");
    cmd(fd, SNAPSHOT, b, npages);
    assertEquals(npages, b.cpages);
    for (int i = 0; i < npages; i++) {
      assertEquals(HmmDmirrorCmd.PROT_READ | HmmDmirrorCmd.PROT_PMD, b.mirror[i], "page " + i);
    }
  }

  // ------------------------------------------- bad input (not in hmm-tests.c; lib/test_hmm.c's)

  /**
   * {@code dmirror_fops_unlocked_ioctl()}: an unaligned address, no pages, or a range that wraps is
   * EINVAL before any command runs, whatever the command.
   */
  @Variants
  void unaligned_empty_or_wrapping_range_is_einval(MemoryType type) {
    setUp(type);
    Buffer b = anonBuffer(2);
    fill(b.mirror, i -> -i);
    for (int c : new int[] {READ, WRITE, MIGRATE_TO_DEV, MIGRATE_TO_SYS, SNAPSHOT, EXCLUSIVE}) {
      Buffer u = buffer(2L << PAGE_SHIFT);
      u.ptr = b.ptr + 8;
      assertEquals(Errno.EINVAL, errno(() -> cmd(fd, c, u, 1)), "unaligned, cmd " + c);
      assertEquals(Errno.EINVAL, errno(() -> cmd(fd, c, b, 0)), "no pages, cmd " + c);
      Buffer w = buffer(2L << PAGE_SHIFT);
      w.ptr = -2L * PAGE_SIZE; // the last two pages of the address space: end wraps to 0
      assertEquals(Errno.EINVAL, errno(() -> cmd(fd, c, w, 2)), "wrapping, cmd " + c);
    }
    assertFalse(fd.mirrors(b.ptr), "nothing reached the device");
    assertInts(load(task, b.ptr, 2L << PAGE_SHIFT), i -> i);
  }

  /**
   * {@code dmirror_migrate_to_device()}: a range with a hole is EINVAL at the hole (the VMA before
   * it is migrated first, as the driver walks VMA by VMA); no data is lost.
   */
  @Variants
  void migrate_over_a_hole_is_einval(MemoryType type) {
    setUp(type);
    long npages = 4;
    Buffer b = anonBuffer(npages);
    task.munmap(b.ptr + 2 * PAGE_SIZE, PAGE_SIZE);
    assertEquals(Errno.EINVAL, errno(() -> cmd(fd, MIGRATE_TO_DEV, b, npages)));
    assertTrue(fd.mirrors(b.ptr), "the first VMA's pages moved");
    assertFalse(fd.mirrors(b.ptr + 3 * PAGE_SIZE), "nothing after the hole");
    assertInts(load(task, b.ptr, 2L * PAGE_SIZE), i -> i);
    byte[] last = load(task, b.ptr + 3 * PAGE_SIZE, PAGE_SIZE);
    assertInts(last, i -> i + 3 * PAGE_SIZE / 4);
  }

  /**
   * {@code hmm_vma_walk_test()}: a device write to a PROT_NONE mapping is EFAULT, nothing written.
   */
  @Variants
  void device_write_to_prot_none_is_efault(MemoryType type) {
    setUp(type);
    long npages = 4;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    task.mprotect(b.ptr, size, PROT_NONE);
    fill(b.mirror, i -> -i);
    assertEquals(Errno.EFAULT, errno(() -> cmd(fd, WRITE, b, npages)));
    assertFalse(fd.mirrors(b.ptr));
    task.mprotect(b.ptr, size, PROT_READ);
    assertInts(load(task, b.ptr, size), i -> i);
  }

  /**
   * {@code migrate_vma_collect_pmd()}: device pages of another owner are not collected: device 0
   * migrating home the pages on device 1 finds nothing (cpages 0), and they stay on device 1.
   */
  @Variants
  void device_pages_of_another_owner_are_skipped(MemoryType type) {
    setUp2(type);
    long npages = 4;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd1, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    cmd(fd0, MIGRATE_TO_SYS, b, npages);
    assertEquals(0, b.cpages);
    for (int i = 0; i < npages; i++) {
      long pte = task.mm().pte(b.ptr + (long) i * PAGE_SIZE);
      long pfn =
          type == MemoryType.DEVICE_PRIVATE
              ? dev.refkern.mm.vm.Pte.entryPfn(pte)
              : dev.refkern.mm.vm.Pte.pfn(pte);
      assertSame(fd1.device(), mem.pagemapOf(pfn).owner(), "page " + i + " is still device 1's");
    }
    cmd(fd1, MIGRATE_TO_SYS, b, npages);
    assertEquals(npages, b.cpages, "its owner brings them home");
    assertInts(load(task, b.ptr, size), i -> i);
  }

  /**
   * {@code dmirror_device_remove_chunks()} while a parent and a forked child map the device pages:
   * every page migrates home first, both see their data, the memory is returned.
   */
  @Variants
  void device_removal_while_mapped_by_two_processes(MemoryType type) {
    setUp(type);
    long npages = 8;
    long size = npages << PAGE_SHIFT;
    Buffer b = anonBuffer(npages);
    cmd(fd, MIGRATE_TO_DEV, b, npages);
    assertEquals(npages, b.cpages);
    Task child = task.fork("child");
    tasks.add(child);
    cmd(fd, RELEASE, b, npages);
    assertTrue(fd.device().pagemaps().isEmpty(), "the device memory is gone");
    for (Task t : List.of(child, task)) {
      for (int i = 0; i < npages; i++) {
        long pte = t.mm().pte(b.ptr + (long) i * PAGE_SIZE);
        assertTrue(dev.refkern.mm.vm.Pte.present(pte), t.name() + " page " + i);
        assertNull(mem.pagemapOf(dev.refkern.mm.vm.Pte.pfn(pte)), "in system memory");
      }
      assertInts(load(t, b.ptr, size), i -> i);
    }
  }
}
