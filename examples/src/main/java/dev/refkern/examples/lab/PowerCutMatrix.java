package dev.refkern.examples.lab;

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
import dev.refkern.block.LogWrites;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.fs.PinnedFileScenario;
import dev.refkern.examples.fs.PinnedFileScenario.RdmaNic;
import dev.refkern.examples.fs.internal.PinStep;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Mount;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.vm.PinnedTruncatePolicy;
import dev.refkern.mm.vm.PinnedWritebackPolicy;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.WbSyncMode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.BooleanSupplier;
import org.apiguardian.api.API;

/**
 * The power-cut matrix, after fstests' generic/482: for each filesystem × {@code writeback.pinned=}
 * × {@code truncate.pinned=} policy, one seeded workload with an RDMA NIC's long-term pin of a file
 * page is recorded by the log-writes recorder ({@link LogWrites}, dm-log-writes), then the device
 * as it was at <em>every</em> FLUSH/FUA point after mkfs is replayed to a fresh image, mounted
 * (journal or log recovery), read, unmounted and checked by the filesystem's fsck.
 *
 * <p>The workload, on a file of {@link #PAGES} pages whose last page the NIC pins ({@code
 * pin_user_pages(FOLL_WRITE | FOLL_LONGTERM)} of a {@code MAP_SHARED} mapping, {@code
 * gup.longterm_file=allow}): the application writes every page and fsyncs; the NIC DMAs; the
 * application writes another page; a flusher pass ({@code WB_SYNC_NONE}); the NIC DMAs again; an
 * fsync during which the NIC DMAs once more while the pinned page's write is on its way to the disk
 * (the race seed 000 and 003 describe); the application writes another page and fsyncs again (the
 * racing DMA completed before this fsync began, so it is acknowledged); {@code ftruncate} cuts the
 * pinned page off while the pin is held and the NIC DMAs into whatever it still points at; fsync;
 * the NIC deregisters; a last write and fsync; umount. A step that sleeps on the pin (a {@code
 * wait} policy) is seen by state, as in {@link PinnedFileScenario}: the NIC DMAs once more, then
 * deregisters, and the step must finish.
 *
 * <p>How a state is classified (each exactly once, in this order):
 *
 * <ol>
 *   <li><b>metadata corrupt</b>: the state does not mount, or reading it fails, or the fsck finds
 *       anything. A correct journal or log makes this impossible whatever a pinned-page policy
 *       does, since the policies only decide which data blocks are written when.
 *   <li><b>data lost</b>: it mounts and checks clean, but the file does not hold what was
 *       acknowledged. The oracle is generic/482's: the file as it was when the last fsync whose
 *       every log entry is in the state began (its size and each page's content), except that a
 *       page or the size that a later change (an application write, a NIC DMA into the file's page,
 *       the truncate) began to alter at or before the state's last entry may also hold that newer
 *       content. A NIC DMA counts as a change of the file when it lands in a page the file still
 *       holds; DMA into an orphaned page or a revoked NIC's dummy page promises nothing. Every
 *       {@code writeback.pinned=} policy claims fsync's promise for the pinned page too, so
 *       mainline's {@code ignore}, which cleans the folio while the DMA goes on and so never writes
 *       the DMA's data at the next fsync, is counted here when it loses it.
 *   <li><b>consistent</b>: everything else; nothing acknowledged is missing.
 * </ol>
 *
 * <p>Page contents are seeded patterns that name their writer and generation, so a page torn
 * between two writes or zeroes matches nothing and is reported as such. The workload runs on real
 * threads (a step that sleeps on a pin needs a second thread), but every step is ordered by state,
 * so the log, and the matrix, are the same for a seed.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PowerCutMatrix {
  /** The filesystems it runs on: those with a journal or log to recover. */
  public static final List<String> FILESYSTEMS = List.of("ext4", "xfs");

  /** Pages of the workload's file; the NIC pins the last. */
  public static final int PAGES = 4;

  private static final int PINNED = PAGES - 1;
  private static final long SECTORS = (4L << 20) / 512; // room for ext4's journal and xfs's log
  private static final String MNT = "/mnt";
  private static final String NAME = "rdma-buf";
  private static final String FILE = MNT + "/" + NAME;
  private static final String MKFS_MARK = "mkfs";
  private static final long BOUND_NANOS = 60_000_000_000L; // a hung step, on a loaded machine

  /** Tells a caller that one more crash state was classified. */
  @FunctionalInterface
  public interface Progress {
    /** State {@code done} of {@code total} of the cell {@code cell} was classified. */
    void state(String cell, int done, int total);
  }

  private PowerCutMatrix() {}

  /** Every registered {@code writeback.pinned=} policy, in registry order. */
  public static List<String> writebackPolicies() {
    return PolicyRegistry.global().names("writeback.pinned");
  }

  /** Every registered {@code truncate.pinned=} policy, in registry order. */
  public static List<String> truncatePolicies() {
    return PolicyRegistry.global().names("truncate.pinned");
  }

  /**
   * The matrix: a row per {@code filesystems} × writeback × truncate policy, in that order.
   *
   * @param maxStates the most crash states checked per row, evenly spread over the log's FLUSH/FUA
   *     points (the last always among them); 0 for every one
   * @param scratch an empty directory the caller owns (images, kernel state)
   * @param stop asked between states (Ctrl-C): once true, the rows so far are returned
   */
  public static List<PowerCutRow> run(
      List<String> filesystems,
      List<String> writebacks,
      List<String> truncates,
      long seed,
      int maxStates,
      Path scratch,
      BooleanSupplier stop,
      Progress progress) {
    List<PowerCutRow> rows = new ArrayList<>();
    for (String fs : filesystems) {
      for (String wb : writebacks) {
        for (String tr : truncates) {
          if (stop.getAsBoolean()) {
            return rows;
          }
          PowerCutRow r = runOne(fs, wb, tr, seed, maxStates, scratch, stop, progress);
          if (r != null) {
            rows.add(r);
          }
        }
      }
    }
    return rows;
  }

  /**
   * One row: records the workload, then replays and classifies its crash states. Null if {@code
   * stop} said so before the row was complete.
   *
   * @throws KernelException EINVAL for a filesystem without a device or an unknown policy
   */
  public static PowerCutRow runOne(
      String fs,
      String writeback,
      String truncate,
      long seed,
      int maxStates,
      Path scratch,
      BooleanSupplier stop,
      Progress progress) {
    if (!FILESYSTEMS.contains(fs)) {
      throw new KernelException(
          Errno.EINVAL, "no power-cut matrix on " + fs + "; it runs on " + FILESYSTEMS);
    }
    String cell = fs + "/" + writeback + "/" + truncate;
    Path dir = scratch.resolve(fs + "-" + writeback + "-" + truncate);
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    // no periodic flusher: on real threads it would wake by the wall clock, not by the seed
    String cmdline =
        "mem=64M vm.dirty_writeback_centisecs=0 gup.longterm_file=allow writeback.pinned="
            + writeback
            + " truncate.pinned="
            + truncate;
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse(cmdline), dir.resolve("kernel"), true);
    PhysicalMemory mem = vm.physicalMemory();
    try {
      Workload w = new Workload(vm, fs, writeback, truncate, seed, dir);
      w.record();
      List<Long> points = sample(w.points(), maxStates);
      int consistent = 0;
      int lost = 0;
      int corrupt = 0;
      String firstBad = "";
      Path img = dir.resolve("state.img");
      for (int i = 0; i < points.size(); i++) {
        if (stop.getAsBoolean()) {
          return null;
        }
        long p = points.get(i);
        w.log.replayToImage(p, img);
        String bad = w.check(p, img);
        if (bad == null) {
          consistent++;
        } else if (bad.startsWith(Workload.CORRUPT)) {
          corrupt++;
        } else {
          lost++;
        }
        if (bad != null && firstBad.isEmpty()) {
          firstBad = "entry " + p + ": " + bad;
        }
        progress.state(cell, i + 1, points.size());
      }
      w.task.exit();
      List<String> leaks = FinalCheck.violations(mem);
      if (!leaks.isEmpty()) {
        firstBad = (firstBad.isEmpty() ? "" : firstBad + "; ") + "kernel: " + leaks;
      }
      return new PowerCutRow(
          fs, writeback, truncate, seed, points.size(), consistent, lost, corrupt, firstBad);
    } finally {
      mem.close();
    }
  }

  /** At most {@code max} of {@code points}, evenly spread, the last included; all for 0. */
  static List<Long> sample(List<Long> points, int max) {
    if (max <= 0 || points.size() <= max) {
      return points;
    }
    List<Long> out = new ArrayList<>();
    for (int i = 0; i < max; i++) {
      out.add(points.get((int) ((long) (i + 1) * points.size() / max) - 1));
    }
    return out;
  }

  /** The rows as CSV, a header first; {@code firstBad} quoted. */
  public static String csv(List<PowerCutRow> rows) {
    StringBuilder b =
        new StringBuilder(
            "fs,writeback,truncate,seed,states,consistent,data_lost,metadata_corrupt,first_bad\n");
    for (PowerCutRow r : rows) {
      b.append(
          String.format(
              Locale.ROOT,
              "%s,%s,%s,%d,%d,%d,%d,%d,\"%s\"%n",
              r.fs(),
              r.writeback(),
              r.truncate(),
              r.seed(),
              r.states(),
              r.consistent(),
              r.dataLost(),
              r.metadataCorrupt(),
              r.firstBad().replace("\"", "\"\"")));
    }
    return b.toString();
  }

  /** One change of the file: the page (or -1 for the size) and its new value, and when it began. */
  private record Change(long order, long start, int page, long value) {}

  /** An fsync: the file as it was when it began, and the log's length when it returned. */
  private record Promise(long order, long ack, long size, long[] pages) {}

  /** The recorded workload of one row and its oracle. */
  private static final class Workload {
    static final String CORRUPT = "metadata: ";

    final VirtualMemory vm;
    final PhysicalMemory mem;
    final String fs;
    final String writeback;
    final String truncate;
    final long seed;
    final Path dir;
    final Task task;
    final long buf;
    LogWrites log;
    RdmaNic nic;
    Vfs vfs;
    SuperBlock sb;
    final List<Change> changes = new ArrayList<>();
    final List<Promise> promises = new ArrayList<>();
    final long[] pages = new long[PAGES]; // the model: each page's generation
    long size = (long) PAGES * Page.PAGE_SIZE;
    long order;
    int gen; // the NIC's last generation
    int maxAppGen;

    Workload(VirtualMemory vm, String fs, String writeback, String truncate, long seed, Path dir) {
      this.vm = vm;
      this.mem = vm.physicalMemory();
      this.fs = fs;
      this.writeback = writeback;
      this.truncate = truncate;
      this.seed = seed;
      this.dir = dir;
      this.task = vm.createTask("powercut");
      this.buf = task.mmapAnon(Page.PAGE_SIZE);
    }

    /** The log's FLUSH/FUA points after the mkfs mark. */
    List<Long> points() {
      long mkfs = log.markEntry(MKFS_MARK);
      return log.flushPoints().stream().filter(p -> p > mkfs).toList();
    }

    void record() {
      FileDisk disk =
          FileDisk.create(mem, dir.resolve("record.img"), SECTORS, DiskOptions.defaults());
      log = new LogWrites(mem, disk);
      RaceDisk race = new RaceDisk(log);
      vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
      try {
        vfs.mkdir(MNT, 0755);
        vfs.registerBlockDevice("/dev/pc0", race);
        vfs.mount(
            fs,
            "/dev/pc0",
            MNT,
            "mkfs,pinned_writeback=" + writeback + ",pinned_truncate=" + truncate);
        log.mark(MKFS_MARK);
        sb = mounted();
        int fd = vfs.open(task, FILE, O_RDWR | O_CREAT, 0600);
        for (int p = 0; p < PAGES; p++) {
          write(fd, p, 0);
        }
        fsync(fd, "fsync");
        long addr =
            vfs.mmap(
                task,
                0,
                Page.PAGE_SIZE,
                PROT_READ | PROT_WRITE,
                MAP_SHARED,
                fd,
                (long) PINNED * Page.PAGE_SIZE);
        task.storeLong(addr, word(PINNED, 0, 0)); // fault it in writable: the same data
        nic =
            new RdmaNic(
                vm, task, addr, sb.root().lookup(NAME).mapping(), seed, truncate.equals("revoke"));
        dma();
        write(fd, 0, 1);
        step(
            "background",
            () ->
                vm.pageWriteback().writeCachePages(mapping(), 0, Long.MAX_VALUE, WbSyncMode.NONE));
        dma();
        race.arm(this);
        fsync(fd, "fsync racing a DMA");
        race.disarm();
        write(fd, 1, 1);
        fsync(fd, "fsync after the DMA");
        long cut = (long) PINNED * Page.PAGE_SIZE;
        change(-1, cut);
        size = cut;
        step("ftruncate", () -> vfs.ftruncate(task, fd, cut));
        for (int i = 0; i < PinnedFileScenario.LATER_DMA; i++) {
          dma(); // into the orphan, the dummy page, or nowhere: never the file's
        }
        fsync(fd, "fsync after the truncate");
        nic.deregister();
        write(fd, 0, 2);
        fsync(fd, "last fsync");
        vfs.munmap(task, addr, Page.PAGE_SIZE);
        vfs.close(task, fd);
        vfs.umount(MNT);
      } finally {
        if (nic != null) {
          nic.deregister();
        }
        vfs.shutdown();
        log.close();
        disk.close();
      }
    }

    dev.refkern.mm.AddressSpace mapping() {
      return sb.root().lookup(NAME).mapping();
    }

    SuperBlock mounted() {
      for (Mount m : vfs.mounts()) {
        if (m.path().equals(MNT)) {
          return m.sb();
        }
      }
      throw new IllegalStateException(MNT + " is not mounted");
    }

    /** The application writes generation {@code g} of page {@code p}. */
    void write(int fd, int p, int g) {
      change(p, g);
      for (int i = 0; i < Page.PAGE_SIZE / 8; i++) {
        task.storeLong(buf + i * 8L, word(p, g, i));
      }
      vfs.pwrite(task, fd, buf, Page.PAGE_SIZE, (long) p * Page.PAGE_SIZE);
      synchronized (this) {
        pages[p] = g;
        maxAppGen = Math.max(maxAppGen, g);
      }
    }

    /** One NIC DMA of the next generation; a change of the file if it lands in the file's page. */
    synchronized void dma() {
      if (!nic.registered()) {
        return; // deregistered: the device is idle
      }
      long lost = nic.writesLost();
      long dummy = nic.writesToDummy();
      long start = log.size();
      nic.dma(++gen);
      if (nic.writesLost() == lost
          && nic.writesToDummy() == dummy
          && size > (long) PINNED * Page.PAGE_SIZE) {
        changes.add(new Change(order++, start, PINNED, gen));
        pages[PINNED] = gen;
      }
    }

    synchronized void change(int page, long value) {
      changes.add(new Change(order++, log.size(), page, value));
    }

    /** An fsync: the file as it is now is promised once it returns. */
    void fsync(int fd, String name) {
      long o;
      long s;
      long[] snap;
      synchronized (this) {
        o = order++;
        s = size;
        snap = pages.clone();
      }
      step(name, () -> vfs.fsync(task, fd));
      synchronized (this) {
        promises.add(new Promise(o, log.size(), s, snap));
      }
    }

    /**
     * Runs {@code body} in a thread. If it sleeps on the NIC's pin (a policy counts a wait), the
     * NIC DMAs once more and deregisters, and the step must then finish. Bounded generously; seen
     * by state, never by time.
     */
    void step(String name, Runnable body) {
      PinStep s = PinStep.start("powercut-" + name, body, this::waits, BOUND_NANOS);
      if (s.asleep()) {
        dma(); // the device goes on while the step sleeps
        nic.deregister();
      }
      s.finish();
    }

    long waits() {
      Object wb = sb != null ? sb.pinnedWriteback() : null;
      Object tr = sb != null ? sb.pinnedTruncate() : null;
      PinnedWritebackPolicy w = wb != null ? (PinnedWritebackPolicy) wb : vm.pinnedWriteback();
      PinnedTruncatePolicy t = tr != null ? (PinnedTruncatePolicy) tr : vm.pinnedTruncate();
      return w.stats().counters().getOrDefault("waits", 0L)
          + t.stats().counters().getOrDefault("waits", 0L);
    }

    /** The page pattern of writer generation {@code g} of page {@code p}. */
    long word(int p, int g, int i) {
      return p == PINNED
          ? PinnedFileScenario.word(seed, g, i)
          : PinnedFileScenario.word(seed + 0x1000L * (p + 1), g, i);
    }

    /** Which generation {@code data} holds for page {@code p}: -1 for none (torn, zeroes). */
    int generation(int p, byte[] data) {
      int max = p == PINNED ? gen : maxAppGen;
      long s = p == PINNED ? seed : seed + 0x1000L * (p + 1);
      return PinnedFileScenario.generation(s, max, data);
    }

    /**
     * The state of log entries {@code 0..p} in {@code img}: null if consistent, else what was
     * wrong, {@link #CORRUPT} first for metadata.
     */
    String check(long p, Path img) {
      FileDisk disk = FileDisk.open(mem, img, DiskOptions.defaults());
      Vfs v = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
      String data;
      try {
        v.mkdir(MNT, 0755);
        v.registerBlockDevice("/dev/state", disk);
        try {
          v.mount(fs, "/dev/state", MNT, "");
        } catch (KernelException e) {
          return CORRUPT + "mount failed: " + e.getMessage();
        }
        try {
          data = compare(v, p);
          v.umount(MNT);
        } catch (KernelException e) {
          return CORRUPT + "after mount: " + e.getMessage();
        }
      } finally {
        v.shutdown();
        disk.close();
      }
      List<String> fsck = FileSystems.standard().get(fs).check(img.toString());
      if (!fsck.isEmpty()) {
        return CORRUPT
            + "fsck: "
            + fsck.get(0)
            + (fsck.size() > 1 ? " (+" + (fsck.size() - 1) + ")" : "");
      }
      return data;
    }

    /** What of the acknowledged file state {@code p} lacks, or null. */
    private String compare(Vfs v, long p) {
      Promise last = null;
      for (Promise q : promises) {
        if (q.ack() <= p + 1) {
          last = q;
        }
      }
      if (last == null) {
        return null; // nothing acknowledged yet
      }
      Set<Long> sizes = new HashSet<>(List.of(last.size()));
      List<Set<Long>> allowed = new ArrayList<>();
      for (int i = 0; i < PAGES; i++) {
        allowed.add(new HashSet<>(List.of(last.pages()[i])));
      }
      for (Change c : changes) {
        if (c.order() > last.order() && c.start() <= p) {
          (c.page() < 0 ? sizes : allowed.get(c.page())).add(c.value());
        }
      }
      int fd;
      try {
        fd = v.open(task, FILE, O_RDONLY, 0);
      } catch (KernelException e) {
        return "file missing (" + e.errno() + ")";
      }
      try {
        long got = v.fstat(task, fd).size();
        if (!sizes.contains(got)) {
          return "size " + got + ", acknowledged " + last.size();
        }
        long checked = sizes.stream().mapToLong(Long::longValue).min().orElse(0);
        for (int i = 0; i < checked / Page.PAGE_SIZE; i++) {
          long n = v.pread(task, fd, buf, Page.PAGE_SIZE, (long) i * Page.PAGE_SIZE);
          byte[] page = new byte[(int) n];
          task.load(buf, page, 0, page.length);
          long g = generation(i, page);
          if (!allowed.get(i).contains(g)) {
            return "page "
                + i
                + (i == PINNED ? " (pinned)" : "")
                + " holds "
                + (g < 0 ? "torn data or zeroes" : "generation " + g)
                + ", acknowledged "
                + last.pages()[i]
                + (allowed.get(i).size() > 1 ? " (or later " + allowed.get(i) + ")" : "");
          }
        }
        return null;
      } finally {
        v.close(task, fd);
      }
    }
  }

  /**
   * The disk under the filesystem, over the recorder: once armed, when a write bio that carries the
   * pinned page's data has been passed on, the NIC DMAs its next generation into the page, as if it
   * raced the write.
   */
  private static final class RaceDisk extends ForwardingBlockDevice {
    private volatile Workload armed;

    RaceDisk(LogWrites log) {
      super(log);
    }

    void arm(Workload w) {
      armed = w;
    }

    void disarm() {
      armed = null;
    }

    @Override
    public void submitBio(Bio bio) {
      super.submitBio(bio);
      Workload w = armed;
      if (w != null && bio.op() == BioOp.WRITE && w.nic.pinned() && carries(bio, w.nic)) {
        armed = null;
        w.dma();
      }
    }

    private static boolean carries(Bio bio, RdmaNic n) {
      for (int i = 0; i < bio.vecCount(); i++) {
        if (bio.vecPfn(i) == n.pinnedPfn()) {
          return true;
        }
      }
      return false;
    }
  }
}
