package dev.refkern.examples.fs;

import static dev.refkern.fs.Fcntl.O_CREAT;
import static dev.refkern.fs.Fcntl.O_RDONLY;
import static dev.refkern.fs.Fcntl.O_RDWR;
import static dev.refkern.mm.vm.Mman.MAP_SHARED;
import static dev.refkern.mm.vm.Mman.PROT_READ;
import static dev.refkern.mm.vm.Mman.PROT_WRITE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BioOp;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.block.ForwardingBlockDevice;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.fs.internal.PinStep;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Mount;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.hmm.dma.DmaEngine;
import dev.refkern.hmm.dma.DmaPattern;
import dev.refkern.hmm.dma.RdmaNic;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageMemory;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.vm.PinnedWritebackPolicy;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.WbSyncMode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BooleanSupplier;
import org.apiguardian.api.API;

/**
 * A long-term-pinned file range under one {@code pinned_writeback=} policy, measured: an RDMA NIC's
 * {@code pin_user_pages(FOLL_WRITE | FOLL_LONGTERM)} of part of a {@code MAP_SHARED} file mapping
 * ({@code ib_umem_get()}) on any registered filesystem type that needs a device, on a {@link
 * FileDisk} with protection information ({@code BLK_FEAT_STABLE_WRITES}).
 *
 * <p>Each seeded round: the NIC DMAs a new pattern into some pinned pages and the application
 * acknowledges each by storing the page's header word through the mapping (a write fault, so the
 * folio is dirty under every policy alike); the CPU {@code write()}s some unpinned pages; then a
 * flusher pass ({@code WB_SYNC_NONE}, even rounds) or an {@code fsync} ({@code WB_SYNC_ALL}, odd
 * rounds). While that writeback runs, each write bio that carries a pinned page's data (in place,
 * or a bounce copy, known by its header word) gets one more DMA into that pinned page between
 * submission, where the disk computes the guard tags, and consumption, where it checks them: a
 * changed page is an integrity mismatch ({@code EIO}). A writeback that sleeps on a pin ({@code
 * wait}) is seen by state: the NIC then DMAs {@link #STALL_STEPS} more times, deregisters (unpins,
 * dirtying) and re-registers at the next round. At the end the NIC deregisters, the file is fsync'd
 * and unmounted, and a fresh kernel compares the file with what the last DMA and writes left.
 *
 * <p>The rounds are the same under every policy for one seed (the same pages DMA'd and written, in
 * the same order); the DMA into pages in flight happens where a policy writes pinned data, so its
 * count is part of what is measured.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PinnedRangeWorkload {
  /** DMA writes the NIC makes while a writeback sleeps on its pin, before it deregisters. */
  public static final int STALL_STEPS = 8;

  /** The largest file, in pages (256 MiB). */
  public static final int MAX_PAGES = 1 << 16;

  /** The most rounds. */
  public static final int MAX_ROUNDS = 100_000;

  private static final String FILE = "/mnt/pinned-range";
  private static final long BOUND_NANOS = 120_000_000_000L; // ends a hung run, never asserted
  private static final long MAGIC = 0xD3A_5EL; // 20 bits: a page header this workload wrote
  private static final int WORDS = Page.PAGE_SIZE / 8;

  private final Path dir;

  /** Runs keep their images and memmaps in {@code dir}. */
  public PinnedRangeWorkload(Path dir) {
    this.dir = dir;
  }

  /** The {@code writeback.pinned} policies the registry lists, in its order. */
  public static List<String> policies() {
    return PolicyRegistry.global().names(PinnedWritebackPolicy.PARAM);
  }

  /**
   * One run's parameters: the mount's {@code pinned_writeback=} value, the file and its pinned
   * range.
   *
   * @param fs a registered filesystem type that needs a device ({@code flatfs}, {@code ext4}, ...)
   * @param policy the {@code pinned_writeback=} value of the mount
   * @param pages the file's size in pages
   * @param pinned the pages the NIC pins, in the middle of the file
   * @param rounds DMA + write + writeback rounds
   * @param seed seeds which pages are written and the data; the same for every policy
   */
  public record Config(String fs, String policy, int pages, int pinned, int rounds, long seed) {
    /** 1 MiB file, 64 pinned pages, 16 rounds. */
    public static Config defaults(String fs, String policy, long seed) {
      return new Config(fs, policy, 256, 64, 16, seed);
    }

    /**
     * Checks the numbers and that {@code fs} is a registered type on a device.
     *
     * @throws KernelException {@code ENODEV} for an unknown type, {@code EINVAL} for a type without
     *     a device, an unknown policy or a number out of range
     */
    public void validate() {
      if (pages < 1 || pages > MAX_PAGES) {
        throw new KernelException(Errno.EINVAL, "pages " + pages + ": must be 1 to " + MAX_PAGES);
      }
      if (pinned < 1 || pinned > pages) {
        throw new KernelException(
            Errno.EINVAL, "pinned " + pinned + ": must be 1 to the file's " + pages + " pages");
      }
      if (rounds < 1 || rounds > MAX_ROUNDS) {
        throw new KernelException(
            Errno.EINVAL, "rounds " + rounds + ": must be 1 to " + MAX_ROUNDS);
      }
      type(fs);
      if (!policies().contains(policy)) {
        throw new KernelException(
            Errno.EINVAL,
            "pinned_writeback=" + policy + ": unknown; known: " + String.join(", ", policies()));
      }
    }

    long fileBytes() {
      return (long) pages * Page.PAGE_SIZE;
    }

    int pinStart() {
      return (pages - pinned) / 2;
    }

    /** Per filesystem: flatfs holds a file in one extent, which mkfs must size. */
    String mkfsOptions() {
      String own = fs.equals("flatfs") ? ",extent=" + fileBytes() : "";
      return "mkfs" + own + ",pinned_writeback=" + policy;
    }

    /** Room for the file twice over and metadata: ext4's journal needs 4 MiB on its own. */
    long imageSectors() {
      return ((4L << 20) + 2 * fileBytes()) / Bio.SECTOR_SIZE;
    }

    String cmdline() {
      long mb = 64 + 4 * fileBytes() / (1 << 20);
      return "mem=" + mb + "M gup.longterm_file=allow writeback.pinned=" + policy;
    }
  }

  /**
   * The type named {@code fs}, if it mounts block devices.
   *
   * @throws KernelException {@code ENODEV} if no such type is registered ({@code mount(2)}), {@code
   *     EINVAL} if it needs no device
   */
  public static FileSystemType type(String fs) {
    FileSystems all = FileSystems.standard();
    if (!all.names().contains(fs)) {
      throw new KernelException(
          Errno.ENODEV, "unknown filesystem type '" + fs + "'; known: " + all.names());
    }
    FileSystemType t = all.get(fs);
    if (!t.requiresDev()) {
      throw new KernelException(Errno.EINVAL, fs + ": not a filesystem on a device");
    }
    return t;
  }

  /**
   * What one run measured: the disk's write bios and guard-tag checks, the policy's {@code
   * bytes_bounced} and {@code skipped}, sleeps in {@code write_cache_pages()} on the pin.
   *
   * @param config what ran
   * @param roundsRun rounds run (fewer than asked after a stop)
   * @param bytesWritten write-bio bytes the disk received from the first round to the last fsync
   *     (data, and the filesystem's metadata and journal)
   * @param bytesBounced bytes of bounce copies writeback wrote ({@code bytes_bounced})
   * @param stalls writebacks that slept on the pin
   * @param stallSteps DMA writes the NIC made while a writeback slept, summed
   * @param stallNanos wall-clock time from a writeback found asleep to its end, summed
   * @param pinnedSkipped pinned folios a pass left dirty ({@code skipped})
   * @param bytesSkipped their bytes, not written by that pass
   * @param integrityErrors writes whose guard tags did not match what the disk consumed
   * @param fsyncErrors {@code fsync} calls that returned {@code EIO}
   * @param dmaWrites every DMA write the NIC made
   * @param dmaInFlight of those, made while a write of the page was in flight
   * @param lostBytes bytes a fresh kernel read that differ from the last DMA or write
   * @param wallNanos the run's wall-clock time, both kernels
   * @param fsck the filesystem's check of the image at the end; empty when clean
   * @param violations {@code debug_vm} of both kernels at shutdown: pins held, broken invariants
   */
  public record Result(
      Config config,
      int roundsRun,
      long bytesWritten,
      long bytesBounced,
      long stalls,
      long stallSteps,
      long stallNanos,
      long pinnedSkipped,
      long bytesSkipped,
      long integrityErrors,
      long fsyncErrors,
      long dmaWrites,
      long dmaInFlight,
      long lostBytes,
      long wallNanos,
      List<String> fsck,
      List<String> violations) {
    /** {@code seed=0x.. fs=.. pinned_writeback=..}, for failure messages. */
    public String tag() {
      return "seed=0x"
          + Long.toHexString(config.seed())
          + " fs="
          + config.fs()
          + " pinned_writeback="
          + config.policy();
    }
  }

  /** Runs {@code c}; {@code stop} is asked between rounds (Ctrl-C), which ends them early. */
  public Result run(Config c, BooleanSupplier stop) {
    return run(c, stop, () -> {});
  }

  /** {@link #run(Config, BooleanSupplier)}, telling {@code roundDone} after each round. */
  public Result run(Config c, BooleanSupplier stop, Runnable roundDone) {
    c.validate();
    return new Run(c).go(stop, roundDone);
  }

  /** The header word of page {@code p}'s data of generation {@code gen}. */
  static long header(int p, long gen) {
    return MAGIC << 44 | (long) p << 24 | (gen & 0xFF_FFFF);
  }

  /** The page index a header word names, or -1 if it is not one. */
  static int pageOf(long word) {
    return (word >>> 44) == MAGIC ? (int) ((word >>> 24) & 0xF_FFFF) : -1;
  }

  /** Word {@code i} (not 0) of page {@code p}'s data of generation {@code gen}. */
  static long word(long seed, int p, long gen, int i) {
    long z = seed ^ (p * 0x9E3779B97F4A7C15L) ^ (gen * 0xC2B2AE3D27D4EB4FL) ^ i;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private final class Run {
    final Config c;
    final Path image;
    final long[] head; // expected header word per page
    final long[] body; // expected body generation per page
    final Random rnd;
    final Random stallRnd;
    VirtualMemory vm;
    PhysicalMemory mem;
    FileDisk disk;
    InFlightDisk bdev;
    Vfs vfs;
    Task task;
    Nic nic;
    int fd;
    long addr;
    long buf;
    long gen;
    long stalls;
    long stallSteps;
    long stallNanos;
    long fsyncErrors;
    int roundsRun;

    Run(Config c) {
      this.c = c;
      this.image = dir.resolve(c.fs() + "-" + c.policy() + ".img");
      this.head = new long[c.pages()];
      this.body = new long[c.pages()];
      this.rnd = new Random(c.seed());
      this.stallRnd = new Random(~c.seed());
      try {
        Files.createDirectories(dir);
        Files.deleteIfExists(image);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    Result go(BooleanSupplier stop, Runnable roundDone) {
      long t0 = System.nanoTime();
      List<String> violations = new ArrayList<>();
      boot(true);
      long written;
      long integrity;
      Map<String, Long> stats;
      try {
        vfs.mount(c.fs(), "/dev/pin0", "/mnt", c.mkfsOptions());
        fd = vfs.open(task, FILE, O_RDWR | O_CREAT, 0600);
        buf = task.mmapAnon(Page.PAGE_SIZE);
        for (int p = 0; p < c.pages(); p++) {
          cpuWrite(p); // generation 0..: the application's data
        }
        fsync();
        addr = vfs.mmap(task, 0, c.fileBytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        AddressSpace mapping = mounted().root().lookup(FILE.substring(5)).mapping();
        nic = new Nic();
        nic.register();
        bdev.nic = nic;
        bdev.bytesWritten = 0;
        long integrityBefore = disk.integrityErrors();
        int k = Math.max(1, c.pinned() / 4); // DMA writes per round
        int w = Math.max(1, (c.pages() - c.pinned()) / 8); // CPU writes per round
        for (; roundsRun < c.rounds() && !stop.getAsBoolean(); roundsRun++) {
          int r = roundsRun;
          if (!nic.pinned()) {
            nic.register(); // the application registers its memory region again
          }
          for (int i = 0; i < k; i++) {
            int p = c.pinStart() + rnd.nextInt(c.pinned());
            nic.dma(p);
            head[p] = header(p, gen);
            task.storeLong(addr + (long) p * Page.PAGE_SIZE, head[p]); // the app's ack: dirties
          }
          for (int i = 0; i < w && c.pages() > c.pinned(); i++) {
            int p = rnd.nextInt(c.pages() - c.pinned());
            cpuWrite(p < c.pinStart() ? p : p + c.pinned());
          }
          boolean background = r % 2 == 0;
          writeback(
              background ? "flusher" : "fsync",
              background
                  ? () ->
                      vm.pageWriteback()
                          .writeCachePages(mapping, 0, Long.MAX_VALUE, WbSyncMode.NONE)
                  : this::fsync);
          roundDone.run();
        }
        nic.deregister(); // ib_umem_release(): unpin, dirtying
        fsync();
        written = bdev.bytesWritten;
        integrity = disk.integrityErrors() - integrityBefore;
        stats = policyStats();
        vfs.munmap(task, addr, c.fileBytes());
        vfs.close(task, fd);
        vfs.umount("/mnt");
      } finally {
        if (nic != null) {
          nic.deregister();
        }
        violations.addAll(shutdown());
      }
      boot(false);
      long lost;
      try {
        vfs.mount(c.fs(), "/dev/pin0", "/mnt", "");
        lost = compare();
        vfs.umount("/mnt");
      } finally {
        violations.addAll(shutdown());
      }
      List<String> fsck = type(c.fs()).check(image.toString());
      long skipped = stats.getOrDefault("skipped", 0L);
      return new Result(
          c,
          roundsRun,
          written,
          stats.getOrDefault("bytes_bounced", 0L),
          stalls,
          stallSteps,
          stallNanos,
          skipped,
          skipped * Page.PAGE_SIZE,
          integrity,
          fsyncErrors,
          nic.writes,
          nic.inFlight,
          lost,
          System.nanoTime() - t0,
          fsck,
          List.copyOf(violations));
    }

    void boot(boolean create) {
      vm =
          VirtualMemory.boot(
              BootParams.parse(c.cmdline()),
              dir.resolve("k-" + c.fs() + "-" + c.policy() + (create ? "a" : "b")),
              true);
      mem = vm.physicalMemory();
      DiskOptions opts = DiskOptions.defaults().integrity(true).manualConsumption();
      disk =
          create
              ? FileDisk.create(mem, image, c.imageSectors(), opts)
              : FileDisk.open(mem, image, opts);
      bdev = new InFlightDisk(disk, mem.ram());
      vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/pin0", bdev);
      task = vm.createTask("rdma-app");
    }

    List<String> shutdown() {
      vfs.shutdown();
      task.exit();
      disk.close();
      List<String> v = FinalCheck.violations(mem);
      mem.close();
      return v;
    }

    /** {@code pwrite()} of a whole new generation of page {@code p}. */
    void cpuWrite(int p) {
      gen++;
      head[p] = header(p, gen);
      body[p] = gen;
      task.storeLong(buf, head[p]);
      for (int i = 1; i < WORDS; i++) {
        task.storeLong(buf + i * 8L, word(c.seed(), p, gen, i));
      }
      vfs.pwrite(task, fd, buf, Page.PAGE_SIZE, (long) p * Page.PAGE_SIZE);
    }

    void fsync() {
      try {
        vfs.fsync(task, fd);
      } catch (KernelException e) {
        if (e.errno() != Errno.EIO) {
          throw e;
        }
        fsyncErrors++; // errseq: a write failed since the last fsync
      }
    }

    SuperBlock mounted() {
      for (Mount m : vfs.mounts()) {
        if (m.path().equals("/mnt")) {
          return m.sb();
        }
      }
      throw new IllegalStateException(c.fs() + " is not mounted");
    }

    /** The mount's {@code pinned_writeback=} policy's counters. */
    Map<String, Long> policyStats() {
      Object own = mounted().pinnedWriteback();
      return (own instanceof PinnedWritebackPolicy p ? p : vm.pinnedWriteback()).stats().counters();
    }

    long waits() {
      return policyStats().getOrDefault("waits", 0L);
    }

    /**
     * Runs writeback {@code body} in a thread. If it sleeps on the pin (the policy counts a wait
     * and the thread blocks), the NIC DMAs {@link #STALL_STEPS} times, must find it still asleep,
     * then deregisters; the writeback must then finish. Bounded generously; nothing asserts time.
     */
    void writeback(String name, Runnable step) {
      nic.newPass();
      bdev.armed = true;
      PinStep s = PinStep.start("pinbench-" + name, step, this::waits, BOUND_NANOS);
      if (s.asleep()) {
        long asleep = System.nanoTime();
        stalls++;
        for (int i = 0; i < STALL_STEPS; i++) {
          nic.dma(c.pinStart() + stallRnd.nextInt(c.pinned())); // the device goes on
          stallSteps++;
        }
        if (!(s.asleep() && s.blocked())) {
          throw new IllegalStateException(name + " woke while the NIC still held its pin");
        }
        nic.deregister();
        s.finish();
        stallNanos += System.nanoTime() - asleep;
      } else {
        s.finish();
      }
      bdev.armed = false;
    }

    /** Bytes of the file a fresh kernel reads that differ from the last DMA or write. */
    long compare() {
      int rfd = vfs.open(task, FILE, O_RDONLY, 0);
      long rbuf = task.mmapAnon(Page.PAGE_SIZE);
      byte[] got = new byte[Page.PAGE_SIZE];
      long lost = 0;
      for (int p = 0; p < c.pages(); p++) {
        long n = vfs.pread(task, rfd, rbuf, Page.PAGE_SIZE, (long) p * Page.PAGE_SIZE);
        if (n < Page.PAGE_SIZE) {
          lost += Page.PAGE_SIZE - Math.max(n, 0);
        }
        task.load(rbuf, got, 0, (int) Math.max(n, 0));
        for (int i = 0; i < WORDS && i * 8 + 8 <= n; i++) {
          long want = i == 0 ? head[p] : word(c.seed(), p, body[p], i);
          long have = getLong(got, i * 8);
          if (want != have) {
            for (int b = 0; b < 8; b++) {
              if ((byte) (want >>> (8 * b)) != (byte) (have >>> (8 * b))) {
                lost++;
              }
            }
          }
        }
      }
      vfs.close(task, rfd);
      return lost;
    }

    /**
     * An RDMA NIC's memory region over the pinned range: hmm-device's {@link RdmaNic} ({@code
     * ib_umem}, pinned with {@code pin_user_pages(FOLL_WRITE | FOLL_LONGTERM)}), whose DMA engine
     * writes each page's body (not the application's header word) synchronously.
     */
    final class Nic {
      final DmaEngine engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
      final boolean[] hitInFlight = new boolean[c.pinned()];
      final DmaPattern bodyPattern =
          new DmaPattern() {
            @Override
            public long word(long seq, int page, int i) {
              return PinnedRangeWorkload.word(c.seed(), page + c.pinStart(), seq, i);
            }

            @Override
            public int firstWord() {
              return 1;
            }
          };
      volatile RdmaNic mr;
      long writes;
      long inFlight;

      /** {@code ib_umem_get()}: pins the whole range or nothing. */
      void register() {
        long start = addr + (long) c.pinStart() * Page.PAGE_SIZE;
        mr = RdmaNic.register(vm, task, start, (long) c.pinned() * Page.PAGE_SIZE, true, engine);
      }

      boolean pinned() {
        return mr != null;
      }

      /** A DMA write of a new generation into file page {@code p}'s body (not its header). */
      synchronized void dma(int p) {
        RdmaNic m = mr;
        if (m == null) {
          return; // deregistered: the device is idle
        }
        gen++;
        body[p] = gen;
        m.dmaWrite(p - c.pinStart(), 1, gen, bodyPattern);
        engine.drain();
        writes++;
      }

      /** Called at a write bio's submission with page {@code p}'s data: DMA once per pass. */
      synchronized void inFlight(int p) {
        int i = p - c.pinStart();
        if (mr != null && i >= 0 && i < c.pinned() && !hitInFlight[i]) {
          hitInFlight[i] = true;
          dma(p);
          inFlight++;
        }
      }

      synchronized void newPass() {
        Arrays.fill(hitInFlight, false);
      }

      /** {@code ib_umem_release()}: {@code unpin_user_pages_dirty_lock(..., true)}. */
      synchronized void deregister() {
        if (mr != null) {
          mr.deregister();
          mr = null;
        }
      }
    }
  }

  private static long getLong(byte[] b, int off) {
    long v = 0;
    for (int i = 7; i >= 0; i--) {
      v = v << 8 | (b[off + i] & 0xFF);
    }
    return v;
  }

  /**
   * The disk behind a queue the workload controls: each bio goes to the {@link FileDisk} (which
   * generates its guard tags at submission) and is consumed at once, except that a write carrying a
   * pinned page's data, in place or as a bounce copy, first lets the NIC DMA into that page.
   */
  private static final class InFlightDisk extends ForwardingBlockDevice {
    final FileDisk disk;
    final PageMemory ram;
    volatile Run.Nic nic;
    volatile boolean armed;
    long bytesWritten;

    InFlightDisk(FileDisk disk, PageMemory ram) {
      super(disk);
      this.disk = disk;
      this.ram = ram;
    }

    @Override
    public void submitBio(Bio bio) {
      disk.submitBio(bio);
      if (bio.op() == BioOp.WRITE) {
        bytesWritten += bio.size();
        Run.Nic n = nic;
        if (armed && n != null) {
          for (int i = 0; i < bio.vecCount(); i++) {
            if (bio.vecOffset(i) == 0) {
              int p = pageOf(ram.readLong(bio.vecPfn(i), 0));
              if (p >= 0) {
                n.inFlight(p);
              }
            }
          }
        }
      }
      disk.consumeAll();
    }
  }
}
