package dev.refkern.mm.vm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.sched.SimScheduler;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pin, unpin, fault, madvise, munmap, fork and migration interleaved by the deterministic
 * scheduler: kernel threads switch at the kernel's own {@code cond_resched()} points and at
 * sleeping locks, chosen by the seed, so a failing seed replays the same interleaving bit for bit.
 */
class GupSimStressTest {
  private static final int THREADS = 3;
  private static final int OPS = 120;
  private static final int PAGES = 32;

  @TempDir Path dir;

  private List<String> simulate(long seed) {
    return simulate(seed, "bias");
  }

  private List<String> simulate(long seed, String policy) {
    String tag = SimScheduler.seedTag(seed) + " gup.pin_tracking=" + policy;
    SimScheduler sched = new SimScheduler(seed);
    List<String> trace = new ArrayList<>();
    VirtualMemory vm =
        VirtualMemory.boot(
            BootParams.parse("mem=64M movablecore=16M gup.pin_tracking=" + policy),
            dir.resolve(policy + seed),
            true,
            sched);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      vm.swapon(new dev.refkern.mm.RamSwapDevice(4096));
      Gup gup = vm.gup();
      long freeAtStart = mem.allocator().nrFreePages();
      Task task = vm.createTask("victim");
      long base = task.mmapAnon(PAGES * 4096L);
      ArrayDeque<long[]> pinned = new ArrayDeque<>();
      for (int t = 0; t < THREADS; t++) {
        SplittableRandom rnd = new SplittableRandom(seed * 31 + t);
        int id = t;
        sched.kthreadRun(
            "stress-" + t,
            () -> {
              for (int i = 0; i < OPS; i++) {
                trace.add(id + ":" + step(rnd, vm, gup, task, base, pinned));
                // under every policy a pinned page is never freed, and never migrated or swapped
                // out (either would clear the source's anon mapping); an unmapped one is orphaned
                for (long[] held : pinned) {
                  for (long pfn : held) {
                    assertTrue(
                        mem.memmap().refcount(pfn) > 0
                            && !mem.memmap().testFlag(pfn, dev.refkern.mm.PageFlags.PG_BUDDY),
                        "pinned pfn " + pfn + " was freed");
                    assertTrue(
                        pfn == vm.zeroPfn()
                            || (mem.memmap().testFlag(pfn, dev.refkern.mm.PageFlags.PG_ANON)
                                && mem.memmap().mapping(pfn) != 0),
                        "pinned pfn " + pfn + " was migrated or swapped out under DMA");
                  }
                }
                sched.condResched();
              }
            });
      }
      sched.runUntilIdle();
      for (long[] p : pinned) {
        gup.unpinUserPages(p, p.length);
      }
      task.exit();
      vm.lru().lruAddDrainAll();
      List<String> problems = mem.debugVm().checkNoPinsHeld();
      assertTrue(problems.isEmpty(), tag + ": " + problems);
      if (freeAtStart != mem.allocator().nrFreePages()) {
        StringBuilder sb = new StringBuilder();
        for (long pfn = 0; pfn < mem.ramPfns() && sb.length() < 1500; pfn++) {
          if (mem.memmap().refcount(pfn) > 0 && pfn != vm.zeroPfn()) {
            sb.append(dev.refkern.mm.PageFlags.longSymbolic(mem.memmap().flags(pfn)))
                .append(" ref=")
                .append(mem.memmap().refcount(pfn))
                .append(" map=")
                .append(mem.memmap().mapcount(pfn))
                .append(" mapping=")
                .append(mem.memmap().mapping(pfn))
                .append("; ");
          }
        }
        fail(
            tag
                + ": pages leaked "
                + (freeAtStart - mem.allocator().nrFreePages())
                + ": "
                + sb
                + " warnings "
                + mem.health().warnings());
      }
      assertEquals(0, mem.health().badPageCount(), tag + ": " + mem.health().warnings());
    } catch (RuntimeException | Error e) {
      throw new AssertionError(tag + ": " + e, e);
    } finally {
      sched.shutdown();
    }
    return trace;
  }

  private static String step(
      SplittableRandom rnd,
      VirtualMemory vm,
      Gup gup,
      Task task,
      long base,
      ArrayDeque<long[]> pinned) {
    long addr = base + rnd.nextInt(PAGES) * 4096L;
    int n = 1 + rnd.nextInt(6);
    int op = rnd.nextInt(40) == 0 ? 10 : rnd.nextInt(10);
    try {
      switch (op) {
        case 0, 1 -> task.storeLong(addr, rnd.nextLong());
        case 2, 3 -> {
          long[] pages = new long[n];
          int flags = rnd.nextBoolean() ? Foll.FOLL_WRITE : 0;
          if (rnd.nextInt(4) == 0) {
            flags |= Foll.FOLL_LONGTERM;
          }
          long got =
              rnd.nextBoolean()
                  ? gup.pinUserPagesFast(task, addr, n, flags, pages)
                  : gup.pinUserPages(task, addr, n, flags, pages);
          long[] taken = Arrays.copyOf(pages, (int) got);
          // page_flag loses track by design (another thread's unpin clears the one flag)
          for (long pfn : gup.pinTracking().name().equals("page_flag") ? new long[0] : taken) {
            assertTrue(
                gup.folioMaybeDmaPinned(pfn) || pfn == vm.zeroPfn(),
                "pinned page not seen as pinned");
          }
          pinned.add(taken);
          return "pin " + got;
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
            child.storeLong(base, 1);
          } finally {
            child.exit();
          }
        }
        case 7 -> {
          long pte = task.mm().pte(addr);
          if (Pte.present(pte) && !Pte.special(pte)) {
            return "migrate " + vm.migrateFolio(Pte.pfn(pte), rnd.nextBoolean());
          }
        }
        case 8 -> {
          return "reclaim " + vm.vmscan().shrinkNode(4).reclaimed();
        }
        case 10 -> {
          CompactResult r = new Compaction(vm).compactZone(dev.refkern.mm.ZoneType.MOVABLE);
          return "compact " + r.migrated() + " blocked " + r.pinBlocked();
        }
        default -> {
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
      return "op" + op;
    } catch (KernelException e) {
      if (e.errno() != Errno.EFAULT && e.errno() != Errno.ENOMEM) {
        throw e;
      }
      return "op" + op + " " + e.errno();
    }
  }

  @Test
  void everySeedKeepsTheInvariants() {
    for (long seed = 1; seed <= 40; seed++) {
      simulate(seed);
    }
  }

  @Test
  void theOtherPinTrackingPoliciesKeepTheInvariantsToo() {
    for (long seed = 1; seed <= 10; seed++) {
      simulate(seed, "page_flag");
      simulate(seed, "lru_isolate");
      simulate(seed, "fake_vma");
    }
  }

  @Test
  void aSeedReplaysItsInterleaving() {
    List<String> first = simulate(0x5eed);
    List<String> again = simulate(0x5eed);
    int at = 0;
    while (at < Math.min(first.size(), again.size()) && first.get(at).equals(again.get(at))) {
      at++;
    }
    assertEquals(
        first,
        again,
        SimScheduler.seedTag(0x5eed)
            + " did not replay; first difference at step "
            + at
            + ": "
            + first.subList(Math.max(0, at - 3), Math.min(first.size(), at + 2))
            + " vs "
            + again.subList(Math.max(0, at - 3), Math.min(again.size(), at + 2)));
    assertEquals(THREADS * OPS, first.size());
  }
}
