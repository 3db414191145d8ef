package dev.refkern.examples.cli;

import static dev.refkern.mm.Page.PAGE_SIZE;

import dev.refkern.examples.ConsoleProgress;
import dev.refkern.examples.FinalCheck;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code refkern gup-test}: the kernel's GUP benchmark, {@code
 * tools/testing/selftests/mm/gup_test.c} driving {@code mm/gup_test.c}, against refkern's {@link
 * Gup}. Same option letters, same TAP output ({@code "%s: Time: get:%lld put:%lld us"} per repeat),
 * plus a per-page summary and the model's invariant checks. What the kernel's ioctl does in the
 * kernel is done here in-process: the timed loop takes {@code nr_pages_per_call} pages per call,
 * then the release is timed apart.
 */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "gup-test",
    sortOptions = false,
    description = {
      "Benchmark/test get_user_pages() and pin_user_pages(), as the kernel's gup_test does.",
      "Maps -m MB of memory (private anonymous, as MAP_PRIVATE of /dev/zero is), faults it in,",
      "then per repeat takes -n pages per call over the whole range (timed: get) and releases",
      "them (timed: put). Output is TAP, as the selftest's; a summary gives ns/page.",
      "Page indices after the options select the pages -c dumps (default: page 0)."
    })
final class GupTestCommand implements Callable<Integer> {
  static final long MB = 1L << 20;

  /** The most threads {@code -j} starts. */
  static final int MAX_THREADS = 1024;

  /** {@code GUP_TEST_MAX_PAGES_TO_DUMP}. */
  static final int MAX_PAGES_TO_DUMP = 8;

  /** The ioctl commands of {@code mm/gup_test.h}. */
  enum Cmd {
    GUP_FAST_BENCHMARK,
    PIN_FAST_BENCHMARK,
    PIN_LONGTERM_BENCHMARK,
    GUP_BASIC_TEST,
    PIN_BASIC_TEST,
    DUMP_USER_PAGES_TEST;

    boolean benchmark() {
      return this == GUP_FAST_BENCHMARK
          || this == PIN_FAST_BENCHMARK
          || this == PIN_LONGTERM_BENCHMARK;
    }
  }

  private Cmd cmd = Cmd.GUP_FAST_BENCHMARK;
  private int thp = -1;
  private boolean write = true;
  private boolean dumpFirstPage;

  // getopt: the last of several command letters wins, so they are setters run in order

  @Option(
      names = "-u",
      description = "GUP_FAST_BENCHMARK: get_user_pages_fast() + put_page() (default).")
  void gupFast(boolean on) {
    cmd = Cmd.GUP_FAST_BENCHMARK;
  }

  @Option(
      names = "-a",
      description = "PIN_FAST_BENCHMARK: pin_user_pages_fast() + unpin_user_pages().")
  void pinFast(boolean on) {
    cmd = Cmd.PIN_FAST_BENCHMARK;
  }

  @Option(
      names = "-L",
      description = "PIN_LONGTERM_BENCHMARK: pin_user_pages(FOLL_LONGTERM) + unpin_user_pages().")
  void pinLongterm(boolean on) {
    cmd = Cmd.PIN_LONGTERM_BENCHMARK;
  }

  @Option(names = "-U", description = "GUP_BASIC_TEST: get_user_pages() + put_page(), once.")
  void gupBasic(boolean on) {
    cmd = Cmd.GUP_BASIC_TEST;
  }

  @Option(
      names = "-b",
      description = "PIN_BASIC_TEST: pin_user_pages() + unpin_user_pages(), once.")
  void pinBasic(boolean on) {
    cmd = Cmd.PIN_BASIC_TEST;
  }

  @Option(
      names = "-c",
      description =
          "DUMP_USER_PAGES_TEST: get (or with -p pin) the range and dump_page() the pages given as"
              + " arguments (0-based; default page 0).")
  void dump(boolean on) {
    cmd = Cmd.DUMP_USER_PAGES_TEST;
    dumpFirstPage = true;
  }

  @Option(names = "-p", description = "With -c: pin_user_pages() instead of get_user_pages().")
  boolean dumpUsePin;

  @Option(
      names = "-m",
      paramLabel = "size_in_MB",
      description = "Size of the mapping in MB (default: 128).")
  int sizeMb = 128;

  @Option(
      names = "-n",
      paramLabel = "nr_pages_per_call",
      description = "Pages per get/pin call (default: 1).")
  int nrPagesPerCall = 1;

  @Option(
      names = "-r",
      paramLabel = "repeats",
      description = "Repeats of a benchmark (default: 1).")
  int repeats = 1;

  @Option(
      names = "-j",
      paramLabel = "nthreads",
      description = "Threads, each running the test (default: 1).")
  int nthreads = 1;

  @Option(
      names = "-F",
      paramLabel = "gup_flags",
      description = "Extra FOLL_* flags, decimal or 0x hex (strtol base 0).")
  String gupFlagsArg;

  @Option(names = "-w", description = "FOLL_WRITE (the default).")
  void writeOn(boolean on) {
    write = true;
  }

  @Option(names = "-W", description = "No FOLL_WRITE.")
  void writeOff(boolean on) {
    write = false;
  }

  @Option(names = "-t", description = "THP: madvise(MADV_HUGEPAGE) the mapping.")
  void thpOn(boolean on) {
    thp = 1;
  }

  @Option(names = "-T", description = "No THP: madvise(MADV_NOHUGEPAGE) the mapping.")
  void thpOff(boolean on) {
    thp = 0;
  }

  @Option(names = "-S", description = "MAP_SHARED instead of MAP_PRIVATE (shmem-backed).")
  boolean shared;

  @Option(
      names = "-H",
      description = "MAP_HUGETLB: not supported (refkern has no hugetlbfs; use -t for THP).")
  boolean hugetlb;

  @Option(
      names = "-f",
      paramLabel = "file",
      description = "File to map (default: /dev/zero, the only one supported).")
  String file = "/dev/zero";

  @Option(names = "-z", hidden = true)
  boolean z;

  @Parameters(paramLabel = "page_index", description = "Pages for -c to dump (0-based, up to 8).")
  List<String> pageIndices = new ArrayList<>();

  @Option(
      names = "--cmdline",
      paramLabel = "cmdline",
      description = "Kernel command line (default: \"mem=<2*size+256>M\", room for the mapping).")
  String cmdline;

  @Option(
      names = "--state",
      paramLabel = "dir",
      description =
          "State directory for the memmap, kept afterwards; a previous kernel's memmap there is"
              + " refused (EEXIST) unless --reset (default: a temporary directory, deleted"
              + " afterwards).")
  Path state;

  @Option(
      names = "--reset",
      description = "Discard a previous kernel's memmap in the --state directory.")
  boolean reset;

  @Option(
      names = "--progress",
      negatable = true,
      description = "Progress on stderr (default: when there is a console).")
  Boolean progress;

  /** What one ioctl reports back ({@code struct gup_test}), plus refkern's nanosecond times. */
  record Result(int status, long size, long pages, long getNs, long putNs) {}

  @Override
  public Integer call() throws Exception {
    validate();
    long size = sizeMb * MB;
    int gupFlags = parseFlags();
    if (write) {
      gupFlags |= Foll.FOLL_WRITE;
    }
    long[] whichPages = whichPages();
    String line = cmdline != null ? cmdline : "mem=" + (2L * sizeMb + 256) + "M";
    BootParams params = BootParams.parse(line);
    checkFits(params, size, nthreads, nrPagesPerCall);

    PrintStream out = System.out;
    Path dir = KernelSession.stateDir(state, "refkern-gup-test");
    Progress prog = new Progress(ConsoleProgress.wanted(progress), nthreads);
    VirtualMemory vm = VirtualMemory.boot(params, dir, reset);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      Task task = vm.createTask("gup_test");
      out.println("TAP version 13");
      out.println("1.." + nthreads);

      int mapFlags = (shared ? Mman.MAP_SHARED : Mman.MAP_PRIVATE) | Mman.MAP_ANONYMOUS;
      long addr = task.mmap(0, size, Mman.PROT_READ | Mman.PROT_WRITE, mapFlags, null, 0);
      if (thp == 1) {
        task.madvise(addr, size, Mman.MADV_HUGEPAGE);
      } else if (thp == 0) {
        task.madvise(addr, size, Mman.MADV_NOHUGEPAGE);
      }
      faultIn(vm, task, addr, size, prog);

      Gup gup = vm.gup();
      long nrPages = size / PAGE_SIZE;
      int runs = cmd.benchmark() ? repeats : 1;
      prog.start(cmd + " ", 2L * nthreads * runs * nrPages);
      List<List<Result>> perThread = new ArrayList<>();
      List<Thread> threads = new ArrayList<>();
      Throwable[] failure = new Throwable[1];
      int[] testNo = {0};
      int[] passed = {0};
      for (int ti = 0; ti < nthreads; ti++) {
        final int slot = ti;
        List<Result> results = new ArrayList<>();
        perThread.add(results);
        final int flags = gupFlags;
        Runnable body =
            () ->
                gupThread(
                    out,
                    mem,
                    gup,
                    task,
                    addr,
                    size,
                    flags,
                    whichPages,
                    runs,
                    results,
                    prog,
                    slot,
                    testNo,
                    passed);
        if (nthreads == 1) {
          body.run();
          continue;
        }
        Thread th = new Thread(body, "gup_test-" + ti);
        th.setUncaughtExceptionHandler(
            (t, e) -> {
              synchronized (failure) {
                if (failure[0] == null) {
                  failure[0] = e;
                }
              }
            });
        threads.add(th);
        th.start();
      }
      for (Thread th : threads) {
        th.join();
      }
      prog.stop();
      if (failure[0] instanceof RuntimeException re) {
        throw re;
      } else if (failure[0] instanceof Error err) {
        throw err;
      }

      summary(out, perThread, nrPages);
      task.exit();
      boolean ok = checks(out, mem);
      int fail = nthreads - passed[0];
      out.printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:0 error:0%n", passed[0], fail);
      out.flush();
      return ok && fail == 0 ? 0 : 1;
    } finally {
      prog.stop();
      KernelSession.release(dir);
    }
  }

  private void validate() {
    if (z) {
      throw new KernelException(
          Errno.EINVAL,
          "-z: Wrong argument (gup_test.c lists 'z' in its getopt string, handles none)");
    }
    long maxMb = cmdline == null ? (BootParams.MAX_MEM / MB - 256) / 2 : BootParams.MAX_MEM / MB;
    range("-m", "size_in_MB", sizeMb, 1, maxMb);
    range("-n", "nr_pages_per_call", nrPagesPerCall, 1, Integer.MAX_VALUE);
    range("-r", "repeats", repeats, 1, Integer.MAX_VALUE);
    range("-j", "nthreads", nthreads, 1, MAX_THREADS);
    if (hugetlb) {
      throw new KernelException(
          Errno.EOPNOTSUPP,
          "-H: MAP_HUGETLB needs hugetlbfs, which refkern does not model; -t maps THP");
    }
    if (!"/dev/zero".equals(file)) {
      throw new KernelException(
          Errno.EOPNOTSUPP, "-f " + file + ": only /dev/zero can be mapped (refkern has no files)");
    }
    if (sizeMb * MB / PAGE_SIZE > Integer.MAX_VALUE - 8) {
      throw new KernelException(
          Errno.EINVAL, "-m " + sizeMb + ": too many pages for one pages[] array");
    }
  }

  private static void range(String opt, String what, long v, long min, long max) {
    if (v < min || v > max) {
      throw new KernelException(
          Errno.EINVAL, opt + " " + v + ": " + what + " must be between " + min + " and " + max);
    }
  }

  /**
   * ENOMEM before anything is allocated: the mapping must fit the machine's RAM, and the pages[]
   * arrays (8 bytes per page per thread, as the kernel's gup_test kvcalloc()s) the Java heap.
   */
  static void checkFits(BootParams params, long size, int nthreads, int perCall) {
    if (size > params.memBytes()) {
      throw new KernelException(
          Errno.ENOMEM,
          "-m "
              + size / MB
              + ": the mapping needs "
              + size / MB
              + " MiB, the machine has mem="
              + params.memBytes() / MB
              + "M");
    }
    long nrPages = size / PAGE_SIZE;
    long heap = 8L * nthreads * (nrPages + Math.min(perCall, nrPages));
    Runtime rt = Runtime.getRuntime();
    long avail = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
    if (heap > avail) {
      throw new KernelException(
          Errno.ENOMEM,
          "-m "
              + size / MB
              + " -j "
              + nthreads
              + ": the pages[] arrays need "
              + heap / MB
              + " MiB of Java heap, "
              + avail / MB
              + " MiB are free (raise -Xmx or lower -m/-j)");
    }
  }

  /** {@code strtol(optarg, 0, 0)}. */
  private int parseFlags() {
    if (gupFlagsArg == null) {
      return 0;
    }
    try {
      return (int) (long) Long.decode(gupFlagsArg);
    } catch (NumberFormatException e) {
      throw new KernelException(Errno.EINVAL, "-F " + gupFlagsArg + ": not a number");
    }
  }

  /** {@code gup.which_pages[]}: 1-based, 0 meaning none; arguments override {@code -c}'s page 0. */
  private long[] whichPages() {
    long[] which = new long[MAX_PAGES_TO_DUMP];
    if (dumpFirstPage) {
      which[0] = 1;
    }
    for (int i = 0; i < pageIndices.size() && i < MAX_PAGES_TO_DUMP; i++) {
      try {
        which[i] = Long.decode(pageIndices.get(i)) + 1;
      } catch (NumberFormatException e) {
        throw new KernelException(
            Errno.EINVAL, "page index '" + pageIndices.get(i) + "': not a number");
      }
    }
    return which;
  }

  /**
   * Faults the range in for writing before the test, as {@code gup_test.c}'s {@code p[0] = 0} loop
   * does. It goes through {@code get_user_pages()} with no pages array ({@code
   * MADV_POPULATE_WRITE}'s path): the same write faults and page tables, but without storing a byte
   * into every page, which would materialize 4 KiB of simulated RAM contents per page (8 GiB
   * off-heap for {@code -m 8192}).
   */
  private static void faultIn(VirtualMemory vm, Task task, long addr, long size, Progress prog) {
    long nrPages = size / PAGE_SIZE;
    prog.start("fault-in ", nrPages);
    final long chunk = 4096;
    for (long done = 0; done < nrPages; ) {
      long n = Math.min(chunk, nrPages - done);
      long got = vm.gup().getUserPages(task, addr + done * PAGE_SIZE, n, Foll.FOLL_WRITE, null);
      if (got <= 0) {
        throw new KernelException(Errno.EFAULT, "fault-in stopped at page " + done);
      }
      done += got;
      prog.add(0, got);
    }
    prog.stop();
  }

  /** {@code gup_thread()}: the repeats of one thread, then its TAP result line. */
  private void gupThread(
      PrintStream out,
      PhysicalMemory mem,
      Gup gup,
      Task task,
      long addr,
      long size,
      int gupFlags,
      long[] whichPages,
      int runs,
      List<Result> results,
      Progress prog,
      int slot,
      int[] testNo,
      int[] passed) {
    long[] pages = new long[(int) (size / PAGE_SIZE)];
    // a call never takes more than the mapping holds, as in the kernel's loop
    long[] batch = new long[(int) Math.min(nrPagesPerCall, size / PAGE_SIZE)];
    int status = 0;
    for (int r = 0; r < runs; r++) {
      Result res =
          ioctl(out, mem, gup, task, addr, size, gupFlags, whichPages, pages, batch, prog, slot);
      status = res.status();
      if (status != 0) {
        break;
      }
      results.add(res);
      synchronized (out) {
        prog.clearLine();
        if (cmd.benchmark()) {
          out.printf(
              "# %s: Time: get:%d put:%d us%s%n",
              cmd,
              res.getNs() / 1000,
              res.putNs() / 1000,
              res.size() != size ? ", truncated (size: " + res.size() + ")" : "");
        } else {
          out.printf("# %s: done%n", cmd);
          if (res.size() != size) {
            out.printf("# Truncated (size: %d)%n", res.size());
          }
        }
      }
    }
    synchronized (out) {
      prog.clearLine();
      int no = ++testNo[0];
      if (status == 0) {
        passed[0]++;
      }
      out.printf("%sok %d ioctl status %d%n", status == 0 ? "" : "not ", no, status);
    }
  }

  /** {@code __gup_test_ioctl()}. */
  private Result ioctl(
      PrintStream out,
      PhysicalMemory mem,
      Gup gup,
      Task task,
      long addr,
      long size,
      int gupFlags,
      long[] whichPages,
      long[] pages,
      long[] batch,
      Progress prog,
      int slot) {
    long end = addr + size;
    if (end < addr) {
      return new Result(-Errno.EINVAL.number(), size, 0, 0, 0);
    }
    long i = 0;
    long nr = nrPagesPerCall;
    long a;
    long next;
    KernelException error = null;
    long start = System.nanoTime();
    for (a = addr; a < end; a = next) {
      if (nr != nrPagesPerCall) {
        break;
      }
      next = a + nr * PAGE_SIZE;
      if (next > end) {
        next = end;
        nr = (next - a) / PAGE_SIZE;
      }
      try {
        nr = call(gup, task, a, nr, gupFlags, batch);
      } catch (KernelException e) {
        error = e;
        nr = -e.errno().number();
      }
      if (nr <= 0) {
        break;
      }
      System.arraycopy(batch, 0, pages, (int) i, (int) nr);
      i += nr;
      prog.add(slot, nr);
    }
    long getNs = System.nanoTime() - start;
    long nrPages = i;
    long gotSize = a - addr;
    if (error != null) {
      System.err.printf("gup_test: %s at 0x%x: %s%n", callName(), a, error.getMessage());
    }

    verifyDmaPinned(mem, pages, nrPages);
    if (cmd == Cmd.DUMP_USER_PAGES_TEST) {
      dumpPagesTest(out, mem, addr, whichPages, pages, nrPages);
    }

    start = System.nanoTime();
    putBackPages(gup, pages, nrPages);
    long putNs = System.nanoTime() - start;
    prog.add(slot, 2 * (size / PAGE_SIZE) - nrPages); // the put, and whatever the get left out
    return new Result(0, gotSize, nrPages, getNs, putNs);
  }

  private long call(Gup gup, Task task, long a, long nr, int gupFlags, long[] batch) {
    return switch (cmd) {
      case GUP_FAST_BENCHMARK -> gup.getUserPagesFast(task, a, nr, gupFlags, batch);
      case GUP_BASIC_TEST -> gup.getUserPages(task, a, nr, gupFlags, batch);
      case PIN_FAST_BENCHMARK -> gup.pinUserPagesFast(task, a, nr, gupFlags, batch);
      case PIN_BASIC_TEST -> gup.pinUserPages(task, a, nr, gupFlags, batch);
      case PIN_LONGTERM_BENCHMARK ->
          gup.pinUserPages(task, a, nr, gupFlags | Foll.FOLL_LONGTERM, batch);
      case DUMP_USER_PAGES_TEST ->
          dumpUsePin
              ? gup.pinUserPages(task, a, nr, gupFlags, batch)
              : gup.getUserPages(task, a, nr, gupFlags, batch);
    };
  }

  private String callName() {
    return switch (cmd) {
      case GUP_FAST_BENCHMARK -> "get_user_pages_fast()";
      case GUP_BASIC_TEST -> "get_user_pages()";
      case PIN_FAST_BENCHMARK -> "pin_user_pages_fast()";
      case PIN_BASIC_TEST -> "pin_user_pages()";
      case PIN_LONGTERM_BENCHMARK -> "pin_user_pages(FOLL_LONGTERM)";
      case DUMP_USER_PAGES_TEST -> dumpUsePin ? "pin_user_pages()" : "get_user_pages()";
    };
  }

  private boolean pins() {
    return cmd == Cmd.PIN_FAST_BENCHMARK
        || cmd == Cmd.PIN_BASIC_TEST
        || cmd == Cmd.PIN_LONGTERM_BENCHMARK
        || (cmd == Cmd.DUMP_USER_PAGES_TEST && dumpUsePin);
  }

  /** {@code put_back_pages()}. */
  private void putBackPages(Gup gup, long[] pages, long nrPages) {
    if (pins()) {
      gup.unpinUserPages(pages, (int) nrPages);
    } else {
      for (int i = 0; i < nrPages; i++) {
        gup.putPage(pages[i]);
      }
    }
  }

  /** {@code verify_dma_pinned()}: an untimed check that every pin shows; a WARN otherwise. */
  private void verifyDmaPinned(PhysicalMemory mem, long[] pages, long nrPages) {
    if (cmd != Cmd.PIN_FAST_BENCHMARK
        && cmd != Cmd.PIN_BASIC_TEST
        && cmd != Cmd.PIN_LONGTERM_BENCHMARK) {
      return;
    }
    Memmap m = mem.memmap();
    for (int i = 0; i < nrPages; i++) {
      long head = m.compoundHead(pages[i]);
      boolean pinned =
          m.folioOrder(head) > 0
              ? m.pincount(head) > 0
              : m.refcount(head) >= Foll.GUP_PIN_COUNTING_BIAS;
      String warn = null;
      if (!pinned) {
        warn = "pages[" + i + "] is NOT dma-pinned";
      } else if (cmd == Cmd.PIN_LONGTERM_BENCHMARK
          && !m.testFlag(head, PageFlags.PG_ZERO_PAGE)
          && (m.zone(head) == ZoneType.MOVABLE || m.zone(head) == ZoneType.DEVICE)) {
        warn = "pages[" + i + "] is NOT pinnable but pinned";
      }
      if (warn != null) {
        System.err.println("WARNING: gup_test: " + warn);
        for (String l : dumpPage(m, pages[i], "gup_test failure")) {
          System.err.println(l);
        }
        return;
      }
    }
  }

  /** {@code dump_pages_test()}: the kernel logs these; here they go to stdout as TAP comments. */
  private static void dumpPagesTest(
      PrintStream out, PhysicalMemory mem, long addr, long[] which, long[] pages, long nrPages) {
    for (int i = 0; i < which.length; i++) {
      if (which[i] > nrPages || which[i] < 0) {
        System.err.printf(
            "gup_test: ZEROING due to out of range: .which_pages[%d]: %d%n", i, which[i]);
        which[i] = 0;
      }
    }
    synchronized (out) {
      for (long w : which) {
        if (w != 0) {
          int index = (int) (w - 1);
          out.printf("# ---- page #%d, starting from user virt addr: 0x%x%n", index, addr);
          for (String l : dumpPage(mem.memmap(), pages[index], "gup_test: dump_pages() test")) {
            out.println("# " + l);
          }
        }
      }
    }
  }

  /** {@code dump_page()}: refcount, mapcount, mapping, index, pfn; a large folio's head; flags. */
  static List<String> dumpPage(Memmap m, long pfn, String reason) {
    List<String> lines = new ArrayList<>();
    if (pfn == PageAllocator.NO_PFN || !m.pfnValid(pfn)) {
      lines.add("page: NULL (pfn " + pfn + ")");
      lines.add("page dumped because: " + reason);
      return lines;
    }
    long head = m.compoundHead(pfn);
    int order = m.folioOrder(head);
    int mapcount = m.mapcount(pfn) + (order > 0 ? m.entireMapcount(head) : 0);
    lines.add(
        String.format(
            Locale.ROOT,
            "page: refcount:%d mapcount:%d mapping:%#x index:%#x pfn:%#x",
            m.refcount(head),
            mapcount,
            m.mapping(head),
            m.index(head) + (pfn - head),
            pfn));
    if (order > 0) {
      int mapped = 0;
      for (long p = head; p < head + (1L << order); p++) {
        mapped += m.mapcount(p) > 0 ? 1 : 0;
      }
      lines.add(
          String.format(
              Locale.ROOT,
              "head: order:%d mapcount:%d entire_mapcount:%d nr_pages_mapped:%d pincount:%d",
              order,
              mapcount,
              m.entireMapcount(head),
              mapped,
              m.pincount(head)));
    }
    long flags = m.flags(head) | (m.flags(pfn) & PageFlags.bit(PageFlags.PG_ANON_EXCLUSIVE));
    lines.add(
        String.format(
            Locale.ROOT,
            "%sflags: %#x(%s)",
            m.testFlag(head, PageFlags.PG_ANON) ? "anon " : "",
            flags,
            PageFlags.longSymbolic(flags).replace(',', '|')));
    lines.add("page dumped because: " + reason);
    return lines;
  }

  /** refkern's addition: the average cost per page of the get and the put, over every repeat. */
  private void summary(PrintStream out, List<List<Result>> perThread, long nrPages) {
    long pages = 0;
    long getNs = 0;
    long putNs = 0;
    int n = 0;
    for (List<Result> rs : perThread) {
      for (Result r : rs) {
        pages += r.pages();
        getNs += r.getNs();
        putNs += r.putNs();
        n++;
      }
    }
    out.printf(
        Locale.ROOT,
        "# %s: summary: %d run(s) x %d pages, %d per call%s: get %s ns/page, put %s ns/page%n",
        cmd,
        n,
        nrPages,
        nrPagesPerCall,
        nthreads > 1 ? ", " + nthreads + " threads" : "",
        pages == 0 ? "-" : String.format(Locale.ROOT, "%.1f", getNs / (double) pages),
        pages == 0 ? "-" : String.format(Locale.ROOT, "%.1f", putNs / (double) pages));
  }

  /** refkern's addition: the full CONFIG_DEBUG_VM check after exit, pin balance included. */
  private static boolean checks(PrintStream out, PhysicalMemory mem) {
    long acquired = mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
    long released = mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED);
    out.printf(
        "# pins balanced: %s (nr_foll_pin_acquired %d, nr_foll_pin_released %d)%n",
        acquired == released ? "yes" : "NO", acquired, released);
    List<String> violations = FinalCheck.violations(mem);
    FinalCheck.print(out, "# ", violations);
    out.flush();
    return FinalCheck.exitStatus(System.err, violations) == 0;
  }

  /**
   * A progress bar on stderr ({@link ConsoleProgress}), shown only once a phase has run for a
   * second. Each worker thread publishes its own count with a plain ordered store ({@code lazySet},
   * no atomic read-modify-write in the timed loops), and only when progress is on; a daemon thread
   * sums the counts onto the bar a few times a second.
   */
  static final class Progress {
    private final boolean on;
    private final AtomicLong[] slots;
    private volatile long total;
    private volatile String phase = "";
    private volatile long since;
    private ConsoleProgress bar = ConsoleProgress.OFF;
    private Thread ticker;

    Progress(boolean on, int threads) {
      this.on = on;
      this.slots = new AtomicLong[threads];
      for (int i = 0; i < threads; i++) {
        slots[i] = new AtomicLong();
      }
    }

    synchronized void start(String phase, long total) {
      if (!on) {
        return;
      }
      closeBar();
      this.phase = phase.strip();
      this.total = Math.max(1, total);
      this.since = System.nanoTime();
      for (AtomicLong s : slots) {
        s.set(0);
      }
      if (ticker == null) {
        ticker = new Thread(this::tick, "gup_test-progress");
        ticker.setDaemon(true);
        ticker.start();
      }
    }

    /** Adds {@code n} to thread {@code slot}'s count; only that thread writes it. */
    void add(int slot, long n) {
      if (on) {
        AtomicLong s = slots[slot];
        s.lazySet(s.get() + n);
      }
    }

    private void tick() {
      try {
        while (!Thread.currentThread().isInterrupted()) {
          Thread.sleep(250);
          if (System.nanoTime() - since > 1_000_000_000L) {
            long done = 0;
            for (AtomicLong s : slots) {
              done += s.get();
            }
            synchronized (this) {
              if (!bar.on()) {
                bar = ConsoleProgress.open(true, "gup-test: " + phase, total);
              }
              bar.stepTo(Math.min(done, total));
            }
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    private void closeBar() {
      bar.close();
      bar = ConsoleProgress.OFF;
    }

    /** Erases the bar's line before a line goes to stdout (they may share a terminal). */
    void clearLine() {
      if (on) {
        synchronized (this) {
          if (bar.on()) {
            System.err.print("\r\033[K");
            System.err.flush();
          }
        }
      }
    }

    void stop() {
      Thread t;
      synchronized (this) {
        t = ticker;
        ticker = null;
      }
      if (t != null) {
        t.interrupt();
        try {
          t.join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      synchronized (this) {
        closeBar();
      }
    }
  }
}
