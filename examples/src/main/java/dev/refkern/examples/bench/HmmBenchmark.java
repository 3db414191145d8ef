package dev.refkern.examples.bench;

import static dev.refkern.mm.Page.*;

import dev.refkern.examples.FileTrees;
import dev.refkern.hmm.Dmirror;
import dev.refkern.hmm.DmirrorDevice;
import dev.refkern.hmm.Hmm;
import dev.refkern.hmm.HmmDmirrorCmd;
import dev.refkern.hmm.HmmPfn;
import dev.refkern.hmm.HmmRange;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.MmStruct;
import dev.refkern.mm.vm.MmWalkOps;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.notifier.MmuIntervalNotifier;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH benchmarks of HMM ({@code mm/hmm.c}, {@code mm/migrate_device.c}, {@code lib/test_hmm.c}),
 * per 4 KiB page over a range of {@value #PAGES} populated anonymous pages, each beside a baseline
 * in the same run:
 *
 * <ul>
 *   <li>{@link #migrateToDeviceAndBack}: {@code HMM_DMIRROR_MIGRATE_TO_DEV} then {@code
 *       MIGRATE_TO_SYS} of the range ({@code migrate_vma_setup/pages/finalize} both ways, as
 *       hmm-tests' {@code migrate} does), beside {@link #copyBaseline}: the copies the driver makes
 *       (to the device, into the ioctl's bounce buffer, back), as {@code System.arraycopy};
 *   <li>{@link #rangeFault}: {@code hmm_range_fault()} of the populated range inside the driver's
 *       {@code read_begin}/{@code read_retry} loop, beside {@link #pageWalkBaseline}: a plain
 *       {@code walk_page_range()} that copies each pte's pfn;
 *   <li>{@link #gupDevicePrivate}: {@code pin_user_pages(FOLL_WRITE)} of the range while it sits in
 *       device-private memory (each page migrates home through {@code migrate_to_ram} before it is
 *       pinned, as in {@code hmm_gup_test}), then {@code unpin_user_pages()}, beside {@link
 *       #gupSystem}: the same on system pages.
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class HmmBenchmark {
  static final int PAGES = 512;
  static final long SIZE = (long) PAGES << PAGE_SHIFT;

  /** A machine, a task with its populated range, and a dmirror device open on it. */
  @State(Scope.Thread)
  public static class Machine {
    Path dir;
    VirtualMemory vm;
    PhysicalMemory mem;
    Gup gup;
    Task task;
    MmStruct mm;
    DmirrorDevice device;
    Dmirror mirror;
    long addr;
    final HmmDmirrorCmd toDev = new HmmDmirrorCmd();
    final HmmDmirrorCmd toSys = new HmmDmirrorCmd();
    final long[] pages = new long[PAGES];

    @Setup(Level.Trial)
    public void boot() throws IOException {
      dir = Files.createTempDirectory("refkern-jmh-hmm");
      vm = VirtualMemory.boot(BootParams.parse("mem=256M zone_device=32M"), dir, true);
      mem = vm.physicalMemory();
      gup = vm.gup();
      task = vm.createTask("hmm_bench");
      mm = task.mm();
      addr = task.mmapAnon(SIZE);
      for (int i = 0; i < PAGES; i++) {
        task.storeLong(addr + ((long) i << PAGE_SHIFT), i);
      }
      device = new DmirrorDevice(vm, DevPagemap.MemoryType.DEVICE_PRIVATE, "dmirror0", PAGES);
      mirror = device.open(mm);
      toDev.addr = addr;
      toDev.npages = PAGES;
      toDev.ptr = new byte[(int) SIZE];
      toSys.addr = addr;
      toSys.npages = PAGES;
    }

    /** The whole range to device-private memory; fails if a page stayed behind. */
    void migrateToDevice() {
      mirror.ioctl(HmmDmirrorCmd.MIGRATE_TO_DEV, toDev);
      check(toDev.cpages, "migrated to the device");
    }

    @TearDown(Level.Trial)
    public void shutdown() throws IOException {
      try {
        long acquired = mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
        long released = mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED);
        mirror.close();
        task.exit();
        List<String> problems = mem.debugVm().check();
        if (acquired != released || !problems.isEmpty()) {
          throw new IllegalStateException(
              "pins acquired " + acquired + ", released " + released + "; debug_vm " + problems);
        }
      } finally {
        mem.close();
        FileTrees.deleteTree(dir);
      }
    }
  }

  /** The range moved to device-private memory before each invocation, untimed. */
  @State(Scope.Thread)
  public static class OnDevice {
    Machine m;

    @Setup(Level.Trial)
    public void attach(Machine machine) {
      m = machine;
    }

    @Setup(Level.Invocation)
    public void toDevice() {
      m.migrateToDevice();
    }
  }

  /** The driver's interval notifier over the range and its {@code hmm_range}. */
  @State(Scope.Thread)
  public static class Mirror {
    Machine m;
    MmuIntervalNotifier notifier;
    final HmmRange range = new HmmRange();
    final long[] walked = new long[PAGES];
    final MmWalkOps copyPfns =
        new MmWalkOps(
            null,
            (pte, a, next, walk) -> {
              ((long[]) walk.priv())[(int) ((a - m.addr) >>> PAGE_SHIFT)] = Pte.pfn(pte);
              return 0;
            },
            null);

    @Setup(Level.Trial)
    public void attach(Machine machine) {
      m = machine;
      notifier =
          m.mm
              .notifiers()
              .intervalInsert(
                  m.addr,
                  SIZE,
                  (mni, r, seq) -> {
                    mni.setSeq(seq);
                    return true;
                  });
      range.notifier = notifier;
      range.start = m.addr;
      range.end = m.addr + SIZE;
      range.hmmPfns = new long[PAGES];
      range.defaultFlags = HmmPfn.REQ_FAULT | HmmPfn.REQ_WRITE;
      range.devPrivateOwner = m.device;
    }

    @TearDown(Level.Trial)
    public void detach() {
      notifier.remove();
    }
  }

  static void check(long n, String what) {
    if (n != PAGES) {
      throw new IllegalStateException(n + " of " + PAGES + " pages " + what);
    }
  }

  // ---------------------------------------------------------------- migrate_vma

  /** {@code MIGRATE_TO_DEV} + {@code MIGRATE_TO_SYS} of the range. */
  @Benchmark
  @OperationsPerInvocation(PAGES)
  public long migrateToDeviceAndBack(Machine m) {
    m.migrateToDevice();
    m.mirror.ioctl(HmmDmirrorCmd.MIGRATE_TO_SYS, m.toSys);
    check(m.toSys.cpages, "migrated back");
    return m.toDev.ptr[8];
  }

  /** Baseline: the three 4 KiB copies per page the driver makes, as {@code System.arraycopy}. */
  @Benchmark
  @OperationsPerInvocation(PAGES)
  public long copyBaseline(Copies c) {
    System.arraycopy(c.system, 0, c.device, 0, c.system.length);
    System.arraycopy(c.device, 0, c.bounce, 0, c.device.length);
    System.arraycopy(c.device, 0, c.system, 0, c.device.length);
    return c.system[8];
  }

  /** System, device and bounce memory of {@value #PAGES} pages, for {@link #copyBaseline}. */
  @State(Scope.Thread)
  public static class Copies {
    final byte[] system = new byte[(int) SIZE];
    final byte[] device = new byte[(int) SIZE];
    final byte[] bounce = new byte[(int) SIZE];
  }

  // ---------------------------------------------------------------- hmm_range_fault

  /** {@code hmm_range_fault()} of the populated range, in the driver's retry loop. */
  @Benchmark
  @OperationsPerInvocation(PAGES)
  public long rangeFault(Mirror d) {
    HmmRange range = d.range;
    MmStruct mm = d.m.mm;
    do {
      range.notifierSeq = d.notifier.readBegin();
      mm.mmapReadLock();
      try {
        Hmm.rangeFault(d.m.vm, range);
      } finally {
        mm.mmapReadUnlock();
      }
    } while (d.notifier.readRetry(range.notifierSeq));
    return range.hmmPfns[PAGES - 1];
  }

  /** Baseline: {@code walk_page_range()} of the same range, copying each pte's pfn. */
  @Benchmark
  @OperationsPerInvocation(PAGES)
  public long pageWalkBaseline(Mirror d) {
    MmStruct mm = d.m.mm;
    mm.mmapReadLock();
    try {
      d.m.vm.pageWalk().walkPageRange(mm, d.m.addr, d.m.addr + SIZE, d.copyPfns, d.walked);
    } finally {
      mm.mmapReadUnlock();
    }
    return d.walked[PAGES - 1];
  }

  // ---------------------------------------------------------------- GUP of device-private pages

  /** {@code pin_user_pages()} of the range in device-private memory: migrate home, pin, unpin. */
  @Benchmark
  @OperationsPerInvocation(PAGES)
  public long gupDevicePrivate(OnDevice d) {
    return pinUnpin(d.m);
  }

  /** Baseline: {@code pin_user_pages()} + {@code unpin_user_pages()} of the range, system pages. */
  @Benchmark
  @OperationsPerInvocation(PAGES)
  public long gupSystem(Machine m) {
    return pinUnpin(m);
  }

  private static long pinUnpin(Machine m) {
    long[] p = m.pages;
    check(m.gup.pinUserPages(m.task, m.addr, PAGES, Foll.FOLL_WRITE, p), "pinned");
    m.gup.unpinUserPages(p, PAGES);
    return p[0];
  }
}
