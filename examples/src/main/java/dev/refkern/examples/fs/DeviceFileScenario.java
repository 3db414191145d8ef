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
import dev.refkern.fs.Vfs;
import dev.refkern.hmm.dma.DmaEngine;
import dev.refkern.hmm.dma.DmaTransfer;
import dev.refkern.hmm.dma.Gpu;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
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
   */
  public record Options(
      long seed,
      String policy,
      String fs,
      int pages,
      int syncedRounds,
      boolean unsyncedRound,
      boolean powerCut) {
    /** The kernel command line of the run. */
    public String cmdline() {
      return "mem=64M zone_device=16M hmm.file_pages=" + policy;
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
      List<String> violations) {}

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
    long seq = 0;
    long writes = 0;
    long dmaFailed = 0;

    Kernel k = new Kernel(o, image, id, true);
    Vfs vfs = k.vfs;
    Task task = k.task;
    vfs.mount(o.fs(), "/dev/gpu0", "/mnt", "mkfs");
    int fd = vfs.open(task, FILE, O_RDWR | O_CREAT, 0600);
    vfs.ftruncate(task, fd, (long) n * Page.PAGE_SIZE); // sparse: every page a hole
    long addr =
        vfs.mmap(task, 0, (long) n * Page.PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    DmaEngine engine = new DmaEngine(k.mem.ram(), Page.PAGE_SIZE);
    Gpu gpu = new Gpu(k.vm, task, addr, n, 2 * n, engine);
    int rounds = o.syncedRounds() + (o.unsyncedRound() ? 1 : 0);
    int unsyncedWritten = 0;
    for (int r = 0; r < rounds; r++) {
      boolean sync = r < o.syncedRounds();
      for (int p = 0; p < n; p++) {
        if (r > 0 && rnd.nextBoolean()) {
          continue; // the first round writes every page; later ones a seeded half
        }
        seq++;
        DmaTransfer t = gpu.dmaWrite(p, 1, seq);
        engine.drain();
        if (t.state() != DmaTransfer.State.DONE) {
          dmaFailed++; // hmm.file_pages=off: no device page for a file page, the DMA fails
          continue;
        }
        writes++;
        last[p] = seq;
        unsyncedWritten += sync ? 0 : 1;
      }
      if (sync) {
        vfs.fsync(task, fd);
        System.arraycopy(last, 0, synced, 0, n);
      }
    }
    int onDevice = 0;
    for (int p = 0; p < n; p++) {
      long pte = task.mm().pte(addr + (long) p * Page.PAGE_SIZE);
      onDevice += Pte.isDevicePrivate(pte) && gpu.pagemap().contains(Pte.entryPfn(pte)) ? 1 : 0;
    }
    PolicyStats stats = k.vm.deviceFilePages().stats();
    long toDevice = gpu.migratedToDevice();
    if (o.powerCut()) {
      k.disk.powerCut(); // the page cache, device memory and the disk's cache are gone
    }
    gpu.destroy();
    vfs.munmap(task, addr, (long) n * Page.PAGE_SIZE);
    vfs.close(task, fd);
    if (!o.powerCut()) {
      vfs.umount("/mnt");
    }
    List<String> violations = new ArrayList<>(k.shutdown());

    Kernel k2 = new Kernel(o, image, id, false);
    k2.vfs.mount(o.fs(), "/dev/gpu0", "/mnt", "");
    long[] read = k2.readSeqs(n);
    k2.vfs.umount("/mnt");
    violations.addAll(k2.shutdown());
    List<String> fsck = FileSystems.standard().get(o.fs()).check(image.toString());
    int syncedLost = 0;
    int unsyncedLost = 0;
    for (int p = 0; p < n; p++) {
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
        writes,
        dmaFailed,
        onDevice,
        syncedLost,
        unsyncedLost,
        unsyncedWritten,
        stats,
        toDevice,
        fsck,
        violations);
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
