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
import dev.refkern.mm.vm.Foll;
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
import java.util.SplittableRandom;
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
 *
 * <p>With a {@link Workload} ({@link Options#with}, {@link Workload#seeded}) the seed drives the
 * steps instead: the NIC pins a range of a larger file, DMAs a seeded number of times into seeded
 * pages of it (some while that page's write bio is in flight), the application writes other pages
 * between, and the power goes at a seeded {@link Cut}; {@link Range} counts over every page.
 *
 * <p>Stalls are modelled, not measured: the steps sleep on the pin on real threads (a policy's wait
 * needs the pinning thread to run), so a step's virtual time is {@link #BIO_NS} per write bio it
 * submitted plus {@link #DMA_PERIOD_NS} per DMA the NIC made while it slept; both counts follow
 * from the seeded workload.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PinnedFileScenario {
  /** DMA writes the NIC makes while a step sleeps on its pin, before it deregisters. */
  public static final int STALL_STEPS = 8;

  /** The fewest DMAs a seeded workload's NIC makes while a step sleeps on its pin. */
  public static final int STALL_DMAS = STALL_STEPS;

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
   * @param workload the pinned range, the DMA and application writes and the power cut's point;
   *     null for the single page of the steps above ({@link Workload#single})
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
      String longterm,
      Workload workload) {
    /** The single-page scenario: no seeded workload. */
    public Options(
        long seed,
        String writeback,
        String truncate,
        boolean racingDma,
        boolean background,
        boolean truncateFile,
        boolean powerCut,
        String fs,
        String longterm) {
      this(
          seed,
          writeback,
          truncate,
          racingDma,
          background,
          truncateFile,
          powerCut,
          fs,
          longterm,
          null);
    }

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
          seed,
          writeback,
          truncate,
          true,
          background,
          truncateFile,
          powerCut,
          fs,
          longterm,
          workload);
    }

    /** With a power cut after the fsync. */
    public Options withPowerCut() {
      return new Options(
          seed,
          writeback,
          truncate,
          racingDma,
          background,
          truncateFile,
          true,
          fs,
          longterm,
          workload);
    }

    /** Without the background pass: the fsync is the first writeback. */
    public Options fsyncOnly() {
      return new Options(
          seed,
          writeback,
          truncate,
          racingDma,
          false,
          truncateFile,
          powerCut,
          fs,
          longterm,
          workload);
    }

    /** On filesystem type {@code type} ({@code flatfs}, {@code ext4} or {@code xfs}). */
    public Options on(String type) {
      if (!type.equals("flatfs") && !type.equals("ext4") && !type.equals("xfs")) {
        throw new KernelException(Errno.EINVAL, "no pinned-file scenario on " + type);
      }
      return new Options(
          seed,
          writeback,
          truncate,
          racingDma,
          background,
          truncateFile,
          powerCut,
          type,
          longterm,
          workload);
    }

    /** Under {@code gup.longterm_file=policy}. */
    public Options longterm(String policy) {
      return new Options(
          seed,
          writeback,
          truncate,
          racingDma,
          background,
          truncateFile,
          powerCut,
          fs,
          policy,
          workload);
    }

    /** With the seeded workload {@code w}: a pinned range, DMA and writes, a seeded power cut. */
    public Options with(Workload w) {
      return new Options(
          seed,
          writeback,
          truncate,
          racingDma,
          background,
          truncateFile,
          powerCut,
          fs,
          longterm,
          w);
    }

    /** The workload that runs: {@link #workload} or the single page of the steps. */
    public Workload steps() {
      return workload != null ? workload : Workload.single(racingDma);
    }

    /** The mount options of the first mount, which formats the image. */
    String mkfsOptions() {
      return !fs.equals("flatfs")
          ? "mkfs"
              + (writeback != null ? ",pinned_writeback=" + writeback : "")
              + (truncate != null ? ",pinned_truncate=" + truncate : "")
          : "mkfs,extent=64k";
    }

    /**
     * The kernel command line this run boots. The periodic flusher is off ({@code
     * vm.dirty_writeback_centisecs=0}): the steps run on real threads, and a flusher waking on the
     * wall clock would make a seed's outcome depend on the machine's speed.
     */
    public String cmdline() {
      return "mem=64M vm.dirty_writeback_centisecs=0 gup.longterm_file="
          + longterm
          + (writeback != null ? " writeback.pinned=" + writeback : "")
          + (truncate != null ? " truncate.pinned=" + truncate : "");
    }
  }

  /** Where the disk loses power, if {@link Options#powerCut} asks for a cut. */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public enum Cut {
    /** Before the background pass: nothing after the first fsync reached the media for sure. */
    BEFORE_BACKGROUND,
    /** Right after the background pass. */
    AFTER_BACKGROUND,
    /** After the {@link Workload#cutBio}-th write bio of the fsync: the fsync never returns. */
    DURING_FSYNC,
    /** After every step (the fsync, and the truncate when there is one). */
    END
  }

  /**
   * One write of the workload: the NIC's DMA into page {@code page} of its range, or the
   * application's {@code pwrite} of file page {@code page} (outside the range).
   *
   * @param dma whether the NIC writes (else the application)
   * @param page the range's page for a DMA, the file's page for the application
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public record Write(boolean dma, int page) {}

  /**
   * What the NIC pins and when everyone writes: file pages {@code [first, first + pages)} of a
   * {@code filePages}-page file are pinned; the writes {@code before} the background pass and
   * {@code after} it (before the fsync); the range's pages whose first write bio a DMA races; the
   * DMAs the NIC makes while a step sleeps on its pin; where the power is cut.
   *
   * @param filePages the file's size in pages, every page written and fsync'd before the pin
   * @param first the first pinned page of the file
   * @param pages pages pinned
   * @param before writes before the background pass
   * @param after writes after it, before the fsync
   * @param racing pages of the range (0-based) whose first write bio a DMA races
   * @param stallDmas DMAs the NIC makes while a step sleeps on its pin, then it deregisters
   * @param cut where the disk loses power
   * @param cutBio for {@link Cut#DURING_FSYNC}: after which write bio of the fsync (1-based)
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public record Workload(
      int filePages,
      int first,
      int pages,
      List<Write> before,
      List<Write> after,
      List<Integer> racing,
      int stallDmas,
      Cut cut,
      int cutBio) {
    /** Pages of a seeded workload's file. */
    public static final int FILE_PAGES = 12;

    /**
     * The steps of the class comment on a one-page file: a DMA, the background pass, a DMA, the
     * fsync, the cut at the end; {@code racing} for a DMA racing the page's first write.
     */
    public static Workload single(boolean racing) {
      List<Write> dma = List.of(new Write(true, 0));
      return new Workload(
          1, 0, 1, dma, dma, racing ? List.of(0) : List.of(), STALL_STEPS, Cut.END, 0);
    }

    /**
     * The workload of {@code seed}: 2 to 8 pinned pages of a {@link #FILE_PAGES}-page file, one to
     * three DMAs per pinned page into seeded pages of it and 1 to 6 application writes of the other
     * pages, in a seeded order around the background pass; each pinned page's first write raced
     * with probability 1/3; {@link #STALL_DMAS} to twice that DMAs during a sleep on the pin; the
     * power cut at a seeded {@link Cut} ({@code END} when {@code truncate}: the truncate is what
     * that comparison is about).
     */
    public static Workload seeded(long seed, boolean truncate) {
      SplittableRandom r = new SplittableRandom(seed ^ 0x5eed_f11e_9a9eL);
      int pages = 2 + r.nextInt(7);
      int first = r.nextInt(FILE_PAGES - pages + 1);
      List<Write> writes = new ArrayList<>();
      for (int i = pages + r.nextInt(2 * pages + 1); i > 0; i--) {
        writes.add(new Write(true, r.nextInt(pages)));
      }
      for (int i = 1 + r.nextInt(6); i > 0; i--) {
        int p = r.nextInt(FILE_PAGES - pages);
        writes.add(new Write(false, p < first ? p : p + pages)); // a page outside the range
      }
      for (int i = writes.size() - 1; i > 0; i--) { // Fisher-Yates, seeded
        writes.set(i, writes.set(r.nextInt(i + 1), writes.get(i)));
      }
      int bg = r.nextInt(writes.size() + 1);
      List<Integer> racing = new ArrayList<>();
      for (int p = 0; p < pages; p++) {
        if (r.nextInt(3) == 0) {
          racing.add(p);
        }
      }
      Cut cut = truncate ? Cut.END : Cut.values()[r.nextInt(Cut.values().length)];
      return new Workload(
          FILE_PAGES,
          first,
          pages,
          List.copyOf(writes.subList(0, bg)),
          List.copyOf(writes.subList(bg, writes.size())),
          List.copyOf(racing),
          STALL_DMAS + r.nextInt(STALL_DMAS + 1),
          cut,
          1 + r.nextInt(3));
    }

    /** DMAs made, racing ones included, outside a sleep on the pin. */
    public long dmas() {
      return before.stream().filter(Write::dma).count()
          + after.stream().filter(Write::dma).count()
          + racing.size();
    }

    /** A short description for failure messages. */
    @Override
    public String toString() {
      return "pages "
          + first
          + ".."
          + (first + pages - 1)
          + "/"
          + filePages
          + ", "
          + dmas()
          + " DMA ("
          + racing.size()
          + " racing), "
          + (before.size() + after.size() - dmas() + racing.size())
          + " app writes, cut "
          + cut
          + (cut == Cut.DURING_FSYNC ? " at bio " + cutBio : "");
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
   * @param pinNanos wall-clock nanoseconds of one page's pin and unpin: the median of a batch of
   *     {@link #PIN_SAMPLES} pins of the NIC's range once the batches' medians have settled,
   *     divided by its pages (0 when refused)
   * @param range what happened over the whole range and file (null when refused)
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
      long pinNanos,
      Range range) {
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

  /**
   * The outcome over every page of the file.
   *
   * @param workload what ran
   * @param fsyncReturned whether the fsync returned (with or without an error) before the power
   *     cut; if not, only the first fsync's data (before the pin) was promised
   * @param stalePages pages whose block held, right after a returned fsync, something older than
   *     what was in the page when it began (torn counts)
   * @param lostPages pages whose promised data (of the last returned fsync) a fresh mount did not
   *     read back: older, torn or missing; 0 after a truncate
   * @param orphanPages pinned pages that took DMA after they had left the file
   * @param powerCut whether the disk lost power, at the workload's point
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public record Range(
      Workload workload,
      boolean fsyncReturned,
      long stalePages,
      long lostPages,
      long orphanPages,
      boolean powerCut) {}

  /**
   * Pins of the range per batch of {@link Outcome#pinNanos}: batches run until two in a row have
   * medians within 10% of each other (the JIT has settled), at least {@link #PIN_MIN_BATCHES}, at
   * most {@link #PIN_MAX_BATCHES}; the last batch's median is reported.
   */
  public static final int PIN_SAMPLES = 501;

  /** The fewest batches of pins: the first ones only warm up. */
  public static final int PIN_MIN_BATCHES = 10;

  /** The most batches of pins, for a machine too loaded to settle. */
  public static final int PIN_MAX_BATCHES = 100;

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

  /** The seed of file page {@code p}'s patterns: page 0 keeps the run's seed. */
  static long pageSeed(long seed, int p) {
    return seed + 0x632be59bd9b4e019L * p;
  }

  /** The page pattern of DMA generation {@code gen}: a word per 8 bytes, seeded. */
  public static long word(long seed, int gen, int i) {
    long z = seed + 0x9e3779b97f4a7c15L * (gen + 1) + i * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }

  /** Which generation {@code page} holds, of 0..{@code maxGen}; -1 for none (-2: short). */
  public static int generation(long seed, int maxGen, byte[] page) {
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
    final Workload w;
    long buf; // the application's write buffer
    int[] content; // per file page, the generation last written into its page-cache page
    int[] promised; // per file page, the generation the last returned fsync covered
    long size = -1; // the file's size in the fresh kernel
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
      this.w = o.steps();
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
      buf = task.mmapAnon(Page.PAGE_SIZE);
      content = new int[w.filePages()];
      for (int p = 0; p < w.filePages(); p++) {
        appWrite(p, 0); // generation 0, from the application
      }
      vfs.fsync(task, fd);
      promised = content.clone();
      long len = (long) w.pages() * Page.PAGE_SIZE;
      addr =
          vfs.mmap(
              task,
              0,
              len,
              PROT_READ | PROT_WRITE,
              MAP_SHARED,
              fd,
              (long) w.first() * Page.PAGE_SIZE);
      for (int i = 0; i < w.pages(); i++) { // fault it in writable (page_mkwrite)
        task.storeLong(addr + (long) i * Page.PAGE_SIZE, word(pageSeed(w.first() + i), 0, 0));
      }
      mapping = inode().mapping();
      try {
        nic =
            new RdmaNic(
                vm,
                task,
                addr,
                w.pages(),
                w.first(),
                mapping,
                o.seed(),
                "revoke".equals(o.truncate()));
      } catch (KernelException e) {
        if (e.errno() != Errno.EFAULT) {
          throw e;
        }
        return refused(e.errno());
      }
      pinNanos = pinCost();
      for (int i : w.racing()) {
        bdev.armed.add(nic.pinnedPfn(i));
      }
      bdev.race = this::race;

      play(w.before());
      cutAt(Cut.BEFORE_BACKGROUND);
      int afterBackground = -2;
      boolean dirtyAfterBackground = false;
      if (o.background() && !off()) {
        step(
            "background",
            () -> vm.pageWriteback().writeCachePages(mapping, 0, Long.MAX_VALUE, WbSyncMode.NONE));
        afterBackground = onDisk(w.first());
        dirtyAfterBackground = dirty();
      }
      cutAt(Cut.AFTER_BACKGROUND);
      play(w.after());
      int[] err = new int[1];
      int dmaBeforeFsync = gen;
      int[] beforeFsync = content.clone();
      boolean fsyncReturned = false;
      long stale = 0;
      int onDiskAfterFsync = -2;
      if (!off()) {
        if (o.powerCut() && w.cut() == Cut.DURING_FSYNC) {
          bdev.cutAt = bdev.writes + w.cutBio();
        }
        step(
            "fsync",
            () -> {
              try {
                vfs.fsync(task, fd);
              } catch (KernelException e) {
                err[0] = e.errno().number();
              }
            });
        fsyncReturned = !off();
      }
      if (fsyncReturned) {
        promised = beforeFsync;
        onDiskAfterFsync = onDisk(w.first());
        for (int p = 0; p < w.filePages(); p++) {
          int d = p == w.first() ? onDiskAfterFsync : onDisk(p);
          stale += d != -2 && d < beforeFsync[p] ? 1 : 0;
        }
      }
      boolean dirtyAfterFsync = dirty();
      boolean truncated = false;
      if (o.truncateFile() && !off()) {
        step("ftruncate", () -> vfs.ftruncate(task, fd, 0));
        for (int i = 0; i < LATER_DMA && nic.registered(); i++) {
          nic.dma(
              i % w.pages(), ++gen); // into the orphan, the dummy page, or nowhere once unpinned
        }
        vfs.fsync(task, fd);
        truncated = true;
      }
      long integrityErrors = disk.integrityErrors();
      var stats = writebackPolicy().stats();
      cutAt(Cut.END);
      boolean cut = off();
      long orphans = nic.orphanedPages();
      nic.deregister();
      vfs.munmap(task, addr, len);
      vfs.close(task, fd);
      List<String> pins = new ArrayList<>(shutdown());

      boot(false);
      vfs.mount(o.fs(), "/dev/flat0", "/mnt", "");
      int[] remount = readBack();
      vfs.umount("/mnt");
      pins.addAll(shutdown());
      long lost = 0;
      for (int p = 0; p < w.filePages() && !truncated; p++) {
        lost += remount[p] < promised[p] ? 1 : 0;
      }
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
          remount[w.first()],
          size,
          fsck,
          pins,
          "",
          dmaBeforeFsync,
          List.copyOf(stepNs),
          warns,
          bugs,
          migrations,
          pinNanos,
          new Range(w, fsyncReturned, stale, lost, orphans, cut));
    }

    /** The seed of file page {@code p}'s patterns: page 0 keeps the run's seed. */
    long pageSeed(int p) {
      return PinnedFileScenario.pageSeed(o.seed(), p);
    }

    /** The application's {@code pwrite} of generation {@code g} over file page {@code p}. */
    void appWrite(int p, int g) {
      for (int i = 0; i < Page.PAGE_SIZE / 8; i++) {
        task.storeLong(buf + i * 8L, word(pageSeed(p), g, i));
      }
      vfs.pwrite(task, fd, buf, Page.PAGE_SIZE, (long) p * Page.PAGE_SIZE);
      content[p] = g;
    }

    /** Plays {@code writes}; the NIC's only while it holds its pin, none once the power is off. */
    void play(List<Write> writes) {
      for (Write x : writes) {
        if (off()) {
          return;
        }
        if (!x.dma()) {
          appWrite(x.page(), ++gen);
        } else if (nic.pinned()) {
          dma(x.page());
        }
      }
    }

    /** Cuts the power if the workload's cut is {@code here}. */
    void cutAt(Cut here) {
      if (o.powerCut() && w.cut() == here && !off()) {
        disk.powerCut();
        bdev.cut = true;
      }
    }

    boolean off() {
      return bdev.cut;
    }

    /** A DMA while the write bio of pinned {@code pfn} is in flight (the disk's thread). */
    void race(long pfn) {
      if (!nic.pinned()) {
        return;
      }
      int i = nic.indexOf(pfn);
      if (o.workload() == null) {
        nic.dmaInFlight(i); // one word: the single page's block is torn
      } else {
        dma(i); // a whole new generation under the tags of the old one
      }
    }

    /**
     * {@link Outcome#pinNanos}: pins and unpins the NIC's range (pins on pinned pages, which
     * changes nothing else), warm, and returns the median per page.
     */
    long pinCost() {
      long[] pfns = new long[w.pages()];
      long[] ns = new long[PIN_SAMPLES];
      int flags = Foll.FOLL_LONGTERM | Foll.FOLL_WRITE;
      long last = -1;
      for (int batch = 1; batch <= PIN_MAX_BATCHES; batch++) {
        for (int k = 0; k < PIN_SAMPLES; k++) {
          long t0 = System.nanoTime();
          long got = vm.gup().pinUserPagesFast(task, addr, w.pages(), flags, pfns);
          vm.gup().unpinUserPages(pfns, (int) Math.max(0, got));
          ns[k] = System.nanoTime() - t0;
        }
        java.util.Arrays.sort(ns);
        long median = ns[PIN_SAMPLES / 2];
        boolean settled = Math.abs(median - last) * 10 <= last;
        last = median;
        if (batch >= PIN_MIN_BATCHES && settled) {
          break;
        }
      }
      return last / w.pages();
    }

    /** The generation of each file page a fresh mount reads (-2 past the end or no file). */
    int[] readBack() {
      int[] g = new int[w.filePages()];
      java.util.Arrays.fill(g, -2);
      if (!vfs.readdir("/mnt").contains(FILE.substring(5))) {
        return g;
      }
      int rfd = vfs.open(task, FILE, O_RDONLY, 0);
      size = vfs.fstat(task, rfd).size();
      long buf2 = task.mmapAnon(Page.PAGE_SIZE);
      for (int p = 0; p < w.filePages() && (long) p * Page.PAGE_SIZE < size; p++) {
        long n = vfs.pread(task, rfd, buf2, Page.PAGE_SIZE, (long) p * Page.PAGE_SIZE);
        byte[] page = new byte[(int) n];
        task.load(buf2, page, 0, page.length);
        g[p] = generation(pageSeed(p), gen, page);
      }
      vfs.close(task, rfd);
      return g;
    }

    /** The NIC could not pin ({@code errno}): the kernel is shut down, nothing else runs. */
    Outcome refused(Errno errno) {
      vfs.munmap(task, addr, (long) w.pages() * Page.PAGE_SIZE);
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
          0,
          null);
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

    /** One DMA of a new generation into page {@code i} of the NIC's range. */
    void dma(int i) {
      nic.dma(i, ++gen);
      content[w.first() + i] = gen;
    }

    /** The generation in file page {@code p}'s block on the disk now (cache over media). */
    int onDisk(int p) {
      Inode inode = inode();
      if (inode.sb().type() instanceof Ext4 ext4) { // buffer heads: FIBMAP
        long blk = ext4.bmap(inode, p);
        return blk == 0
            ? -2
            : generation(
                pageSeed(p), gen, disk.peek(blk * (Page.PAGE_SIZE / 512), Page.PAGE_SIZE / 512));
      }
      Iomap m = new Iomap();
      long pos = (long) p * Page.PAGE_SIZE;
      inode.sb().iomapOps().iomapBegin(inode, pos, Page.PAGE_SIZE, IomapOps.IOMAP_READ, m);
      if (m.type() != Iomap.MAPPED) {
        return -2;
      }
      return generation(pageSeed(p), gen, disk.peek(m.sector(pos), Page.PAGE_SIZE / 512));
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
      long biosBefore = bdev.writes;
      long dmaStalled = 0;
      PinStep s = PinStep.start(name, body, this::waits, BOUND_NANOS);
      if (s.asleep()) {
        stalledStep = name;
        for (int i = 0; i < w.stallDmas(); i++) {
          dma(i % w.pages()); // the device goes on while the step sleeps
        }
        dmaStalled = w.stallDmas();
        stillStalled = s.asleep() && s.blocked();
        nic.deregister();
      }
      try {
        s.finish();
      } finally {
        if (stalledStep != null && stalledStep.equals(name)) {
          completedAfterUnpin = !s.asleep();
        }
        stepNs.add((bdev.writes - biosBefore) * BIO_NS + dmaStalled * DMA_PERIOD_NS);
      }
    }

    /** Sleeps of the policies on a pin so far ({@code waits} of both, 0 if they have none). */
    long waits() {
      return writebackPolicy().stats().counters().getOrDefault("waits", 0L)
          + truncatePolicy().stats().counters().getOrDefault("waits", 0L);
    }
  }

  /**
   * The disk seen through a queue the test controls: each bio is submitted to the {@link FileDisk}
   * (which generates its integrity tags) and consumed at once, except that the NIC may DMA once
   * into its page between the two, while the page's first write is in flight.
   */
  private static final class InFlightDisk extends ForwardingBlockDevice {
    final FileDisk disk;
    final java.util.Set<Long> armed = java.util.concurrent.ConcurrentHashMap.newKeySet(); // pfns
    volatile java.util.function.LongConsumer race; // a DMA into a pfn whose write is in flight
    long writes; // write bios, for the steps' modelled time
    long cutAt = -1; // the power goes after this write bio
    volatile boolean cut; // the power is off

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
      java.util.function.LongConsumer r = race;
      for (int i = 0; r != null && bio.op() == BioOp.WRITE && i < bio.vecCount(); i++) {
        if (armed.remove(bio.vecPfn(i))) {
          r.accept(bio.vecPfn(i));
        }
      }
      disk.consumeAll();
      if (bio.op() == BioOp.WRITE && writes == cutAt) {
        disk.powerCut();
        cut = true;
      }
    }
  }

  /**
   * An RDMA NIC's memory region ({@code ib_umem}) over pages of the task's mapping of a file:
   * hmm-device's {@link dev.refkern.hmm.dma.RdmaNic} (pinned with {@code pin_user_pages(FOLL_WRITE
   * | FOLL_LONGTERM)}, revoked on {@code MMU_NOTIFY_TRUNCATE} by redirecting its DMA to a dummy
   * page and unpinning, seed 001) writing generation patterns through a {@link DmaEngine}, counted.
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public static final class RdmaNic {
    private final PhysicalMemory mem;
    private final AddressSpace file;
    private final dev.refkern.hmm.dma.RdmaNic mr;
    private final DmaEngine engine;
    private final DmaPattern pattern;
    private final long[] pfns;
    private final boolean[] orphaned;
    private long writes;
    private long lost;
    private long toDummy;

    /** Registers the page at {@code addr} of {@code task}, a page of {@code file}. */
    public RdmaNic(
        VirtualMemory vm, Task task, long addr, AddressSpace file, long seed, boolean revoke) {
      this(vm, task, addr, 1, 0, file, seed, revoke);
    }

    /**
     * Registers {@code pages} pages at {@code addr} of {@code task}, file pages {@code firstPage}..
     * of {@code file}, each page's patterns seeded for its place in the file.
     */
    public RdmaNic(
        VirtualMemory vm,
        Task task,
        long addr,
        int pages,
        int firstPage,
        AddressSpace file,
        long seed,
        boolean revoke) {
      this.mem = vm.physicalMemory();
      this.file = file;
      this.engine = new DmaEngine(mem.ram(), Page.PAGE_SIZE);
      this.pattern = (gen, page, i) -> word(pageSeed(seed, firstPage + page), (int) gen, i);
      // revoke needs no switch: only truncate.pinned=revoke sends MMU_NOTIFY_TRUNCATE
      this.mr =
          dev.refkern.hmm.dma.RdmaNic.register(
              vm, task, addr, (long) pages * Page.PAGE_SIZE, true, engine);
      this.pfns = new long[pages];
      this.orphaned = new boolean[pages];
      for (int i = 0; i < pages; i++) {
        pfns[i] = mr.pinnedPfn(i);
      }
    }

    /** The first pinned pfn (still the page's number after the unpin). */
    public long pinnedPfn() {
      return pfns[0];
    }

    /** The pfn of page {@code i} of the range as pinned. */
    public long pinnedPfn(int i) {
      return pfns[i];
    }

    /** The page of the range that was pinned at {@code pfn}, -1 for none. */
    public int indexOf(long pfn) {
      for (int i = 0; i < pfns.length; i++) {
        if (pfns[i] == pfn) {
          return i;
        }
      }
      return -1;
    }

    /** Whether it still holds its pins, all of them. */
    public boolean pinned() {
      return mr.registered() && mr.pinnedPages() == pfns.length;
    }

    /** Whether it still DMAs anywhere: pinned, or redirected to its dummy page. */
    public boolean registered() {
      return mr.registered() && (mr.pinnedPages() == pfns.length || mr.isRevoked(0));
    }

    /** One DMA write of generation {@code gen}'s pattern into its first page. */
    public void dma(int gen) {
      dma(0, gen);
    }

    /** One DMA write of generation {@code gen}'s pattern into page {@code i} of its range. */
    public synchronized void dma(int i, int gen) {
      if (!registered()) {
        return; // deregistered: the device is idle
      }
      long before = mr.bytesRedirected();
      mr.dmaWrite(i, 1, gen, pattern);
      engine.drain();
      writes++;
      if (mr.bytesRedirected() != before) {
        toDummy++;
      } else if (mem.memmap().mapping(pfns[i]) != file.id()) {
        lost++; // the page left the file: nobody will ever read this
        orphaned[i] = true;
      }
    }

    /** A DMA racing a write of page {@code i}: one word changes, matching no generation (torn). */
    synchronized void dmaInFlight(int i) {
      mem.ram().writeLong(pfns[i], 0, ~mem.ram().readLong(pfns[i], 0));
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

    /** DMA writes into a pinned page after it had left the file. */
    public synchronized long writesLost() {
      return lost;
    }

    /** Pinned pages that took a DMA write after they had left the file (orphans). */
    public synchronized long orphanedPages() {
      long n = 0;
      for (boolean b : orphaned) {
        n += b ? 1 : 0;
      }
      return n;
    }

    /** DMA writes redirected to the dummy page. */
    public synchronized long writesToDummy() {
      return toDummy;
    }
  }
}
