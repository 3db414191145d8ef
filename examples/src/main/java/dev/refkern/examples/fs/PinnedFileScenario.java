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
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Mount;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.ext4.Ext4;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.spi.IomapOps;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.hmm.dma.DmaEngine;
import dev.refkern.hmm.dma.DmaPattern;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
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
import java.util.List;
import org.apiguardian.api.API;

/**
 * A page-cache folio of a file under a {@code FOLL_LONGTERM} pin: an RDMA NIC's {@code
 * pin_user_pages(FOLL_WRITE | FOLL_LONGTERM)} of a {@code MAP_SHARED} mapping of a flatfs file on a
 * {@link FileDisk} (with {@code BLK_FEAT_STABLE_WRITES} and protection information), played through
 * writeback, fsync, a power cut, truncate and a remount in a fresh kernel under the booted {@code
 * writeback.pinned=} and {@code truncate.pinned=} policies. The demo and the tests share it.
 *
 * <p>Steps: the NIC DMAs generation 1; a background writeback pass (the flusher's {@code
 * WB_SYNC_NONE}); generation 2; {@code fsync}; optionally {@code ftruncate(0)} and later DMA; an
 * optional power cut; the NIC deregisters (unpin, dirtying, as {@code ib_umem_release()}); umount;
 * a fresh kernel mounts the image and reads the file. A step that sleeps on the pin (a {@code wait}
 * policy) is seen by state, never by time: the NIC then makes {@link #STALL_STEPS} more DMA writes,
 * the step must still be asleep, and only the unpin lets it finish. Each DMA writes a whole page of
 * a seeded pattern, so what is on disk names the generation it came from.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PinnedFileScenario {
  /** DMA writes the NIC makes while a step sleeps on its pin, before it deregisters. */
  public static final int STALL_STEPS = 8;

  /** DMA writes after the truncate, while the NIC still thinks it owns the page. */
  public static final int LATER_DMA = 3;

  private static final long SECTORS = (1L << 20) / 512; // a 1 MiB image
  private static final long EXT4_SECTORS = (4L << 20) / 512; // room for ext4's journal, xfs's log
  private static final String FILE = "/mnt/rdma-buf";
  private static final long BOUND_NANOS = 60_000_000_000L; // generous, for a loaded machine

  /**
   * Virtual time of one DMA write of the NIC while a step sleeps on its pin: the steps run on real
   * threads (they sleep on the pin), so their stall is modelled, not measured, and deterministic.
   */
  public static final long DMA_PERIOD_NS = 1_000_000;

  /** Virtual time the disk takes for one write bio in a step (the same model). */
  public static final long BIO_NS = 100_000;

  /**
   * The kernel command line of a run ({@code writeback.pinned=}, {@code truncate.pinned=}), the
   * seed of the DMA data, and the optional steps.
   *
   * @param seed seeds every DMA pattern; named in every failure
   * @param writeback a {@code writeback.pinned=} policy name
   * @param truncate a {@code truncate.pinned=} policy name
   * @param racingDma whether the NIC also DMAs once while the first write of its page is in flight
   *     (between submission, where the integrity tags are generated, and the device consuming it)
   * @param background whether a background writeback pass runs before the fsync
   * @param truncateFile whether the file is truncated to 0 while pinned, then the NIC DMAs again
   * @param powerCut whether the disk loses power after the fsync, while the page is still pinned
   * @param fs the filesystem type: {@code flatfs} (the booted policies decide), {@code ext4} or
   *     {@code xfs} (mounted with {@code pinned_writeback=} and {@code pinned_truncate=} of this
   *     run, which override their own defaults: stable pages for ext4, bounce for xfs); a null
   *     {@code writeback} or {@code truncate} keeps the filesystem's and the kernel's default
   * @param longterm the {@code gup.longterm_file=} policy: {@code allow}, or {@code refuse}
   *     (mainline), under which the NIC's registration fails with {@code EFAULT}
   */
  public record Options(
      long seed,
      String writeback,
      String truncate,
      boolean racingDma,
      boolean background,
      boolean truncateFile,
      boolean powerCut,
      String fs,
      String longterm) {
    /** {@code writeback} with orphan truncate, a background pass, no race, no truncate, no cut. */
    public static Options writeback(long seed, String writeback) {
      return new Options(seed, writeback, "orphan", false, true, false, false, "flatfs", "allow");
    }

    /** {@code truncate} with {@code writeback.pinned=ignore}, the file truncated while pinned. */
    public static Options truncate(long seed, String truncate) {
      return new Options(seed, "ignore", truncate, false, true, true, false, "flatfs", "allow");
    }

    /** With a DMA racing the first write of the page. */
    public Options racing() {
      return new Options(
          seed, writeback, truncate, true, background, truncateFile, powerCut, fs, longterm);
    }

    /** With a power cut after the fsync. */
    public Options withPowerCut() {
      return new Options(
          seed, writeback, truncate, racingDma, background, truncateFile, true, fs, longterm);
    }

    /** Without the background pass: the fsync is the first writeback. */
    public Options fsyncOnly() {
      return new Options(
          seed, writeback, truncate, racingDma, false, truncateFile, powerCut, fs, longterm);
    }

    /** On filesystem type {@code type} ({@code flatfs}, {@code ext4} or {@code xfs}). */
    public Options on(String type) {
      if (!type.equals("flatfs") && !type.equals("ext4") && !type.equals("xfs")) {
        throw new KernelException(Errno.EINVAL, "no pinned-file scenario on " + type);
      }
      return new Options(
          seed, writeback, truncate, racingDma, background, truncateFile, powerCut, type, longterm);
    }

    /** Under {@code gup.longterm_file=policy}. */
    public Options longterm(String policy) {
      return new Options(
          seed, writeback, truncate, racingDma, background, truncateFile, powerCut, fs, policy);
    }

    /** The mount options of the first mount, which formats the image. */
    String mkfsOptions() {
      return !fs.equals("flatfs")
          ? "mkfs"
              + (writeback != null ? ",pinned_writeback=" + writeback : "")
              + (truncate != null ? ",pinned_truncate=" + truncate : "")
          : "mkfs,extent=64k";
    }

    /** The kernel command line this run boots. */
    public String cmdline() {
      return "mem=64M gup.longterm_file="
          + longterm
          + (writeback != null ? " writeback.pinned=" + writeback : "")
          + (truncate != null ? " truncate.pinned=" + truncate : "");
    }
  }

  /**
   * What happened to the pinned folio, its disk blocks and the NIC's DMA. Generations: 0 is the
   * data the application wrote before the pin, 1.. the NIC's DMA writes; -1 is none of them (zeros
   * or a mix).
   *
   * @param options what ran
   * @param lastDma the generation of the NIC's last DMA into the file's page
   * @param afterBackground the generation on disk after the background pass (-2: no pass)
   * @param dirtyAfterBackground whether the folio was dirty after the background pass
   * @param fsyncErrno the fsync's errno number, 0 if it succeeded
   * @param onDiskAfterFsync the generation on disk after the fsync (cache over media), pin held
   * @param dirtyAfterFsync whether the folio was dirty after the fsync (pin held unless stalled)
   * @param integrityErrors protection-information mismatches the disk found
   * @param foliosBounced bounce copies written ({@code folios_bounced})
   * @param pinnedWritten pinned folios written, in place or bounced ({@code pinned_written})
   * @param stalledStep the step that slept on the pin ("background", "fsync", "ftruncate"), or null
   * @param stillStalledAfterSteps whether that step still slept after {@link #STALL_STEPS} DMAs
   * @param completedAfterUnpin whether that step then finished once the NIC unpinned
   * @param deviceWrites every DMA write the NIC made
   * @param writesLost DMA writes into the pinned page after it had left the file (orphaned)
   * @param writesToDummy DMA writes the NIC redirected to its dummy page after a revoke
   * @param afterRemount the generation a fresh kernel reads (-2: the file is empty or gone)
   * @param sizeAfterRemount the file's size in the fresh kernel (-1: gone)
   * @param fsck flatfs {@code check()} findings on the image at the end
   * @param pinsLeaked the final check of both kernels ({@link FinalCheck#violations}): pins still
   *     held or broken invariants at shutdown; empty when clean
   * @param errno the errno name that refused the NIC's registration ({@code EFAULT} under {@code
   *     gup.longterm_file=refuse}), empty when it pinned; then nothing else ran
   * @param dmaBeforeFsync the generation of the last DMA completed before the fsync began
   * @param stepStallNs per step (background, fsync, ftruncate), its modelled virtual duration:
   *     {@link #BIO_NS} per write bio plus {@link #DMA_PERIOD_NS} per DMA made while it slept
   * @param warns WARN hits of both kernels
   * @param bugs BUG hits of both kernels
   * @param migrations {@code pgmigrate_success} of the first kernel
   * @param pinNanos wall-clock nanoseconds of the NIC's pin and unpin
   */
  public record Outcome(
      Options options,
      int lastDma,
      int afterBackground,
      boolean dirtyAfterBackground,
      int fsyncErrno,
      int onDiskAfterFsync,
      boolean dirtyAfterFsync,
      long integrityErrors,
      long foliosBounced,
      long pinnedWritten,
      String stalledStep,
      boolean stillStalledAfterSteps,
      boolean completedAfterUnpin,
      long deviceWrites,
      long writesLost,
      long writesToDummy,
      int afterRemount,
      long sizeAfterRemount,
      List<String> fsck,
      List<String> pinsLeaked,
      String errno,
      int dmaBeforeFsync,
      List<Long> stepStallNs,
      long warns,
      long bugs,
      long migrations,
      long pinNanos) {
    /** Whether the fresh kernel read exactly the NIC's last DMA. */
    public boolean diskHoldsLastDma() {
      return afterRemount == lastDma;
    }

    /**
     * One line for people: what the writeback steps did with the pinned page, the integrity errors,
     * the bounces, a stall, and what a fresh kernel read.
     */
    public String summary() {
      StringBuilder b = new StringBuilder();
      if (stalledStep != null) {
        b.append(stalledStep)
            .append(" slept on the pin")
            .append(stillStalledAfterSteps ? " through " + STALL_STEPS + " DMA writes" : "")
            .append(completedAfterUnpin ? ", done after the unpin" : ", never done")
            .append("; ");
      } else if (afterBackground != -2) {
        b.append("background: ")
            .append(
                afterBackground == 0
                    ? "not written"
                    : afterBackground == -1 ? "written torn (DMA in flight)" : "written")
            .append(dirtyAfterBackground ? ", still dirty" : ", clean")
            .append("; ");
      }
      b.append("fsync ")
          .append(fsyncErrno == 0 ? "ok" : "EIO")
          .append(stalledStep == null ? " while pinned" : "")
          .append(", folio ")
          .append(dirtyAfterFsync ? "dirty" : "clean")
          .append("; disk ")
          .append(gen(onDiskAfterFsync))
          .append(onDiskAfterFsync == lastDma ? " = last DMA" : ", last DMA #" + lastDma)
          .append("; integrity errors ")
          .append(integrityErrors)
          .append("; bounced ")
          .append(foliosBounced);
      if (options.truncateFile()) {
        b.append("; after truncate: ")
            .append(writesLost)
            .append(" DMA writes lost, ")
            .append(writesToDummy)
            .append(" to the dummy page");
      }
      b.append(options.powerCut() ? "; after a power cut: " : "; remounted: ")
          .append(gen(afterRemount))
          .append(
              afterRemount == lastDma ? " (the last DMA)" : afterRemount == -2 ? "" : " (lost)");
      return b.toString();
    }

    private static String gen(int g) {
      return switch (g) {
        case -2 -> "empty";
        case -1 -> "torn data";
        case 0 -> "the app's data";
        default -> "DMA #" + g;
      };
    }

    /** {@code seed=0x..} and the policies, for failure messages. */
    public String tag() {
      return "seed=0x"
          + Long.toHexString(options.seed())
          + " "
          + options.cmdline()
          + (options.racingDma() ? " racing-dma" : "")
          + (options.powerCut() ? " power-cut" : "");
    }

    @Override
    public String toString() {
      return tag()
          + ": lastDma="
          + lastDma
          + " afterBackground="
          + afterBackground
          + " dirtyAfterBackground="
          + dirtyAfterBackground
          + " fsyncErrno="
          + fsyncErrno
          + " onDiskAfterFsync="
          + onDiskAfterFsync
          + " dirtyAfterFsync="
          + dirtyAfterFsync
          + " integrityErrors="
          + integrityErrors
          + " bounced="
          + foliosBounced
          + " pinnedWritten="
          + pinnedWritten
          + " stalled="
          + stalledStep
          + " stillStalled="
          + stillStalledAfterSteps
          + " completedAfterUnpin="
          + completedAfterUnpin
          + " deviceWrites="
          + deviceWrites
          + " lost="
          + writesLost
          + " toDummy="
          + writesToDummy
          + " afterRemount="
          + afterRemount
          + " size="
          + sizeAfterRemount
          + " fsck="
          + fsck
          + " pinsLeaked="
          + pinsLeaked;
    }
  }

  private final Path dir;
  private int runs;

  /** A scenario keeping its kernels' state and the disk image under {@code dir}. */
  public PinnedFileScenario(Path dir) {
    this.dir = dir;
  }

  /** Runs {@code o} in fresh kernels on a fresh image and returns what happened. */
  public synchronized Outcome run(Options o) {
    return new Run(o, runs++).go();
  }

  /** The page pattern of DMA generation {@code gen}: a word per 8 bytes, seeded. */
  static long word(long seed, int gen, int i) {
    long z = seed + 0x9e3779b97f4a7c15L * (gen + 1) + i * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }

  /** Which generation {@code page} holds, of 0..{@code maxGen}; -1 for none. */
  static int generation(long seed, int maxGen, byte[] page) {
    if (page.length < Page.PAGE_SIZE) {
      return -2;
    }
    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(page).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    for (int g = 0; g <= maxGen; g++) {
      boolean all = true;
      for (int i = 0; i < Page.PAGE_SIZE / 8 && all; i++) {
        all = b.getLong(i * 8) == word(seed, g, i);
      }
      if (all) {
        return g;
      }
    }
    return -1;
  }

  /** One run: two kernels in turn on one image. */
  private final class Run {
    final Options o;
    final Path image;
    VirtualMemory vm;
    PhysicalMemory mem;
    FileDisk disk;
    InFlightDisk bdev;
    Vfs vfs;
    Task task;
    RdmaNic nic;
    int fd;
    long addr;
    AddressSpace mapping;
    int gen; // the generation of the NIC's last DMA into the file page
    String stalledStep;
    boolean stillStalled;
    boolean completedAfterUnpin;
    final List<Long> stepNs = new ArrayList<>();
    long warns;
    long bugs;
    long migrations;
    long pinNanos;

    final int id;

    Run(Options o, int id) {
      this.o = o;
      this.id = id;
      this.image = dir.resolve(o.fs() + "-" + id + ".img");
      try {
        Files.createDirectories(dir);
        Files.deleteIfExists(image); // a rerun of the demo in the same state directory
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    Outcome go() {
      boot(true);
      vfs.mount(o.fs(), "/dev/flat0", "/mnt", o.mkfsOptions());
      fd = vfs.open(task, FILE, O_RDWR | O_CREAT, 0600);
      long buf = task.mmapAnon(Page.PAGE_SIZE);
      for (int i = 0; i < Page.PAGE_SIZE / 8; i++) {
        task.storeLong(buf + i * 8L, word(o.seed(), 0, i)); // generation 0, from the application
      }
      vfs.pwrite(task, fd, buf, Page.PAGE_SIZE, 0);
      vfs.fsync(task, fd);
      addr = vfs.mmap(task, 0, Page.PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      task.storeLong(addr, word(o.seed(), 0, 0)); // fault it in writable (page_mkwrite)
      mapping = inode().mapping();
      long pin0 = System.nanoTime();
      try {
        nic = new RdmaNic(vm, task, addr, mapping, o.seed(), "revoke".equals(o.truncate()));
      } catch (KernelException e) {
        if (e.errno() != Errno.EFAULT) {
          throw e;
        }
        return refused(e.errno());
      }
      pinNanos = System.nanoTime() - pin0;
      bdev.nic = nic;
      bdev.armed = o.racingDma();

      dma(); // generation 1
      int afterBackground = -2;
      boolean dirtyAfterBackground = false;
      if (o.background()) {
        step(
            "background",
            () -> vm.pageWriteback().writeCachePages(mapping, 0, Long.MAX_VALUE, WbSyncMode.NONE));
        afterBackground = onDisk();
        dirtyAfterBackground = dirty();
      }
      if (nic.pinned()) {
        dma(); // generation 2
      }
      int[] err = new int[1];
      int dmaBeforeFsync = gen;
      step(
          "fsync",
          () -> {
            try {
              vfs.fsync(task, fd);
            } catch (KernelException e) {
              err[0] = e.errno().number();
            }
          });
      int onDiskAfterFsync = onDisk();
      boolean dirtyAfterFsync = dirty();
      if (o.truncateFile()) {
        step("ftruncate", () -> vfs.ftruncate(task, fd, 0));
        for (int i = 0; i < LATER_DMA && nic.registered(); i++) {
          nic.dma(++gen); // into the orphan, the dummy page, or nowhere once unpinned
        }
        vfs.fsync(task, fd);
      }
      long integrityErrors = disk.integrityErrors();
      var stats = writebackPolicy().stats();
      if (o.powerCut()) {
        disk.powerCut();
      }
      long unpin0 = System.nanoTime();
      nic.deregister();
      pinNanos += System.nanoTime() - unpin0;
      vfs.munmap(task, addr, Page.PAGE_SIZE);
      vfs.close(task, fd);
      List<String> pins = new ArrayList<>(shutdown());

      boot(false);
      vfs.mount(o.fs(), "/dev/flat0", "/mnt", "");
      int afterRemount = -2;
      long size = -1;
      if (vfs.readdir("/mnt").contains(FILE.substring(5))) {
        int rfd = vfs.open(task, FILE, O_RDONLY, 0);
        size = vfs.fstat(task, rfd).size();
        if (size > 0) {
          long buf2 = task.mmapAnon(Page.PAGE_SIZE);
          long n = vfs.pread(task, rfd, buf2, Page.PAGE_SIZE, 0);
          byte[] page = new byte[(int) n];
          task.load(buf2, page, 0, page.length);
          afterRemount = generation(o.seed(), gen, page);
        }
        vfs.close(task, rfd);
      }
      vfs.umount("/mnt");
      pins.addAll(shutdown());
      List<String> fsck = FileSystems.standard().get(o.fs()).check(image.toString());
      return new Outcome(
          o,
          gen,
          afterBackground,
          dirtyAfterBackground,
          err[0],
          onDiskAfterFsync,
          dirtyAfterFsync,
          integrityErrors,
          stats.get("folios_bounced"),
          stats.get("pinned_written"),
          stalledStep,
          stillStalled,
          completedAfterUnpin,
          nic.writes(),
          nic.writesLost(),
          nic.writesToDummy(),
          afterRemount,
          size,
          fsck,
          pins,
          "",
          dmaBeforeFsync,
          List.copyOf(stepNs),
          warns,
          bugs,
          migrations,
          pinNanos);
    }

    /** The NIC could not pin ({@code errno}): the kernel is shut down, nothing else runs. */
    Outcome refused(Errno errno) {
      vfs.munmap(task, addr, Page.PAGE_SIZE);
      vfs.close(task, fd);
      List<String> pins = shutdown();
      return new Outcome(
          o,
          0,
          -2,
          false,
          0,
          0,
          false,
          0,
          0,
          0,
          null,
          false,
          false,
          0,
          0,
          0,
          -2,
          -1,
          List.of(),
          pins,
          errno.name(),
          0,
          List.of(),
          warns,
          bugs,
          migrations,
          0);
    }

    void boot(boolean create) {
      vm =
          VirtualMemory.boot(
              BootParams.parse(o.cmdline()), dir.resolve("k" + id + (create ? "a" : "b")), true);
      mem = vm.physicalMemory();
      // a throwaway image: the write cache models durability, a host fsync per FLUSH buys nothing
      DiskOptions opts = DiskOptions.defaults().integrity(true).manualConsumption().hostSync(false);
      long sectors = o.fs().equals("flatfs") ? SECTORS : EXT4_SECTORS;
      disk = create ? FileDisk.create(mem, image, sectors, opts) : FileDisk.open(mem, image, opts);
      bdev = new InFlightDisk(disk);
      vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/flat0", bdev);
      task = vm.createTask("rdma-app");
    }

    /** Shuts the kernel down; returns the pins still held then. */
    List<String> shutdown() {
      vfs.shutdown();
      task.exit();
      disk.close();
      List<String> pins = FinalCheck.violations(mem);
      warns += mem.health().warnCount();
      bugs += mem.health().isDead() ? 1 : 0;
      if (migrations == 0) {
        migrations = mem.vmstat().get(dev.refkern.mm.VmItem.PGMIGRATE_SUCCESS);
      }
      mem.close();
      return pins;
    }

    Inode inode() {
      for (Mount m : vfs.mounts()) {
        if (m.path().equals("/mnt")) {
          return m.sb().root().lookup(FILE.substring(5));
        }
      }
      throw new IllegalStateException(o.fs() + " is not mounted");
    }

    /** The mount's {@code pinned_writeback=} policy if it chose one, else the booted one. */
    PinnedWritebackPolicy writebackPolicy() {
      Object own = mounted() != null ? mounted().pinnedWriteback() : null;
      return own != null ? (PinnedWritebackPolicy) own : vm.pinnedWriteback();
    }

    /** The mount's {@code pinned_truncate=} policy if it chose one, else the booted one. */
    PinnedTruncatePolicy truncatePolicy() {
      Object own = mounted() != null ? mounted().pinnedTruncate() : null;
      return own != null ? (PinnedTruncatePolicy) own : vm.pinnedTruncate();
    }

    SuperBlock mounted() {
      for (Mount m : vfs.mounts()) {
        if (m.path().equals("/mnt")) {
          return m.sb();
        }
      }
      return null;
    }

    void dma() {
      nic.dma(++gen);
    }

    /** The generation in the file's first block on the disk now (cache over media). */
    int onDisk() {
      Inode inode = inode();
      if (inode.sb().type() instanceof Ext4 ext4) { // buffer heads: FIBMAP
        long blk = ext4.bmap(inode, 0);
        return blk == 0
            ? -2
            : generation(
                o.seed(), gen, disk.peek(blk * (Page.PAGE_SIZE / 512), Page.PAGE_SIZE / 512));
      }
      Iomap m = new Iomap();
      inode.sb().iomapOps().iomapBegin(inode, 0, Page.PAGE_SIZE, IomapOps.IOMAP_READ, m);
      if (m.type() != Iomap.MAPPED) {
        return -2;
      }
      return generation(o.seed(), gen, disk.peek(m.sector(0), Page.PAGE_SIZE / 512));
    }

    boolean dirty() {
      return new FolioOps(mem).folioTestDirty(nic.pinnedPfn());
    }

    /**
     * Runs {@code body} in a thread. If it sleeps on the NIC's pin (a policy counts it waiting),
     * the NIC DMAs {@link #STALL_STEPS} times, the step must still sleep, then the NIC unpins and
     * the step must finish. Bounded generously; asserts state, not time.
     */
    void step(String name, Runnable body) {
      Throwable[] failed = new Throwable[1];
      Thread t =
          new Thread(
              () -> {
                try {
                  body.run();
                } catch (Throwable e) {
                  failed[0] = e;
                }
              },
              name);
      long waitsBefore = waits();
      long biosBefore = bdev.writes;
      long dmaStalled = 0;
      t.start();
      long deadline = System.nanoTime() + BOUND_NANOS;
      while (t.isAlive() && !(blocked(t) && waits() > waitsBefore)) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(name + " neither finished nor slept on the pin");
        }
        sleepBriefly(); // polling state, not timing: the bound above only ends a hung run
      }
      if (t.isAlive()) {
        stalledStep = name;
        for (int i = 0; i < STALL_STEPS; i++) {
          dma(); // the device goes on while the step sleeps
        }
        dmaStalled = STALL_STEPS;
        stillStalled = t.isAlive() && blocked(t);
        nic.deregister();
      }
      join(t);
      if (stalledStep != null && stalledStep.equals(name)) {
        completedAfterUnpin = !t.isAlive();
      }
      stepNs.add((bdev.writes - biosBefore) * BIO_NS + dmaStalled * DMA_PERIOD_NS);
      if (failed[0] instanceof RuntimeException e) {
        throw e;
      } else if (failed[0] != null) {
        throw new IllegalStateException(name + " failed", failed[0]);
      }
    }

    /** Sleeps of the policies on a pin so far ({@code waits} of both, 0 if they have none). */
    long waits() {
      return writebackPolicy().stats().counters().getOrDefault("waits", 0L)
          + truncatePolicy().stats().counters().getOrDefault("waits", 0L);
    }

    void join(Thread t) {
      try {
        t.join(BOUND_NANOS / 1_000_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (t.isAlive()) {
        throw new IllegalStateException(t.getName() + " did not finish after the unpin");
      }
    }
  }

  private static void sleepBriefly() {
    try {
      Thread.sleep(1);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  private static boolean blocked(Thread t) {
    Thread.State s = t.getState();
    return s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
  }

  /**
   * The disk seen through a queue the test controls: each bio is submitted to the {@link FileDisk}
   * (which generates its integrity tags) and consumed at once, except that the NIC may DMA once
   * into its page between the two, while the page's first write is in flight.
   */
  private static final class InFlightDisk extends ForwardingBlockDevice {
    final FileDisk disk;
    volatile RdmaNic nic;
    volatile boolean armed;
    long writes; // write bios, for the steps' modelled time

    InFlightDisk(FileDisk disk) {
      super(disk);
      this.disk = disk;
    }

    @Override
    public void submitBio(Bio bio) {
      disk.submitBio(bio);
      if (bio.op() == BioOp.WRITE) {
        writes++; // one submitter at a time: the step's thread
      }
      RdmaNic n = nic;
      if (armed && n != null && n.pinned() && bio.op() == BioOp.WRITE && carries(bio, n)) {
        armed = false;
        n.dmaInFlight();
      }
      disk.consumeAll();
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

  /**
   * An RDMA NIC's memory region ({@code ib_umem}) over one page of the task's mapping: hmm-device's
   * {@link dev.refkern.hmm.dma.RdmaNic} (pinned with {@code pin_user_pages(FOLL_WRITE |
   * FOLL_LONGTERM)}, revoked on {@code MMU_NOTIFY_TRUNCATE} by redirecting its DMA to a dummy page
   * and unpinning, seed 001) writing generation patterns through a {@link DmaEngine}, counted.
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public static final class RdmaNic {
    private final PhysicalMemory mem;
    private final AddressSpace file;
    private final dev.refkern.hmm.dma.RdmaNic mr;
    private final DmaEngine engine;
    private final DmaPattern pattern;
    private final long pfn;
    private long writes;
    private long lost;
    private long toDummy;

    /** Registers the page at {@code addr} of {@code task}, a page of {@code file}. */
    public RdmaNic(
        VirtualMemory vm, Task task, long addr, AddressSpace file, long seed, boolean revoke) {
      this.mem = vm.physicalMemory();
      this.file = file;
      this.engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
      this.pattern = (gen, page, i) -> word(seed, (int) gen, i);
      // revoke needs no switch: only truncate.pinned=revoke sends MMU_NOTIFY_TRUNCATE
      this.mr = dev.refkern.hmm.dma.RdmaNic.register(vm, task, addr, Page.PAGE_SIZE, true, engine);
      this.pfn = mr.pinnedPfn(0);
    }

    /** The pinned pfn (still the page's number after the unpin). */
    public long pinnedPfn() {
      return pfn;
    }

    /** Whether it still holds its pin. */
    public boolean pinned() {
      return mr.registered() && mr.pinnedPages() == 1;
    }

    /** Whether it still DMAs anywhere: pinned, or redirected to its dummy page. */
    public boolean registered() {
      return mr.registered() && (mr.pinnedPages() == 1 || mr.isRevoked(0));
    }

    /** One DMA write of generation {@code gen}'s pattern into its target page. */
    public synchronized void dma(int gen) {
      if (!registered()) {
        return; // deregistered: the device is idle
      }
      long before = mr.bytesRedirected();
      mr.dmaWrite(0, 1, gen, pattern);
      engine.drain();
      writes++;
      if (mr.bytesRedirected() != before) {
        toDummy++;
      } else if (mem.memmap().mapping(pfn) != file.id()) {
        lost++; // the page left the file: nobody will ever read this
      }
    }

    /** A DMA racing a write of the page: one word changes, matching no generation (torn). */
    synchronized void dmaInFlight() {
      mem.ram().writeLong(pfn, 0, ~mem.ram().readLong(pfn, 0));
      writes++;
    }

    /**
     * {@code ib_umem_release()}: unpins, dirtying ({@code unpin_user_pages_dirty_lock(..., true)});
     * removes the notifier, frees the dummy page.
     */
    public synchronized void deregister() {
      mr.deregister();
    }

    /** DMA writes made. */
    public synchronized long writes() {
      return writes;
    }

    /** DMA writes into the pinned page after it had left the file. */
    public synchronized long writesLost() {
      return lost;
    }

    /** DMA writes redirected to the dummy page. */
    public synchronized long writesToDummy() {
      return toDummy;
    }
  }
}
