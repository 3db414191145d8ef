package dev.refkern.examples.dio;

import dev.refkern.block.Bio;
import dev.refkern.block.BioBatch;
import dev.refkern.block.BioOp;
import dev.refkern.block.BioPinTracking;
import dev.refkern.block.BlockDevice;
import dev.refkern.block.DirectIo;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.block.RamDisk;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.Latency;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.sched.KThread;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * {@code refkern run dio}: a task doing {@code O_DIRECT} I/O to a file-backed disk with protection
 * information, while a simulated device DMA-writes into buffers of its own that it pins long-term;
 * then a FLUSH, a power cut and a reopen to show what was durable; then the same small workload
 * under each {@code block.bio_pin_tracking=} design.
 *
 * <p>The main run, on one machine booted from the command line:
 *
 * <ul>
 *   <li>a {@link FileDisk} of {@code mb} MiB in the state directory, with integrity ({@code
 *       blk_integrity}, guards generated at submission and checked at consumption) and a volatile
 *       write cache;
 *   <li>the task writes {@code mb} MiB in 1 MiB {@code O_DIRECT} requests ({@link DirectIo}: pinned
 *       with {@code FOLL_PIN}, 64-page bios, each bio unpinning its own pages at completion),
 *       seeded data per MiB;
 *   <li>meanwhile a device kthread pins a buffer of the task's ({@code pin_user_pages(FOLL_LONGTERM
 *       | FOLL_WRITE)}, an RDMA-style registration), writes into its frames as DMA would, and
 *       unpins with {@code unpin_user_pages_dirty_lock()}, round after round;
 *   <li>{@code REQ_OP_FLUSH}; optionally a 1 MiB overwrite left unflushed, a power cut and a
 *       reopen: the overwrite is lost, the flushed data is intact;
 *   <li>the task reads everything back with {@code O_DIRECT} and verifies it.
 * </ul>
 *
 * <p>The design comparison boots one machine per design and runs a small workload on a {@link
 * RamDisk}: an {@code O_DIRECT} write and read of {@code designPages} pages, then a journal-style
 * write whose bios mix pinned user pages with a referenced kernel page (a header block before each
 * group of {@value #GROUP} data pages), which is where the designs differ.
 */
public final class DioExample {
  public static final long MIB = 1L << 20;
  static final int PAGE = Page.PAGE_SIZE;
  static final int SECTOR = Bio.SECTOR_SIZE;

  /** Data pages per header page in the designs' journal-style write. */
  static final int GROUP = 16;

  /** Pages of the device's DMA buffer. */
  static final int DMA_PAGES = 64;

  /** The device's pause between DMA rounds. */
  static final long DMA_PERIOD_NS = 200_000;

  static final int DESIGN_WARMUP_ROUNDS = 20;
  static final int DESIGN_ROUNDS = 30;

  private DioExample() {}

  /**
   * What to run.
   *
   * @param cmdline the kernel command line of the main run; the design runs append {@code
   *     block.bio_pin_tracking=}
   * @param mb MiB written and read back in the main run
   * @param stateDir where the machines' state and the disk image go
   * @param seed seed of the data
   * @param powerCut whether to cut the power after the flush and reopen
   * @param designPages pages of the designs' workload
   */
  public record Config(
      String cmdline, int mb, Path stateDir, long seed, boolean powerCut, int designPages) {
    public Config {
      if (mb <= 0 || mb > (1 << 16)) {
        throw new KernelException(Errno.EINVAL, "--mb " + mb + ": choose between 1 and 65536");
      }
      if (designPages < GROUP || designPages > (1 << 16) || designPages % GROUP != 0) {
        throw new KernelException(
            Errno.EINVAL,
            "--design-pages "
                + designPages
                + ": choose a multiple of "
                + GROUP
                + " between "
                + GROUP
                + " and 65536");
      }
    }
  }

  /**
   * One design's row: counts are per pass of the workload (deterministic), the time per page is the
   * median over {@value #DESIGN_ROUNDS} passes.
   */
  public record DesignRow(
      String design,
      long bios,
      long splits,
      long maskOps,
      long extraPins,
      long pages,
      double nsPerPage,
      List<String> problems) {}

  /** What the main run measured and found. */
  public record Outcome(
      String design,
      String disk,
      long requests,
      long bytesWritten,
      long writeNs,
      long writeBios,
      long bytesRead,
      long readNs,
      long readBios,
      long mibMismatched,
      long flushBytes,
      long flushNs,
      FileDisk.PowerCut cut,
      boolean flushedDataIntact,
      long dmaRounds,
      boolean dmaSeen,
      long integrityErrors,
      long pinsAcquired,
      long pinsReleased,
      List<String> debugVm,
      List<DesignRow> designs) {

    /** This outcome with the design rows. */
    public Outcome withDesigns(List<DesignRow> rows) {
      return new Outcome(
          design,
          disk,
          requests,
          bytesWritten,
          writeNs,
          writeBios,
          bytesRead,
          readNs,
          readBios,
          mibMismatched,
          flushBytes,
          flushNs,
          cut,
          flushedDataIntact,
          dmaRounds,
          dmaSeen,
          integrityErrors,
          pinsAcquired,
          pinsReleased,
          debugVm,
          List.copyOf(rows));
    }

    public boolean pinsBalanced() {
      return pinsAcquired == pinsReleased;
    }

    /** Pins balance, debug_vm is clean, every byte read back, every design clean. */
    public boolean ok() {
      return pinsBalanced()
          && debugVm.isEmpty()
          && mibMismatched == 0
          && integrityErrors == 0
          && dmaSeen
          && (cut == null || flushedDataIntact)
          && designs.stream().allMatch(d -> d.problems().isEmpty());
    }
  }

  /** Runs the main run, then each design; {@code progress} gets one line per phase. */
  public static Outcome run(Config cfg, Consumer<String> progress) throws Exception {
    Files.createDirectories(cfg.stateDir());
    Outcome main = mainRun(cfg, progress);
    List<DesignRow> rows = runDesigns(cfg, progress);
    return main.withDesigns(rows);
  }

  // ---------------------------------------------------------------- the main run

  private static Outcome mainRun(Config cfg, Consumer<String> progress) {
    BootParams params = BootParams.parse(cfg.cmdline());
    progress.accept("boot: " + cfg.cmdline());
    VirtualMemory vm = VirtualMemory.boot(params, cfg.stateDir().resolve("kernel"), true);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      DirectIo dio = new DirectIo(vm);
      Task task = vm.createTask("dio");
      Path image = cfg.stateDir().resolve("disk0.img");
      FileDisk disk =
          FileDisk.create(
              mem,
              image,
              cfg.mb() * MIB / SECTOR,
              DiskOptions.defaults().name("vdb").integrity(true));
      CountingDevice dev = new CountingDevice(disk);
      String diskDesc = disk.toString();
      long wbuf = task.mmapAnon(MIB);
      long rbuf = task.mmapAnon(MIB);
      long dmaBuf = task.mmapAnon((long) DMA_PAGES * PAGE);
      byte[] data = new byte[(int) MIB];
      byte[] got = new byte[(int) MIB];

      long writeNs = 0;
      long readNs = 0;
      long writeBios;
      long readBios;
      long flushNs;
      long flushBytes;
      long mismatched = 0;
      boolean intact = true;
      FileDisk.PowerCut cut = null;
      DmaDevice dma = new DmaDevice(mem, vm.gup(), task, dmaBuf, cfg.seed());
      KThread kt = mem.scheduler().kthreadRun("dma-dev", dma);
      boolean stopped = false;
      try {
        // O_DIRECT writes, 1 MiB each
        progress.accept("write: " + cfg.mb() + " MiB in 1 MiB O_DIRECT requests to " + diskDesc);
        for (int i = 0; i < cfg.mb(); i++) {
          fill(data, cfg.seed(), i);
          task.store(wbuf, data, 0, data.length);
          long t0 = System.nanoTime();
          dio.write(task, dev, wbuf, MIB, i * MIB);
          writeNs += System.nanoTime() - t0;
        }
        writeBios = dev.bios.get();

        // REQ_OP_FLUSH: every completed write durable
        progress.accept("flush");
        long media0 = disk.bytesWrittenToMedia();
        long t0 = System.nanoTime();
        flush(mem, dev);
        flushNs = System.nanoTime() - t0;
        flushBytes = disk.bytesWrittenToMedia() - media0;

        if (cfg.powerCut()) {
          // an overwrite of MiB 0 that completes but is never flushed, then the power goes
          progress.accept("power cut after an unflushed 1 MiB overwrite, then reopen");
          fill(data, ~cfg.seed(), 0);
          task.store(wbuf, data, 0, data.length);
          dio.write(task, dev, wbuf, MIB, 0);
          cut = disk.powerCut();
          disk.reopen();
        }

        // O_DIRECT reads, verified against what was flushed
        progress.accept("read: " + cfg.mb() + " MiB back and verify");
        long bios0 = dev.bios.get();
        for (int i = 0; i < cfg.mb(); i++) {
          long r0 = System.nanoTime();
          dio.read(task, dev, rbuf, MIB, i * MIB);
          readNs += System.nanoTime() - r0;
          task.load(rbuf, got, 0, got.length);
          fill(data, cfg.seed(), i);
          if (!Arrays.equals(data, got)) {
            mismatched++;
            if (i == 0) {
              intact = false;
            }
          }
        }
        readBios = dev.bios.get() - bios0;
        dma.stop = true;
        kt.join();
        stopped = true;
      } finally {
        if (!stopped) {
          dma.stop = true;
          kt.join();
        }
        disk.close();
      }
      boolean dmaSeen = dma.rounds > 0;
      for (int p = 0; p < DMA_PAGES; p++) {
        dmaSeen &= task.loadLong(dmaBuf + (long) p * PAGE) == dma.last[p];
      }
      long integrityErrors = disk.integrityErrors();
      task.exit();
      vm.lru().lruAddDrainAll();
      long acquired = mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
      long released = mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED);
      List<String> problems = FinalCheck.violations(mem);
      return new Outcome(
          dio.bioPinTracking().name(),
          diskDesc,
          cfg.mb(),
          cfg.mb() * MIB,
          writeNs,
          writeBios,
          cfg.mb() * MIB,
          readNs,
          readBios,
          mismatched,
          flushBytes,
          flushNs,
          cut,
          intact,
          dma.rounds,
          dmaSeen,
          integrityErrors,
          acquired,
          released,
          List.copyOf(problems),
          List.of());
    }
  }

  /** Seeded contents of MiB {@code i}. */
  static void fill(byte[] data, long seed, int i) {
    new Random(seed * 0x9E3779B97F4A7C15L + i).nextBytes(data);
  }

  /** Submits a {@code REQ_OP_FLUSH} and waits for it; {@code -EIO} if it failed. */
  static void flush(PhysicalMemory mem, BlockDevice dev) {
    int status = BioBatch.submitBioWait(mem.scheduler(), dev, new Bio(BioOp.FLUSH, 0, 0));
    if (status != 0) {
      throw new KernelException(Errno.of(status), "flush of " + dev.name() + " failed");
    }
  }

  /**
   * The simulated device: each round registers its buffer ({@code pin_user_pages(FOLL_LONGTERM |
   * FOLL_WRITE)}), DMA-writes a stamped pattern into every frame, and releases it with {@code
   * unpin_user_pages_dirty_lock(make_dirty)}; until told to stop, at least one round.
   */
  static final class DmaDevice implements Runnable {
    final PhysicalMemory mem;
    final Gup gup;
    final Task task;
    final long addr;
    final long seed;
    final long[] pfns = new long[DMA_PAGES];
    final long[] last = new long[DMA_PAGES];
    final byte[] page = new byte[PAGE];
    volatile boolean stop;
    long rounds;

    DmaDevice(PhysicalMemory mem, Gup gup, Task task, long addr, long seed) {
      this.mem = mem;
      this.gup = gup;
      this.task = task;
      this.addr = addr;
      this.seed = seed;
    }

    @Override
    public void run() {
      do {
        long n =
            gup.pinUserPages(task, addr, DMA_PAGES, Foll.FOLL_LONGTERM | Foll.FOLL_WRITE, pfns);
        if (n != DMA_PAGES) {
          if (n > 0) {
            gup.unpinUserPages(pfns, (int) n);
          }
          throw new KernelException(Errno.EFAULT, "dma-dev: pinned " + n + " of " + DMA_PAGES);
        }
        rounds++;
        ByteBuffer b = ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN);
        for (int p = 0; p < DMA_PAGES; p++) {
          long stamp = (rounds << 16) | p;
          Arrays.fill(page, (byte) (seed + rounds + p));
          b.putLong(0, stamp);
          mem.ram().write(pfns[p], 0, page, 0, PAGE); // the DMA
          last[p] = stamp;
        }
        gup.unpinUserPagesDirtyLock(pfns, DMA_PAGES, true);
        LockSupport.parkNanos(DMA_PERIOD_NS);
      } while (!stop && !mem.scheduler().kthreadShouldStop());
    }
  }

  /** Counts the bios and pages a device is given. */
  static final class CountingDevice implements BlockDevice {
    final BlockDevice dev;
    final AtomicLong bios = new AtomicLong();
    final AtomicLong pages = new AtomicLong();

    CountingDevice(BlockDevice dev) {
      this.dev = dev;
    }

    @Override
    public String name() {
      return dev.name();
    }

    @Override
    public long capacitySectors() {
      return dev.capacitySectors();
    }

    @Override
    public int features() {
      return dev.features();
    }

    @Override
    public void submitBio(Bio bio) {
      if (bio.op() != BioOp.FLUSH) {
        bios.incrementAndGet();
        pages.addAndGet(bio.vecCount());
      }
      dev.submitBio(bio);
    }
  }

  // ---------------------------------------------------------------- the designs

  /**
   * Boots one machine per design and runs the passes round-robin, one pass of each design in turn,
   * so that JIT compilation, GC and the host's noise fall on every design alike.
   */
  private static List<DesignRow> runDesigns(Config cfg, Consumer<String> progress) {
    List<DesignMachine> machines = new ArrayList<>();
    try {
      for (String name : PolicyRegistry.global().names(BioPinTracking.PARAM)) {
        progress.accept("design " + name + ": boot, " + cfg.designPages() + "-page workload");
        machines.add(new DesignMachine(cfg, name));
      }
      progress.accept(
          "designs: "
              + DESIGN_WARMUP_ROUNDS
              + " warm-up and "
              + DESIGN_ROUNDS
              + " measured passes each, round-robin");
      for (int r = -DESIGN_WARMUP_ROUNDS; r < DESIGN_ROUNDS; r++) {
        for (DesignMachine m : machines) {
          m.pass(r);
        }
      }
      List<DesignRow> rows = new ArrayList<>();
      for (DesignMachine m : machines) {
        rows.add(m.finish());
      }
      return rows;
    } finally {
      for (DesignMachine m : machines) {
        m.mem.close();
      }
    }
  }

  /** One design's machine, its RAM disk, task and buffers. */
  private static final class DesignMachine {
    final PhysicalMemory mem;
    final VirtualMemory vm;
    final DirectIo dio;
    final BioPinTracking policy;
    final Task task;
    final int n;
    final long len;
    final int groups;
    final long journalSector;
    final long journalPages;
    final RamDisk ram;
    final CountingDevice dev;
    final long wbuf;
    final long rbuf;
    final byte[] data;
    final byte[] headerData = new byte[PAGE];
    final long header;
    final long[] pinned;
    final Latency nsPerPage = new Latency();
    long bios0;
    long pages0;
    long splits0;
    long mask0;
    long extra0;

    DesignMachine(Config cfg, String name) {
      BootParams params = BootParams.parse(cfg.cmdline() + " block.bio_pin_tracking=" + name);
      vm = VirtualMemory.boot(params, cfg.stateDir().resolve("design-" + name), true);
      mem = vm.physicalMemory();
      try {
        dio = new DirectIo(vm);
        policy = dio.bioPinTracking();
        task = vm.createTask("dio-" + name);
        n = cfg.designPages();
        len = (long) n * PAGE;
        groups = n / GROUP;
        journalSector = len / SECTOR;
        journalPages = (long) groups * (GROUP + 1);
        ram = new RamDisk(mem, (n + journalPages) * (PAGE / SECTOR));
        dev = new CountingDevice(ram);
        wbuf = task.mmapAnon(len);
        rbuf = task.mmapAnon(len);
        data = new byte[(int) len];
        new Random(cfg.seed()).nextBytes(data);
        task.store(wbuf, data, 0, data.length);
        header = mem.allocator().allocPages(Gfp.KERNEL, 0);
        if (header == PageAllocator.NO_PFN) {
          throw new KernelException(Errno.ENOMEM, "no page for the journal header");
        }
        Arrays.fill(headerData, (byte) 0x4a);
        mem.ram().write(header, 0, headerData, 0, PAGE);
        pinned = new long[n];
      } catch (RuntimeException e) {
        mem.close();
        throw e;
      }
    }

    /** One pass: O_DIRECT write and read, then the journal write; measured from round 0 on. */
    void pass(int round) {
      if (round == 0) {
        bios0 = dev.bios.get();
        pages0 = dev.pages.get();
        splits0 = policy.stats().get("splits");
        mask0 = policy.stats().get("mask_ops");
        extra0 = policy.stats().get("extra_pins");
      }
      long p0 = dev.pages.get();
      long t0 = System.nanoTime();
      dio.write(task, dev, wbuf, len, 0);
      dio.read(task, dev, rbuf, len, 0);
      journalWrite(mem, vm.gup(), policy, task, dev, wbuf, n, header, journalSector, pinned);
      long ns = System.nanoTime() - t0;
      if (round >= 0) {
        nsPerPage.record(ns / (double) (dev.pages.get() - p0));
      }
    }

    /** Verifies the data and the machine, and makes the row. */
    DesignRow finish() {
      List<String> problems = new ArrayList<>();
      byte[] got = new byte[(int) len];
      task.load(rbuf, got, 0, got.length);
      if (!Arrays.equals(data, got)) {
        problems.add("O_DIRECT read-back differs from what was written");
      }
      byte[] journal = ram.peek(journalSector, (int) (journalPages * (PAGE / SECTOR)));
      for (int g = 0; g < groups; g++) {
        int at = g * (GROUP + 1) * PAGE;
        boolean ok = Arrays.equals(journal, at, at + PAGE, headerData, 0, PAGE);
        ok &=
            Arrays.equals(
                journal,
                at + PAGE,
                at + (GROUP + 1) * PAGE,
                data,
                g * GROUP * PAGE,
                (g + 1) * GROUP * PAGE);
        if (!ok) {
          problems.add("journal group " + g + " differs on the disk");
          break;
        }
      }
      if (mem.memmap().refcount(header) != 1) {
        problems.add("header page refcount " + mem.memmap().refcount(header) + ", expected 1");
      }
      mem.allocator().putPage(header);
      task.exit();
      vm.lru().lruAddDrainAll();
      problems.addAll(FinalCheck.violations(mem));
      return new DesignRow(
          policy.name(),
          (dev.bios.get() - bios0) / DESIGN_ROUNDS,
          (policy.stats().get("splits") - splits0) / DESIGN_ROUNDS,
          (policy.stats().get("mask_ops") - mask0) / DESIGN_ROUNDS,
          (policy.stats().get("extra_pins") - extra0) / DESIGN_ROUNDS,
          (dev.pages.get() - pages0) / DESIGN_ROUNDS,
          nsPerPage.p50(),
          List.copyOf(problems));
    }
  }

  /**
   * A journal-style write: before each group of {@value #GROUP} pinned user pages, a kernel page
   * the bio only references (a header block), all in consecutive sectors from {@code sector}. Bios
   * hold at most {@link DirectIo#MAX_BIO_PAGES} pages; when the design refuses a page (one flag per
   * bio cannot describe a mix), a new bio starts there. Each bio's completion releases its pages
   * through the design.
   */
  static void journalWrite(
      PhysicalMemory mem,
      Gup gup,
      BioPinTracking policy,
      Task task,
      BlockDevice dev,
      long buf,
      int n,
      long header,
      long sector,
      long[] pinned) {
    long got = gup.pinUserPagesFast(task, buf, n, 0, pinned);
    if (got != n) {
      if (got > 0) {
        gup.unpinUserPages(pinned, (int) got);
      }
      throw new KernelException(Errno.EFAULT, "journal: pinned " + got + " of " + n);
    }
    List<Bio> bios = new ArrayList<>();
    Bio bio = new Bio(BioOp.WRITE, sector, 0);
    long next = sector;
    for (int g = 0; g < n / GROUP; g++) {
      for (int i = -1; i < GROUP; i++) {
        boolean isPinned = i >= 0;
        long pfn = isPinned ? pinned[g * GROUP + i] : header;
        if (!isPinned) {
          mem.allocator().getPage(header); // the bio's reference, as writeback takes one
        }
        if (bio.vecCount() == DirectIo.MAX_BIO_PAGES
            || !policy.addPage(bio, pfn, 0, PAGE, isPinned)) {
          next += bio.sectors();
          bios.add(bio);
          bio = new Bio(BioOp.WRITE, next, 0);
          if (!policy.addPage(bio, pfn, 0, PAGE, isPinned)) {
            throw new IllegalStateException(policy.name() + " refused a page in an empty bio");
          }
        }
      }
    }
    bios.add(bio);
    BioBatch batch = new BioBatch(mem.scheduler());
    for (Bio b : bios) {
      batch.add(b, policy::releasePages);
    }
    batch.submit(dev);
    batch.awaitOrThrow("journal write");
  }

  /** MB/s (10^6 bytes) for {@code bytes} in {@code ns}. */
  public static String mbPerSecond(long bytes, long ns) {
    return ns <= 0 ? "-" : String.format(Locale.ROOT, "%.1f", bytes / 1e6 / (ns / 1e9));
  }
}
