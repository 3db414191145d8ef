package dev.refkern.examples.compare;

import dev.refkern.examples.FileTrees;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.Latency;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.RamSwapDevice;
import dev.refkern.mm.ZoneInfo;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.vm.CompactResult;
import dev.refkern.mm.vm.Compaction;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.PinTrackingPolicy;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.Vmscan;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * {@code refkern compare pin-tracking}: runs one seeded workload on a fresh machine per {@code
 * gup.pin_tracking=} policy and measures what each design gets right and what it costs.
 *
 * <p>The workload, the same for every policy:
 *
 * <ul>
 *   <li>direct-I/O-like short-term pins: {@value #BATCHES} batches of {@code pin_user_pages_fast()}
 *       over random (possibly overlapping) ranges of a buffer, released one page at a time in a
 *       seeded random order by a completion thread, half before and half after memory pressure;
 *   <li>RDMA-like long-term pins ({@code FOLL_LONGTERM}) held across the run: a registration of a
 *       whole buffer and a second, overlapping one released midway (where one flag bit cannot
 *       count);
 *   <li>plain {@code get_user_pages()} + {@code put_page()} users, and {@value #HEAVY_PAGES} pages
 *       holding {@value #HEAVY_REFS} plain references each (the bias's false positives);
 *   <li>memory pressure ({@code shrink_node()} with swap on), compaction of every zone, a direct
 *       {@code migrate_pages()} of each pinned page, and one {@code fork()} followed by the parent
 *       writing its buffers.
 * </ul>
 *
 * <p>Counts are deterministic for a seed; only the timings vary.
 */
public final class PinTrackingComparison {
  /**
   * The policies to try, in the order they are reported: every {@code gup.pin_tracking=} policy in
   * the registry, mainline's first. A name that fails to boot ({@code -EINVAL}) is skipped.
   */
  public static final List<String> CANDIDATES = candidates();

  /** How a note reporting a violation of the final CONFIG_DEBUG_VM check begins. */
  public static final String DEBUG_VM_NOTE = "debug_vm: ";

  static final long PAGE = Page.PAGE_SIZE;
  static final int BATCHES = 6;
  static final int MAX_RANGE = 16;
  static final int HEAVY_PAGES = 16;
  static final int HEAVY_REFS = Foll.GUP_PIN_COUNTING_BIAS + 8;
  static final int WARMUP_ROUNDS = 3;

  /** What to run. */
  public record Config(String cmdline, long seed, int pages) {
    public Config {
      if (pages < 64 || pages > (1 << 20)) {
        throw new KernelException(
            Errno.EINVAL, "--pages " + pages + ": choose between 64 and " + (1 << 20));
      }
    }

    /**
     * A floor on the RAM pages the workload needs: its direct-I/O, RDMA (with the overlap) and
     * get_user_pages buffers, twice, since fork copies a pinned page and reclaim needs headroom.
     */
    public long pagesNeeded() {
      return 2L * (pages + rdmaPages() + rdmaPages() / 2 + getPages());
    }

    int rdmaPages() {
      return Math.max(16, pages / 4);
    }

    int getPages() {
      return Math.max(2 * HEAVY_PAGES, pages / 4);
    }

    int rangesPerBatch() {
      return Math.max(4, pages / 32);
    }

    long reclaimTarget() {
      return Math.max(8, pages / 8);
    }

    /** The workload in one line. */
    public String describe() {
      return String.format(
          Locale.ROOT,
          "%d direct-I/O batches x %d random ranges of 1-%d pages, unpinned by a completion"
              + " thread; RDMA: %d pages FOLL_LONGTERM + %d overlapping, released midway; %d pages"
              + " with %d plain references; per batch shrink_node(%d), compaction and a migration"
              + " of each pinned page; one fork",
          BATCHES,
          rangesPerBatch(),
          MAX_RANGE,
          rdmaPages(),
          rdmaPages() / 2,
          HEAVY_PAGES,
          HEAVY_REFS,
          reclaimTarget());
    }
  }

  /**
   * One policy's measurements.
   *
   * @param missedPins pinned pages (one per pin episode: from the first pin of a page to its last
   *     unpin) for which {@code folio_maybe_dma_pinned()} said false at some checkpoint
   * @param corrupted pinned pages the task no longer maps at the pinned address, or whose DMA
   *     writes it no longer sees (reclaimed, migrated or copied away from under the device)
   * @param falsePositives distinct unpinned pages {@code folio_maybe_dma_pinned()} called pinned
   * @param pinPages direct-I/O pages pinned (the timed pins)
   * @param pinNsPerPage {@code pin_user_pages_fast()} time per page of the direct-I/O pins: the
   *     median over the batches
   * @param unpinNsPerPage {@code unpin_user_page()} time per page in the completion thread: the
   *     median over its runs
   * @param pinNsPerPageP99 the 99th percentile of the same batches (with few batches, the slowest)
   * @param unpinNsPerPageP99 the 99th percentile of the same runs
   * @param peakOverheadBytes the policy's {@code overheadBytes()} at its highest checkpoint
   * @param compactPinBlocked compaction failures due to a pin (or another extra reference)
   * @param migrateEagain {@code migrate_pages()} of pinned pages refused with {@code -EAGAIN}
   * @param pinnedMigrated {@code migrate_pages()} of pinned pages that went through
   * @param reclaimScanned folios {@code shrink_node()} scanned
   * @param reclaimActivated folios it kept and activated
   * @param reclaimPinnedKept folios it kept because they looked pinned
   * @param reclaimed folios it reclaimed
   * @param fastPathAvailable whether {@code gup_fast} may pin under the policy
   * @param fastPathPages pages {@code gup_fast} took during the measured workload
   * @param notes anything else worth reporting (debug_vm findings after the run)
   */
  public record Row(
      String policy,
      long missedPins,
      long corrupted,
      long falsePositives,
      long pinPages,
      double pinNsPerPage,
      double unpinNsPerPage,
      double pinNsPerPageP99,
      double unpinNsPerPageP99,
      long peakOverheadBytes,
      long compactPinBlocked,
      long migrateEagain,
      long pinnedMigrated,
      long reclaimScanned,
      long reclaimActivated,
      long reclaimPinnedKept,
      long reclaimed,
      boolean fastPathAvailable,
      long fastPathPages,
      List<String> notes) {}

  /** Every policy's row, the names that were skipped (with why), and those that failed. */
  public record Outcome(List<Row> rows, List<String> skipped, List<String> failed) {}

  private PinTrackingComparison() {}

  private static List<String> candidates() {
    return PolicyRegistry.global().names(PinTrackingPolicy.PARAM);
  }

  /**
   * Runs the comparison; {@code progress} gets a line per policy and phase. Every policy runs the
   * workload twice: an unmeasured pass first, so that the measured one runs compiled code for all
   * of them (the first policy would otherwise pay for the JIT), then the measured pass.
   */
  public static Outcome run(Config cfg, Consumer<String> progress) throws IOException {
    List<Row> rows = new ArrayList<>();
    List<String> skipped = new ArrayList<>();
    List<String> failed = new ArrayList<>();
    List<String> available = new ArrayList<>();
    long w0 = System.nanoTime();
    for (String name : CANDIDATES) {
      Path dir = Files.createTempDirectory("refkern-compare-" + name);
      try {
        Row row = runOne(name, cfg, dir, m -> {});
        if (row == null) {
          skipped.add(name);
          progress.accept(name + ": not in this build (gup.pin_tracking= EINVAL), skipped");
        } else {
          available.add(name);
        }
      } catch (RuntimeException e) {
        failed.add(name + ": " + e);
        progress.accept(name + ": FAILED: " + e);
      } finally {
        FileTrees.deleteTree(dir);
      }
    }
    progress.accept(
        String.format(
            Locale.ROOT,
            "warm-up pass over %s: %.1f s (not measured)",
            available,
            (System.nanoTime() - w0) / 1e9));
    int i = 0;
    for (String name : available) {
      i++;
      String tag = "[" + i + "/" + available.size() + "] " + name;
      Path dir = Files.createTempDirectory("refkern-compare-" + name);
      long t0 = System.nanoTime();
      try {
        progress.accept(tag + ": booting");
        Row row = runOne(name, cfg, dir, m -> progress.accept(tag + ": " + m));
        rows.add(row);
        progress.accept(
            String.format(
                Locale.ROOT,
                "%s: done in %.1f s (missed %d, corrupted %d, false positives %d)",
                tag,
                (System.nanoTime() - t0) / 1e9,
                row.missedPins(),
                row.corrupted(),
                row.falsePositives()));
      } catch (RuntimeException e) {
        failed.add(name + ": " + e);
        progress.accept(tag + ": FAILED: " + e);
      } finally {
        FileTrees.deleteTree(dir);
      }
    }
    return new Outcome(rows, skipped, failed);
  }

  /** One policy on a fresh machine; null if this build does not know the policy. */
  static Row runOne(String name, Config cfg, Path dir, Consumer<String> progress) {
    if (!PolicyRegistry.global().names(PinTrackingPolicy.PARAM).contains(name)) {
      return null; // gup.pin_tracking= names a policy this build lacks
    }
    BootParams params = BootParams.parse(cfg.cmdline() + " gup.pin_tracking=" + name);
    // any other boot failure (a bad --cmdline) is the user's error, reported as such
    VirtualMemory vm = VirtualMemory.boot(params, dir, true); // closes what it booted if it fails
    try (PhysicalMemory mem = vm.physicalMemory()) {
      return new Workload(mem, vm, cfg, progress).run();
    }
  }

  /**
   * A pinned page as the workload knows it: where it is mapped, by how many pins, which episode.
   */
  private static final class Held {
    final long addr;
    final long episode;
    int count;

    Held(long addr, long episode) {
      this.addr = addr;
      this.episode = episode;
    }
  }

  /** A pin the workload holds: one page of one pin call. */
  private record Pin(long pfn, long addr) {}

  private static final class Workload {
    final PhysicalMemory mem;
    final VirtualMemory vm;
    final Gup gup;
    final PinTrackingPolicy policy;
    final Config cfg;
    final Consumer<String> progress;
    final Random rnd;
    Task task;

    long dio;
    long rdma;
    long gets;
    final List<long[]> regions = new ArrayList<>(); // {start, pages}

    /** Pages the workload has pinned, by pfn (sorted: deterministic iteration). */
    final Map<Long, Held> held = new TreeMap<>();

    long nextEpisode;
    final Set<Long> missed = new HashSet<>();
    final Set<Long> corrupt = new HashSet<>();
    final Set<Long> falsePos = new HashSet<>();
    long peakOverhead;
    long pinPages;
    final Latency pinNsPerPage = new Latency();
    final Latency unpinNsPerPage = new Latency();
    long compactBlocked;
    long eagain;
    long pinnedMigrated;
    long scanned;
    long activated;
    long pinnedKept;
    long reclaimed;
    long dmaTag = 0x5EED_0000_0000_0000L;

    Workload(PhysicalMemory mem, VirtualMemory vm, Config cfg, Consumer<String> progress) {
      this.mem = mem;
      this.vm = vm;
      this.gup = vm.gup();
      this.policy = gup.pinTracking();
      this.cfg = cfg;
      this.progress = progress;
      this.rnd = new Random(cfg.seed());
    }

    Row run() {
      int n = cfg.pages();
      int m = cfg.rdmaPages();
      int g = cfg.getPages();
      task = vm.createTask("app");
      vm.swapon(new RamSwapDevice(2L * (n + m + g)));
      dio = map(n);
      rdma = map(m);
      gets = map(g);
      for (long[] r : regions) {
        for (int i = 0; i < r[1]; i++) {
          task.storeLong(r[0] + i * PAGE, r[0] + i * PAGE); // each page holds its own address
        }
      }
      vm.lru().lruAddDrainAll();

      warmUp(n);
      long fast0 = gup.fastPathPages();

      // plain users that never let go during the run: 1024+ references look like a pin to bias
      long[] heavy = new long[HEAVY_PAGES];
      for (int k = 0; k < HEAVY_REFS; k++) {
        gup.getUserPages(task, gets, HEAVY_PAGES, 0, heavy);
      }

      // RDMA: a registration of the whole buffer, and an overlapping one released midway
      progress.accept("long-term pins (RDMA registrations)");
      long[] reg1 = new long[m];
      long[] reg2 = new long[m / 2];
      int longterm = Foll.FOLL_WRITE | Foll.FOLL_LONGTERM;
      int n1 = (int) gup.pinUserPages(task, rdma, m, longterm, reg1);
      hold(reg1, n1, rdma);
      long reg2Addr = rdma + (m / 4) * PAGE;
      int n2 = (int) gup.pinUserPages(task, reg2Addr, m / 2, longterm, reg2);
      hold(reg2, n2, reg2Addr);
      checkpoint();

      progress.accept(BATCHES + " direct-I/O batches, reclaim, compaction, fork");
      for (int b = 0; b < BATCHES; b++) {
        boolean midway = b == BATCHES / 2;
        fillBuffer(b);
        List<Pin> pins = dioPins(n);
        plainGets(g);
        checkpoint();

        List<Pin> order = new ArrayList<>(pins);
        Collections.shuffle(order, rnd);
        List<Pin> first = order.subList(0, order.size() / 2);
        List<Pin> rest = order.subList(order.size() / 2, order.size());
        complete(first);
        if (midway) {
          gup.unpinUserPages(reg2, n2); // the second registration goes
          release(reg2, n2);
        }
        checkpoint();

        pressure();
        Task child = null;
        if (midway) {
          child = task.fork("child");
          writeBuffers(b); // the parent goes on using its buffers
        }
        verify();
        checkpoint();
        if (child != null) {
          child.exit();
        }
        complete(rest);
      }

      gup.unpinUserPages(reg1, n1);
      release(reg1, n1);
      for (int k = 0; k < HEAVY_REFS; k++) {
        for (long pfn : heavy) {
          gup.putPage(pfn);
        }
      }
      long fast = gup.fastPathPages() - fast0;
      task.exit();
      vm.lru().lruAddDrainAll();
      List<String> notes = new ArrayList<>();
      if (!held.isEmpty()) {
        notes.add(held.size() + " pinned pages left in the workload's books");
      }
      for (String p : FinalCheck.violations(mem)) {
        notes.add(DEBUG_VM_NOTE + p);
      }
      return new Row(
          policy.name(),
          missed.size(),
          corrupt.size(),
          falsePos.size(),
          pinPages,
          pinNsPerPage.p50(),
          unpinNsPerPage.p50(),
          pinNsPerPage.p99(),
          unpinNsPerPage.p99(),
          peakOverhead,
          compactBlocked,
          eagain,
          pinnedMigrated,
          scanned,
          activated,
          pinnedKept,
          reclaimed,
          policy.fastPathAvailable(),
          fast,
          notes);
    }

    private long map(int pages) {
      long a =
          task.mmap(
              0,
              pages * PAGE,
              Mman.PROT_READ | Mman.PROT_WRITE,
              Mman.MAP_PRIVATE | Mman.MAP_ANONYMOUS,
              null,
              0);
      task.madvise(a, pages * PAGE, Mman.MADV_NOHUGEPAGE); // small folios: the bias's domain
      regions.add(new long[] {a, pages});
      return a;
    }

    /** Untimed rounds over the direct-I/O buffer, so the timed pins run compiled code. */
    private void warmUp(int n) {
      long[] pages = new long[n];
      for (int r = 0; r < WARMUP_ROUNDS; r++) {
        int got = (int) gup.pinUserPagesFast(task, dio, n, Foll.FOLL_WRITE, pages);
        for (int i = 0; i < got; i++) {
          gup.unpinUserPage(pages[i]);
        }
      }
    }

    /** The application writes its direct-I/O buffer before the next batch (faults swap back in). */
    private void fillBuffer(int batch) {
      for (int i = 0; i < cfg.pages(); i++) {
        task.storeLong(dio + i * PAGE + 8, batch);
      }
    }

    /** After the fork: the parent writes every page of its buffers. */
    private void writeBuffers(int batch) {
      for (long[] r : regions) {
        if (r[0] == gets) {
          continue;
        }
        for (int i = 0; i < r[1]; i++) {
          task.storeLong(r[0] + i * PAGE + 24, batch);
        }
      }
    }

    /** One batch of direct-I/O pins over random ranges (timed). */
    private List<Pin> dioPins(int n) {
      int k = cfg.rangesPerBatch();
      long[] starts = new long[k];
      long[][] bufs = new long[k][];
      for (int i = 0; i < k; i++) {
        int len = 1 + rnd.nextInt(MAX_RANGE);
        starts[i] = dio + rnd.nextInt(n - len + 1) * PAGE;
        bufs[i] = new long[len];
      }
      int[] got = new int[k];
      long t0 = System.nanoTime();
      for (int i = 0; i < k; i++) {
        got[i] =
            (int) gup.pinUserPagesFast(task, starts[i], bufs[i].length, Foll.FOLL_WRITE, bufs[i]);
      }
      long ns = System.nanoTime() - t0;
      List<Pin> pins = new ArrayList<>();
      long batchPages = 0;
      for (int i = 0; i < k; i++) {
        batchPages += got[i];
        hold(bufs[i], got[i], starts[i]);
        for (int j = 0; j < got[i]; j++) {
          pins.add(new Pin(bufs[i][j], starts[i] + j * PAGE));
        }
      }
      pinPages += batchPages;
      if (batchPages > 0) {
        pinNsPerPage.record(ns / (double) batchPages);
      }
      sampleOverhead();
      return pins;
    }

    /** Plain users: get_user_pages() of a random range, then put_page() of each page. */
    private void plainGets(int g) {
      int len = 1 + rnd.nextInt(MAX_RANGE);
      long start = gets + (HEAVY_PAGES + rnd.nextInt(g - HEAVY_PAGES - len + 1)) * PAGE;
      long[] pages = new long[len];
      int got = (int) gup.getUserPages(task, start, len, Foll.FOLL_WRITE, pages);
      for (int i = 0; i < got; i++) {
        gup.putPage(pages[i]);
      }
    }

    /** The I/O completes: another thread unpins the pages, one by one, in the given order. */
    private void complete(List<Pin> pins) {
      long[] pfns = new long[pins.size()];
      for (int i = 0; i < pfns.length; i++) {
        pfns[i] = pins.get(i).pfn();
      }
      long[] ns = new long[1];
      Throwable[] failure = new Throwable[1];
      Thread t =
          new Thread(
              () -> {
                long t0 = System.nanoTime();
                for (long pfn : pfns) {
                  gup.unpinUserPage(pfn);
                }
                ns[0] = System.nanoTime() - t0;
              },
              "dio-completion");
      t.setUncaughtExceptionHandler((th, e) -> failure[0] = e);
      t.start();
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted waiting for the completion thread", e);
      }
      if (failure[0] instanceof RuntimeException re) {
        throw re;
      } else if (failure[0] instanceof Error err) {
        throw err;
      }
      if (pfns.length > 0) {
        unpinNsPerPage.record(ns[0] / (double) pfns.length);
      }
      for (long pfn : pfns) {
        release(pfn);
      }
    }

    /** Reclaim with swap on, compaction of every zone, and a migration of each pinned page. */
    private void pressure() {
      Vmscan.Result r = vm.vmscan().shrinkNode(cfg.reclaimTarget());
      scanned += r.scanned();
      activated += r.activated();
      pinnedKept += r.pinnedKept();
      reclaimed += r.reclaimed();
      Compaction compaction = new Compaction(vm);
      for (ZoneInfo z : mem.allocator().zones()) {
        if ((z.type() == ZoneType.NORMAL || z.type() == ZoneType.MOVABLE) && z.managedPages() > 0) {
          CompactResult c = compaction.compactZone(z.type());
          compactBlocked += c.pinBlocked();
        }
      }
      for (long pfn : new ArrayList<>(held.keySet())) {
        int rc = vm.migrateFolio(pfn, true);
        if (rc == -Errno.EAGAIN.number()) {
          eagain++;
        } else if (rc == 0) {
          pinnedMigrated++; // verify() finds the page gone from under the device
        }
      }
    }

    /**
     * Every pinned page must still be the one the task maps at its address, and a DMA write into it
     * must be what the task reads there.
     */
    private void verify() {
      for (Map.Entry<Long, Held> e : held.entrySet()) {
        long pfn = e.getKey();
        Held h = e.getValue();
        long pte = task.mm().pte(h.addr);
        boolean mapped = Pte.present(pte) && !Pte.huge(pte) && Pte.pfn(pte) == pfn;
        long tag = ++dmaTag;
        mem.ram().writeLong(pfn, 16, tag); // the device's write
        boolean seen = task.loadLong(h.addr + 16) == tag;
        if (!mapped || !seen) {
          corrupt.add(h.episode);
        }
      }
    }

    /** Missed pins, false positives and the policy's memory, now. */
    private void checkpoint() {
      for (Map.Entry<Long, Held> e : held.entrySet()) {
        if (!policy.maybeDmaPinned(e.getKey())) {
          missed.add(e.getValue().episode);
        }
      }
      for (long[] r : regions) {
        for (int i = 0; i < r[1]; i++) {
          long pte = task.mm().pte(r[0] + i * PAGE);
          if (!Pte.present(pte) || Pte.special(pte)) {
            continue;
          }
          long pfn = Pte.pfn(pte);
          if (!held.containsKey(pfn) && policy.maybeDmaPinned(pfn)) {
            falsePos.add(pfn);
          }
        }
      }
      sampleOverhead();
    }

    private void sampleOverhead() {
      peakOverhead = Math.max(peakOverhead, policy.overheadBytes());
    }

    private void hold(long[] pages, int got, long start) {
      for (int i = 0; i < got; i++) {
        long addr = start + i * PAGE;
        Held h = held.computeIfAbsent(pages[i], k -> new Held(addr, nextEpisode++));
        h.count++;
      }
    }

    private void release(long[] pages, int got) {
      for (int i = 0; i < got; i++) {
        release(pages[i]);
      }
    }

    private void release(long pfn) {
      Held h = held.get(pfn);
      if (h == null) {
        throw new IllegalStateException("released pfn " + pfn + " the workload does not hold");
      }
      if (--h.count == 0) {
        held.remove(pfn);
      }
    }
  }
}
