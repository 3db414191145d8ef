package dev.refkern.examples.bench;

import static dev.refkern.mm.vm.Mman.MAP_SHARED;
import static dev.refkern.mm.vm.Mman.PROT_READ;
import static dev.refkern.mm.vm.Mman.PROT_WRITE;

import dev.refkern.examples.FileTrees;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.spi.AddressSpaceOperations;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.WbSyncMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH benchmark of {@code write_cache_pages()} ({@code mm/page-writeback.c}) per 4 KiB page, with
 * no device cost: the mapping's {@code ->writepage} (and {@code ->writeFolioFrom}) writes nothing
 * and succeeds, so what is timed is the page cache's own walk: find the dirty tag, lock, {@code
 * folio_clear_dirty_for_io()}, start and end writeback, unlock. {@value #PAGES} pages are dirtied
 * before each invocation (not timed).
 *
 * <p>{@code mode}: {@code plain}, unmapped and unpinned folios (the goal: ≤ 1 µs per page); {@code
 * ignore} and {@code bounce}, the folios mapped shared by a task and pinned ({@code
 * pin_user_pages(FOLL_WRITE)}), written under {@code writeback.pinned=ignore} (in place, as
 * mainline) and {@code writeback.pinned=bounce} (a copy per folio, which stays dirty): their
 * difference is what bouncing costs per pinned page.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class WritebackBenchmark {
  static final int PAGES = 4096;

  /** {@code ->writepage} of a null device: nothing is written, nothing fails. */
  static final class NullAops implements AddressSpaceOperations {
    @Override
    public int readFolio(AddressSpace mapping, long pfn) {
      mapping.folios().folioMarkUptodate(pfn);
      mapping.folios().folioUnlock(pfn);
      return 0;
    }

    @Override
    public int writeFolio(AddressSpace mapping, long pfn) {
      return 0;
    }

    @Override
    public int writeFolioFrom(AddressSpace mapping, long pfn, long dataPfn) {
      return 0;
    }
  }

  /** A file of {@value #PAGES} cached pages on a null device, and for pinned modes a task. */
  @State(Scope.Thread)
  public static class Cache {
    @Param({"plain", "ignore", "bounce"})
    public String mode;

    Path dir;
    VirtualMemory vm;
    PhysicalMemory mem;
    FolioOps folios;
    AddressSpace file;
    Task task;
    final long[] pfns = new long[PAGES];
    boolean pinned;

    @Setup(Level.Trial)
    public void boot() throws IOException {
      dir = Files.createTempDirectory("refkern-jmh-wb");
      String policy = mode.equals("plain") ? "ignore" : mode;
      vm =
          VirtualMemory.boot(
              BootParams.parse("mem=256M zone_device=0 writeback.pinned=" + policy),
              dir.resolve("k"),
              true);
      mem = vm.physicalMemory();
      folios = new FolioOps(mem);
      file = AddressSpace.create(mem, new NullAops());
      file.setSize((long) PAGES * Page.PAGE_SIZE);
      pinned = !mode.equals("plain");
      if (pinned) {
        task = vm.createTask("wb_bench");
        long len = (long) PAGES * Page.PAGE_SIZE;
        long addr = task.mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
        for (long off = 0; off < len; off += Page.PAGE_SIZE) {
          task.storeLong(addr + off, off); // faults each page into the cache, dirty
        }
        long n = vm.gup().pinUserPages(task, addr, PAGES, Foll.FOLL_WRITE, pfns);
        if (n != PAGES) {
          throw new IllegalStateException("pinned " + n + " of " + PAGES);
        }
      } else {
        for (int i = 0; i < PAGES; i++) {
          long pfn = vm.filemap().filemapGrabFolio(file, i);
          folios.folioMarkUptodate(pfn);
          folios.folioUnlock(pfn);
          pfns[i] = pfn; // our reference keeps it: put at teardown
        }
      }
    }

    /** Dirties every page, as a write or a DMA completion would ({@code folio_mark_dirty}). */
    @Setup(Level.Invocation)
    public void dirty() {
      for (long pfn : pfns) {
        folios.folioMarkDirtyLock(pfn);
      }
    }

    @TearDown(Level.Trial)
    public void shutdown() throws IOException {
      try {
        if (pinned) {
          vm.gup().unpinUserPages(pfns, PAGES);
          task.exit();
        } else {
          for (long pfn : pfns) {
            mem.allocator().putPage(pfn);
          }
        }
        vm.pageWriteback().writeCachePages(file, 0, PAGES, WbSyncMode.ALL);
        vm.truncate().truncateInodePages(file, 0);
        vm.lru().lruAddDrainAll();
        List<String> problems = mem.debugVm().checkNoPinsHeld();
        if (!problems.isEmpty()) {
          throw new IllegalStateException("debug_vm: " + problems);
        }
      } finally {
        mem.close();
        FileTrees.deleteTree(dir);
      }
    }
  }

  /** {@code write_cache_pages(WB_SYNC_NONE)} over {@value #PAGES} dirty pages, per page. */
  @Benchmark
  @OperationsPerInvocation(PAGES)
  public int writeCachePages(Cache c) {
    int err = c.vm.pageWriteback().writeCachePages(c.file, 0, PAGES - 1, WbSyncMode.NONE);
    if (err != 0) {
      throw new IllegalStateException("writeback failed: " + err);
    }
    return err;
  }
}
