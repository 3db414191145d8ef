package dev.refkern.examples.fs;

import static dev.refkern.fs.Fcntl.O_CREAT;
import static dev.refkern.fs.Fcntl.O_RDONLY;
import static dev.refkern.fs.Fcntl.O_RDWR;
import static dev.refkern.mm.vm.Mman.MAP_SHARED;
import static dev.refkern.mm.vm.Mman.PROT_READ;
import static dev.refkern.mm.vm.Mman.PROT_WRITE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.examples.FinalCheck;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Mount;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.spi.Inode;
import dev.refkern.hmm.dma.DmaEngine;
import dev.refkern.hmm.dma.DmaTransfer;
import dev.refkern.hmm.dma.Gpu;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.sched.Clock;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.WbSyncMode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apiguardian.api.API;

/**
 * Seed 004's workload: a GPU ({@link Gpu}, device-private memory) computing into a {@code
 * MAP_SHARED} mapping of a sparse file on the ext4-like or XFS-like plugin, under {@code
 * hmm.file_pages=migrate_back} or {@code bounce}. Each page starts as a hole: the CPU faults it in
 * (zeroes), it migrates to the device, and the device's first write calls {@code devicePageMkwrite}
 * so the filesystem allocates its block. Rounds of seeded device writes each end in an {@code
 * fsync}; an optional last round is not synced; an optional power cut follows. A fresh kernel then
 * mounts the image, reads every page and fsck checks it. The tests and the {@code refkern hmm-file}
 * command share it.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class DeviceFileScenario {
  private static final long SECTORS = (8L << 20) / 512;
  private static final String FILE = "/mnt/gpu-buf";

  /**
   * One run.
   *
   * @param seed seeds which pages each round writes
   * @param policy an {@code hmm.file_pages=} name
   * @param fs {@code ext4} or {@code xfs}
   * @param pages pages of the file (all holes at first)
   * @param syncedRounds rounds of device writes each followed by {@code fsync}
   * @param unsyncedRound whether one more round of device writes runs without {@code fsync}
   * @param powerCut whether the disk loses power at the end (else a clean umount)
   * @param flusher whether a background writeback pass (the flusher's {@code WB_SYNC_NONE}) runs in
   *     the middle of each round, while the device still writes
   * @param sched the {@code sched=} of both kernels ({@code sim:SEED} for the seeded simulated
   *     CPU), or null for the default
   */
  public record Options(
      long seed,
      String policy,
      String fs,
      int pages,
      int syncedRounds,
      boolean unsyncedRound,
      boolean powerCut,
      boolean flusher,
      String sched) {
    /** Rounds of device writes without a flusher pass, on the default scheduler. */
    public Options(
        long seed,
        String policy,
        String fs,
        int pages,
        int syncedRounds,
        boolean unsyncedRound,
        boolean powerCut) {
      this(seed, policy, fs, pages, syncedRounds, unsyncedRound, powerCut, false, null);
    }

    /** The kernel command line of the run. */
    public String cmdline() {
      return "mem=64M zone_device=16M hmm.file_pages="
          + policy
          + (sched != null ? " sched=" + sched : "");
    }
  }

  /**
   * What happened.
   *
   * @param options what ran
   * @param deviceWrites page writes the GPU made
   * @param dmaFailed page writes that failed (under {@code off} every one: no device page)
   * @param pagesOnDeviceAtEnd file pages in device memory before the GPU went away
   * @param syncedLost pages whose last {@code fsync}'d device write a fresh kernel did not read
   * @param unsyncedLost pages whose last, unsynced device write a fresh kernel did not read
   * @param unsyncedWritten pages the unsynced round wrote
   * @param policyStats the {@code hmm.file_pages=} counters at the end of the first kernel
   * @param migratedToDevice pages the GPU migrated into its memory
   * @param fsck the plugin's fsck of the image at the end
   * @param violations the final check of both kernels, empty when clean
   * @param stallsNs how long each {@code fsync} and flusher pass took, scheduler clock (virtual
   *     nanoseconds under {@code sched=sim})
   * @param deviceWriteWallNs wall-clock nanoseconds the device's page writes took, migrations to
   *     device memory included (not deterministic)
   * @param warns {@code WARN}s the first kernel counted
   * @param bugs {@code BUG}s the first kernel hit
   * @param tornPages pages a fresh kernel read back as no write of the device (mixed or foreign)
   * @param peakBouncedPerPass the most bytes one writeback pass (a flusher pass or an {@code
   *     fsync}) bounced: the bounce pages a policy holds at once
   * @param dmaErrno the errno of the first device write that failed, or null
   */
  public record Outcome(
      Options options,
      long deviceWrites,
      long dmaFailed,
      int pagesOnDeviceAtEnd,
      int syncedLost,
      int unsyncedLost,
      int unsyncedWritten,
      PolicyStats policyStats,
      long migratedToDevice,
      List<String> fsck,
      List<String> violations,
      List<Long> stallsNs,
      long deviceWriteWallNs,
      long warns,
      long bugs,
      int tornPages,
      long peakBouncedPerPass,
      Errno dmaErrno) {}

  private final Path dir;
  private int runs;

  /** A scenario keeping kernels' state and images under {@code dir}. */
  public DeviceFileScenario(Path dir) {
    this.dir = dir;
  }

  /** Runs {@code o} in two fresh kernels on a fresh image. */
  public synchronized Outcome run(Options o) {
    if (!o.fs().equals("ext4") && !o.fs().equals("xfs")) {
      throw new KernelException(Errno.EINVAL, "no device-file scenario on " + o.fs());
    }
    int id = runs++;
    Path image = dir.resolve(o.fs() + "-" + o.policy() + "-" + id + ".img");
    try {
      Files.createDirectories(dir);
      Files.deleteIfExists(image);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    int n = o.pages();
    long[] synced = new long[n]; // the last fsync'd seq per page, 0 for a hole
    long[] last = new long[n]; // the last seq per page
    Random rnd = new Random(o.seed());
    long[] seqs = {0};
    long[] writes = {0};
    long[] failed = {0};

    Kernel k = new Kernel(o, image, id, true);
    Vfs vfs = k.vfs;
    Task task = k.task;
    Clock clock = k.mem.scheduler().clock();
    List<Long> stalls = new ArrayList<>();
    long[] wall = new long[1];
    long[] peakBounced = new long[1];
    Errno[] dmaErrno = new Errno[1];
    int[] onDevice = new int[1];
    int[] unsyncedWritten = new int[1];
    long[] toDevice = new long[1];
    PolicyStats[] stats = new PolicyStats[1];
    k.inKernel(
        () -> {
          vfs.mount(o.fs(), "/dev/gpu0", "/mnt", "mkfs");
          int fd = vfs.open(task, FILE, O_RDWR | O_CREAT, 0600);
          vfs.ftruncate(task, fd, (long) n * Page.PAGE_SIZE); // sparse: every page a hole
          long addr =
              vfs.mmap(
                  task, 0, (long) n * Page.PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
          AddressSpace mapping = k.inode().mapping();
          DmaEngine engine = new DmaEngine(k.mem.ram(), Page.PAGE_SIZE);
          Gpu gpu = new Gpu(k.vm, task, addr, n, 2 * n, engine);
          int rounds = o.syncedRounds() + (o.unsyncedRound() ? 1 : 0);
          for (int r = 0; r < rounds; r++) {
            boolean sync = r < o.syncedRounds();
            for (int p = 0; p < n; p++) {
              if (o.flusher() && p == n / 2) {
                long t0 = clock.nanos(); // the flusher meets pages the device still writes
                long b0 = k.bounced();
                k.vm.pageWriteback().writeCachePages(mapping, 0, Long.MAX_VALUE, WbSyncMode.NONE);
                stalls.add(clock.nanos() - t0);
                peakBounced[0] = Math.max(peakBounced[0], k.bounced() - b0);
              }
              if (r > 0 && rnd.nextBoolean()) {
                continue; // the first round writes every page; later ones a seeded half
              }
              long seqNo = ++seqs[0];
              long w0 = System.nanoTime();
              DmaTransfer t = gpu.dmaWrite(p, 1, seqNo);
              engine.drain();
              wall[0] += System.nanoTime() - w0;
              if (t.state() != DmaTransfer.State.DONE) {
                failed[0]++; // hmm.file_pages=off: no device page for a file page, the DMA fails
                dmaErrno[0] = dmaErrno[0] != null ? dmaErrno[0] : t.error();
                continue;
              }
              writes[0]++;
              last[p] = seqNo;
              unsyncedWritten[0] += sync ? 0 : 1;
            }
            if (sync) {
              long t0 = clock.nanos();
              long b0 = k.bounced();
              vfs.fsync(task, fd);
              stalls.add(clock.nanos() - t0);
              peakBounced[0] = Math.max(peakBounced[0], k.bounced() - b0);
              System.arraycopy(last, 0, synced, 0, n);
            }
          }
          for (int p = 0; p < n; p++) {
            long pte = task.mm().pte(addr + (long) p * Page.PAGE_SIZE);
            onDevice[0] +=
                Pte.isDevicePrivate(pte) && gpu.pagemap().contains(Pte.entryPfn(pte)) ? 1 : 0;
          }
          stats[0] = k.vm.deviceFilePages().stats();
          toDevice[0] = gpu.migratedToDevice();
          if (o.powerCut()) {
            k.disk.powerCut(); // the page cache, device memory and the disk's cache are gone
          }
          gpu.destroy();
          vfs.munmap(task, addr, (long) n * Page.PAGE_SIZE);
          vfs.close(task, fd);
          if (!o.powerCut()) {
            vfs.umount("/mnt");
          }
        });
    long warns = k.mem.health().warnCount();
    long bugs = k.mem.health().isDead() ? 1 : 0;
    List<String> violations = new ArrayList<>(k.shutdown());

    Kernel k2 = new Kernel(o, image, id, false);
    long[][] readBox = new long[1][];
    k2.inKernel(
        () -> {
          k2.vfs.mount(o.fs(), "/dev/gpu0", "/mnt", "");
          readBox[0] = k2.readSeqs(n);
          k2.vfs.umount("/mnt");
        });
    long[] read = readBox[0];
    violations.addAll(k2.shutdown());
    List<String> fsck = FileSystems.standard().get(o.fs()).check(image.toString());
    int syncedLost = 0;
    int unsyncedLost = 0;
    int torn = 0;
    for (int p = 0; p < n; p++) {
      torn += read[p] == -1 ? 1 : 0;
      if (read[p] != last[p]) {
        if (last[p] != synced[p]) {
          unsyncedLost++;
        }
        if (read[p] != synced[p] && read[p] < synced[p]) {
          syncedLost++; // older than what fsync promised (or zeroes/torn: -1)
        }
      }
    }
    return new Outcome(
        o,
        writes[0],
        failed[0],
        onDevice[0],
        syncedLost,
        unsyncedLost,
        unsyncedWritten[0],
        stats[0],
        toDevice[0],
        fsck,
        violations,
        List.copyOf(stalls),
        wall[0],
        warns,
        bugs,
        torn,
        peakBounced[0],
        dmaErrno[0]);
  }

  /** One kernel on the image. */
  private final class Kernel {
    final VirtualMemory vm;
    final PhysicalMemory mem;
    final FileDisk disk;
    final Vfs vfs;
    final Task task;

    Kernel(Options o, Path image, int id, boolean create) {
      vm =
          VirtualMemory.boot(
              BootParams.parse(o.cmdline()), dir.resolve("k" + id + (create ? "a" : "b")), true);
      mem = vm.physicalMemory();
      DiskOptions opts = DiskOptions.defaults();
      disk = create ? FileDisk.create(mem, image, SECTORS, opts) : FileDisk.open(mem, image, opts);
      vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/gpu0", disk);
      task = vm.createTask("gpu-app");
    }

    /**
     * Runs {@code body} as the kernel's task: on the simulated CPU as its {@code main} kthread,
     * until nothing can run, or on the calling thread.
     */
    void inKernel(Runnable body) {
      if (mem.scheduler() instanceof SimScheduler sim) {
        sim.run(body);
      } else {
        body.run();
      }
    }

    long bounced() {
      return vm.deviceFilePages().stats().get("bytes_bounced");
    }

    Inode inode() {
      for (Mount m : vfs.mounts()) {
        if (m.path().equals("/mnt")) {
          return m.sb().root().lookup(FILE.substring(5));
        }
      }
      throw new IllegalStateException("/mnt is not mounted");
    }

    /** The stamp (device write seq) of each page of the file: 0 zeroes, -1 torn or foreign. */
    long[] readSeqs(int n) {
      long[] seqs = new long[n];
      int fd = vfs.open(task, FILE, O_RDONLY, 0);
      long buf = task.mmapAnon(Page.PAGE_SIZE);
      byte[] page = new byte[Page.PAGE_SIZE];
      long tmp = mem.allocator().allocPages(dev.refkern.mm.Gfp.KERNEL, 0);
      try {
        for (int p = 0; p < n; p++) {
          long got = vfs.pread(task, fd, buf, Page.PAGE_SIZE, (long) p * Page.PAGE_SIZE);
          java.util.Arrays.fill(page, (byte) 0);
          task.load(buf, page, 0, (int) got);
          boolean zero = true;
          for (byte b : page) {
            zero &= b == 0;
          }
          mem.ram().write(tmp, 0, page, 0, Page.PAGE_SIZE);
          seqs[p] = zero ? 0 : DmaEngine.stampOf(mem.ram(), tmp);
        }
      } finally {
        mem.allocator().freePages(tmp, 0);
        vfs.close(task, fd);
      }
      return seqs;
    }

    List<String> shutdown() {
      vfs.shutdown();
      task.exit();
      disk.close();
      List<String> v = FinalCheck.violations(mem);
      mem.close();
      return v;
    }
  }
}
