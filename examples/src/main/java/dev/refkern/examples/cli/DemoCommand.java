package dev.refkern.examples.cli;

import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.GupDemo;
import dev.refkern.examples.HmmDemo;
import dev.refkern.examples.KernelComponent;
import dev.refkern.examples.NotifierDemo;
import dev.refkern.examples.PageTypes;
import dev.refkern.examples.ProcFiles;
import dev.refkern.examples.fs.NoBuffersScenario;
import dev.refkern.examples.fs.PinnedFileScenario;
import dev.refkern.mm.BootConfig;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelBugException;
import dev.refkern.mm.MemmapInspection;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.vm.PinnedWritebackPolicy;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code refkern demo}: a tour of everything refkern models so far. */
@Command(
    mixinStandardHelpOptions = true,
    version = Main.VERSION,
    name = "demo",
    description =
        "Run the demo: boot, allocate, device memory, notifiers, a BUG and its post-mortem, HMM.")
final class DemoCommand implements Callable<Integer> {
  @Option(
      names = "--state",
      defaultValue = "refkern-state/demo",
      description = "State directory root (default: ${DEFAULT-VALUE}).")
  Path state;

  @Option(
      names = "--cmdline",
      defaultValue = "mem=4G movablecore=1G zone_device=256M",
      description = "Kernel command line (default: ${DEFAULT-VALUE}).")
  String cmdline;

  @Option(
      names = "--seed",
      defaultValue = "42",
      description = "Seed of the deterministic scheduler (default: ${DEFAULT-VALUE}).")
  long seed;

  private final PrintStream out = System.out;

  /** Every violation a section's final check found, tagged with the section. */
  private final List<String> violations = new ArrayList<>();

  private String current;

  private void section(String title) {
    out.println();
    out.println("=== " + title + " ===");
    current = title.substring(0, title.indexOf('.'));
  }

  /** Ends a section with the full CONFIG_DEBUG_VM check (invariants and pin balance) of mem. */
  private void check(PhysicalMemory mem) {
    List<String> v = FinalCheck.violations(mem);
    FinalCheck.print(out, "", v);
    v.forEach(p -> violations.add("section " + current + ": " + p));
  }

  @Override
  public Integer call() {
    section("1. boot: " + cmdline);
    Path dir = state.resolve("kernel");
    KernelComponent k = KernelComponent.boot(new BootConfig(BootParams.parse(cmdline), dir, true));
    try (PhysicalMemory mem = k.physicalMemory()) {
      out.printf(
          "memmap: %s, %d frames, %.1f bytes/frame%n",
          dir, mem.memmap().nrPfns(), mem.memmapBytesPerFrame());
      out.print(ProcFiles.meminfo(mem));
      out.print(ProcFiles.buddyinfo(mem));
      check(mem);

      section("2. the buddy allocator and struct page");
      long small = mem.allocator().allocPages(Gfp.KERNEL, 0);
      long user = mem.allocator().allocPages(Gfp.HIGHUSER_MOVABLE, 0);
      long thp = mem.allocator().folioAlloc(Gfp.HIGHUSER_MOVABLE, 9);
      out.printf(
          "order-0 kernel page pfn %d (%s), user page pfn %d (%s), 2 MiB folio head pfn %d%n",
          small, mem.memmap().zone(small), user, mem.memmap().zone(user), thp);
      mem.allocator().getPage(thp + 17);
      out.println("get_page(pfn " + (thp + 17) + "), a tail page, takes a reference on its head:");
      out.print(PageTypes.describe(mem.memmap(), thp));
      out.println("buddyinfo: each allocation split a larger free block (one left per order)");
      out.print(ProcFiles.buddyinfo(mem));
      check(mem);

      section("3. ZONE_DEVICE: a driver's dev_pagemap");
      DevPagemap pg =
          new DevPagemap(
              DevPagemap.MemoryType.DEVICE_PRIVATE,
              pfn -> out.println("  driver: page_free(pfn " + pfn + ")"),
              "demo-gpu");
      long dev = mem.memremapPages(pg, 1024);
      mem.zoneDevicePageInit(dev);
      out.printf(
          "memremap_pages: 1024 device-private pages at pfn %d; the driver hands out pfn %d, and"
              + " its last put_page() calls the driver back:%n",
          dev, dev);
      mem.allocator().putPage(dev);
      check(mem);

      section("4. mmu notifiers: a driver mirroring a page, deterministic scheduler seed " + seed);
      int retries = NotifierDemo.run(seed, out);
      out.println(
          "the driver retried "
              + retries
              + " times; the same --seed replays the same interleaving");
      check(mem);

      section("5. get_user_pages: a pinned DMA buffer across fork");
      GupDemo.run(k.virtualMemory(), out);
      check(mem);

      section("6. live inspection of the running kernel's memmap (refkern inspect)");
      try (MemmapInspection in = MemmapInspection.open(dir)) {
        out.println("state seen by the inspector: " + in.state());
        out.print(PageTypes.table(PageTypes.count(in.memmap(), in.memmap().nrPfns())));
      }
      check(mem);

      section("7. CONFIG_DEBUG_VM: free everything, check every invariant and the pin balance");
      mem.allocator().putPage(thp);
      mem.allocator().putPage(thp);
      mem.allocator().putPage(small);
      mem.allocator().putPage(user);
      out.print(ProcFiles.vmstat(mem));
      check(mem);
    }

    section("8. gup_test: pin_user_pages(FOLL_LONGTERM), 256 MiB in batches of 512");
    int rc = Main.execute("gup-test", "-L", "-m", "256", "-n", "512", "-r", "2", "--no-progress");
    if (rc != 0) {
      out.println("gup-test failed with status " + rc);
      return rc;
    }
    out.println(
        "(a short run in a JVM still compiling the GUP paths, so its ns/page is well above the"
            + " README's;\n ./refkern gup-test -L -m 8192 -n 512 -r 3 --cmdline mem=10G measures them)");

    section("8b. the pin-tracking designs of the seeds, on one workload");
    rc = Main.execute("compare", "pin-tracking", "--pages", "1024");
    if (rc != 0) {
      out.println("compare failed with status " + rc);
      return rc;
    }

    section("8c. O_DIRECT to a file disk while a device DMAs, and the bio pin-tracking designs");
    rc = Main.execute("run", "dio", "--mb", "8", "--design-pages", "128");
    if (rc != 0) {
      out.println("run dio failed with status " + rc);
      return rc;
    }

    section("9. a BUG and its post-mortem");
    Path crash = state.resolve("crashed-kernel");
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=256M"), crash, true)) {
      long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
      mem.allocator().putPage(pfn);
      out.println("put_page(pfn " + pfn + ") on a page already freed (a double free):");
      try {
        mem.allocator().putPage(pfn);
      } catch (KernelBugException e) {
        out.println("the kernel stopped: " + e.getMessage());
      }
      out.println("the BUG fired before the second free: the memmap stays consistent");
      check(mem);
    }
    try (MemmapInspection in = MemmapInspection.open(crash)) {
      out.println("post-mortem: kernel " + in.state() + ", " + in.property("status_detail"));
      out.print(PageTypes.table(PageTypes.count(in.memmap(), in.memmap().nrPfns())));
    }

    section("10. a long-term-pinned file page under each writeback policy");
    pinnedFilePage(state.resolve("pinned-file"));

    section("11. seed 001's O2: a device dirties an ext4 folio without buffers");
    out.println(
        "pin_user_pages(FOLL_WRITE) of a MAP_SHARED ext4 file page; fsync cleans it, reclaim frees"
            + " its buffers;\nthe device DMAs and unpins dirty (set_page_dirty, no page_mkwrite);"
            + " then writeback:");
    NoBuffersScenario o2 = new NoBuffersScenario(state.resolve("o2"));
    List<String> o2Violations = new ArrayList<>();
    for (String mode : List.of("bug", "warn")) {
      NoBuffersScenario.Outcome r = o2.run(mode);
      String tag = mode.equals("bug") ? " (before 5.18)" : " (mainline)";
      out.printf("  %-27s %s%n", "nobuffers=" + mode + tag + ":", r.summary());
      r.violations().forEach(v -> o2Violations.add(mode + ": " + v));
    }
    FinalCheck.print(out, "", o2Violations); // the surviving (mainline) kernel's final check
    o2Violations.forEach(p -> violations.add("section " + current + ": " + p));

    section("12. HMM: a GPU's device-private memory and an ODP mirror, nothing pinned");
    Path hmm = state.resolve("hmm");
    KernelComponent hk =
        KernelComponent.boot(
            new BootConfig(BootParams.parse("mem=256M zone_device=16M"), hmm, true));
    try (PhysicalMemory mem = hk.physicalMemory()) {
      out.println("a kernel of its own: mem=256M zone_device=16M, state " + hmm);
      HmmDemo.run(hk.virtualMemory(), out);
      check(mem);
    }

    section("13. the report: every design of the seeds, measured, on one page");
    rc = Main.execute("report", "--seeds", "1", "--out", state.resolve("report").toString());
    if (rc != 0) {
      out.println("report failed with status " + rc);
      return rc;
    }
    out.println("open it in a browser; ./refkern report --seeds 1..5 measures more seeds");

    out.println();
    out.println(
        "inspect the state directories again with: ./refkern inspect --state "
            + dir
            + " (shut down), or --state "
            + crash
            + " (crashed)");
    if (!violations.isEmpty()) {
      out.println("the demo found " + violations.size() + " violation(s); exit status 1");
      out.flush();
      return FinalCheck.exitStatus(System.err, violations);
    }
    out.println("every section ended consistent: invariants hold, pins balance");
    return 0;
  }

  /** Section 10: one {@link PinnedFileScenario} run per registered writeback.pinned= policy. */
  private void pinnedFilePage(Path dir) {
    out.println(
        "an RDMA NIC pins page 0 of a MAP_SHARED flatfs file (FOLL_WRITE|FOLL_LONGTERM,"
            + " gup.longterm_file=allow) on a FileDisk with integrity (BLK_FEAT_STABLE_WRITES);");
    out.println(
        "it DMAs #1, one of its writes lands while the page's first write is in flight, a"
            + " background pass, DMA #2, fsync, power cut, then a fresh kernel reads the file:");
    PinnedFileScenario scenario = new PinnedFileScenario(dir);
    PolicyRegistry reg = PolicyRegistry.global();
    List<String> all = new ArrayList<>();
    for (String fs : List.of("flatfs", "ext4", "xfs")) {
      if (fs.equals("ext4")) {
        out.println(
            "the same on ext4 (buffer heads, journal; pinned_writeback= overrides its default,"
                + " wait):");
      } else if (fs.equals("xfs")) {
        out.println(
            "the same on xfs (iomap, delayed allocation, log; pinned_writeback= overrides its"
                + " default, bounce):");
      }
      for (String name : reg.names(PinnedWritebackPolicy.PARAM)) {
        PinnedFileScenario.Outcome r =
            scenario.run(
                PinnedFileScenario.Options.writeback(seed, name).racing().withPowerCut().on(fs));
        String tag = reg.spec(PinnedWritebackPolicy.PARAM, name).mainline() ? " (mainline)" : "";
        out.printf("  %-18s %s%n", name + tag + ":", r.summary());
        r.pinsLeaked().forEach(v -> all.add(fs + ", " + name + ": " + v));
        if (!r.fsck().isEmpty()) {
          all.add(fs + ", " + name + ": fsck: " + r.fsck());
        }
      }
    }
    FinalCheck.print(out, "", all);
    all.forEach(p -> violations.add("section " + current + ": " + p));
  }
}
