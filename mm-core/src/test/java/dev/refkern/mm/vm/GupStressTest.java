package dev.refkern.mm.vm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * Pin, unpin, fault, munmap, madvise and fork racing on real threads, seeded so the operation
 * sequence of each thread replays ({@code -Drefkern.seed=N}). Afterwards every pin is released,
 * every task exits, and the invariant checker must find nothing: no leaked pin, no negative count,
 * every page back in the allocator.
 */
class GupStressTest extends VmTestBase {
  private static final int THREADS = 3;
  private static final int OPS = 3000;
  private static final int PAGES = 64;

  @Test
  void pinUnpinFaultMunmapForkConcurrently() throws Exception {
    long seed = Long.getLong("refkern.seed", System.nanoTime());
    String tag = "seed=" + seed + " (rerun with -Drefkern.seed=" + seed + ")";
    boot("mem=256M");
    long freeAtStart = mem.allocator().nrFreePages();
    vm.swapon(new dev.refkern.mm.RamSwapDevice(4096));
    Task task = vm.createTask("victim");
    long base = task.mmapAnon(PAGES * 4096L);
    ConcurrentLinkedQueue<long[]> pinned = new ConcurrentLinkedQueue<>();
    List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
    AtomicBoolean stop = new AtomicBoolean();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      SplittableRandom rnd = new SplittableRandom(seed + t);
      Thread th =
          new Thread(
              () -> {
                try {
                  for (int i = 0; i < OPS && !stop.get(); i++) {
                    step(rnd, task, base, pinned);
                  }
                } catch (Throwable e) {
                  errors.add(e);
                  stop.set(true);
                }
              },
              "stress-" + t);
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) {
      th.join(TimeUnit.SECONDS.toMillis(60));
      assertFalse(th.isAlive(), tag + ": thread hung");
    }
    assertTrue(errors.isEmpty(), tag + ": " + errors);
    for (long[] p : pinned) {
      gup.unpinUserPages(p, p.length);
    }
    task.exit();
    settle();
    assertTrue(
        mem.debugVm().checkNoPinsHeld().isEmpty(), tag + ": " + mem.debugVm().checkNoPinsHeld());
    assertEquals(0, mem.health().badPageCount(), tag + ": " + mem.health().warnings());
    assertEquals(freeAtStart, mem.allocator().nrFreePages(), tag + ": pages leaked " + leaked());
  }

  private String leaked() {
    StringBuilder sb = new StringBuilder();
    for (long pfn = 0; pfn < mem.ramPfns() && sb.length() < 2000; pfn++) {
      if (mem.memmap().refcount(pfn) > 0 && pfn != vm.zeroPfn()) {
        sb.append(dev.refkern.mm.PageFlags.longSymbolic(mem.memmap().flags(pfn)))
            .append(" ref=")
            .append(mem.memmap().refcount(pfn))
            .append(" map=")
            .append(mem.memmap().mapcount(pfn))
            .append("; ");
      }
    }
    return sb.toString();
  }

  private void step(
      SplittableRandom rnd, Task task, long base, ConcurrentLinkedQueue<long[]> pinned) {
    long addr = base + rnd.nextInt(PAGES) * 4096L;
    int n = 1 + rnd.nextInt(8);
    try {
      switch (rnd.nextInt(10)) {
        case 0, 1 -> task.storeLong(addr, rnd.nextLong());
        case 2, 3 -> {
          long[] pages = new long[n];
          long got =
              rnd.nextBoolean()
                  ? gup.pinUserPagesFast(task, addr, n, Foll.FOLL_WRITE, pages)
                  : gup.pinUserPages(task, addr, n, rnd.nextBoolean() ? Foll.FOLL_WRITE : 0, pages);
          long[] taken = java.util.Arrays.copyOf(pages, (int) got);
          for (long pfn : taken) {
            // checked before publishing: once queued, another thread may unpin it
            assertTrue(
                gup.folioMaybeDmaPinned(pfn) || pfn == vm.zeroPfn(),
                "pinned page not seen as pinned");
          }
          pinned.add(taken);
        }
        case 4 -> {
          long[] p = pinned.poll();
          if (p != null) {
            gup.unpinUserPagesDirtyLock(p, p.length, rnd.nextBoolean());
          }
        }
        case 5 -> task.madvise(addr, n * 4096L, Mman.MADV_DONTNEED);
        case 6 -> {
          Task child = task.fork("child");
          try {
            if (rnd.nextBoolean()) {
              child.storeLong(base, 1); // EFAULT if base was a hole at fork time
            }
          } finally {
            child.exit();
          }
        }
        case 8 -> {
          long pte = task.mm().pte(addr);
          if (Pte.present(pte) && !Pte.special(pte)) {
            int rc = vm.migrateFolio(Pte.pfn(pte), rnd.nextBoolean());
            assertTrue(rc == 0 || rc == -11 || rc == -12, "migrate returned " + rc);
          }
        }
        case 9 -> vm.vmscan().shrinkNode(8);
        default -> {
          // munmap a page and map it back at the same place
          task.munmap(addr, 4096);
          task.mmap(
              addr,
              4096,
              Mman.PROT_READ | Mman.PROT_WRITE,
              Mman.MAP_PRIVATE | Mman.MAP_ANONYMOUS | Mman.MAP_FIXED,
              null,
              0);
        }
      }
    } catch (KernelException e) {
      // EFAULT from a concurrently unmapped page or ENOMEM for a range past the end: expected
      if (e.errno() != dev.refkern.mm.Errno.EFAULT && e.errno() != dev.refkern.mm.Errno.ENOMEM) {
        throw e;
      }
    }
  }

  static {
    assertEquals(-1, PageAllocator.NO_PFN);
  }
}
