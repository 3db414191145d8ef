package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.refkern.mm.KernelException;
import dev.refkern.mm.RamSwapDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;

/**
 * {@code CONFIG_DEBUG_VM} as a property: any sequence of mmap, touch, pin, fork, exit, unpin,
 * reclaim and migrate keeps {@link dev.refkern.mm.DebugVm#check()} empty after every step; once
 * every pin is dropped and every task has exited, pins balance ({@code nr_foll_pin_acquired ==
 * nr_foll_pin_released}) and every page the workload took is free again. jqwik prints the seed of a
 * failing sequence and its shrunk form.
 */
class DebugVmPropertyTest extends VmTestBase {
  private static final int REGION_PAGES = 8;

  enum Kind {
    MAP,
    TOUCH,
    PIN,
    FORK,
    EXIT,
    UNPIN,
    RECLAIM,
    MIGRATE
  }

  /** One step: what, and a number that picks the task, page or pin it acts on. */
  record Op(Kind kind, int arg) {}

  @Provide
  Arbitrary<List<Op>> ops() {
    Arbitrary<Op> op =
        Combinators.combine(Arbitraries.of(Kind.class), Arbitraries.integers().between(0, 1 << 16))
            .as(Op::new);
    return op.list().ofMinSize(1).ofMaxSize(24);
  }

  @Property(tries = 30, shrinking = ShrinkingMode.BOUNDED)
  void debugVmHoldsAndPinsBalance(@ForAll("ops") List<Op> ops) throws IOException {
    dir = Files.createTempDirectory("debugvm-prop");
    try {
      boot("mem=32M zone_device=0");
      vm.swapon(new RamSwapDevice(256));
      settle();
      long freeAtBoot = mem.allocator().nrFreePages();
      run(ops);
      settle();
      assertEquals(List.of(), mem.debugVm().check(), "CONFIG_DEBUG_VM at the end, " + ops);
      assertEquals(freeAtBoot, mem.allocator().nrFreePages(), "pages leaked by " + ops);
      checkInvariants(); // VmTestBase: CONFIG_DEBUG_VM and pins balanced, then the machine closes
    } finally {
      mem = null;
      deleteTree(dir);
    }
  }

  private void run(List<Op> ops) {
    List<Task> tasks = new ArrayList<>();
    List<Long> regions = new ArrayList<>(); // per task: the start of its region, or 0
    List<Long> pins = new ArrayList<>();
    tasks.add(vm.createTask("t0"));
    regions.add(0L);
    long[] one = new long[1];
    for (int step = 0; step < ops.size(); step++) {
      Op op = ops.get(step);
      int t = op.arg() % tasks.size();
      Task task = tasks.get(t);
      long region = regions.get(t);
      long addr = region + (long) (op.arg() / 7 % REGION_PAGES) * PAGE_SIZE;
      try {
        switch (op.kind()) {
          case MAP -> {
            if (region == 0 && task.mm() != null) {
              regions.set(t, task.mmapAnon((long) REGION_PAGES * PAGE_SIZE));
            }
          }
          case TOUCH -> {
            if (region != 0 && task.mm() != null) {
              task.storeLong(addr, op.arg());
            }
          }
          case PIN -> {
            if (region != 0 && task.mm() != null) {
              int flags = Foll.FOLL_WRITE | (op.arg() % 3 == 0 ? Foll.FOLL_LONGTERM : 0);
              if (gup.pinUserPages(task, addr, 1, flags, one) == 1) {
                pins.add(one[0]);
              }
            }
          }
          case FORK -> {
            if (task.mm() != null && tasks.size() < 4) {
              tasks.add(task.fork("t" + tasks.size()));
              regions.add(region);
            }
          }
          case EXIT -> {
            if (t != 0) {
              task.exit();
            }
          }
          case UNPIN -> {
            if (!pins.isEmpty()) {
              gup.unpinUserPage(pins.remove(op.arg() % pins.size()));
            }
          }
          case RECLAIM -> vm.vmscan().shrinkNode(1 + op.arg() % 8);
          case MIGRATE -> {
            long pte = region != 0 && task.mm() != null ? task.mm().pte(addr) : 0;
            if (Pte.present(pte)) {
              vm.migrateFolio(Pte.pfn(pte), op.arg() % 2 == 0);
            }
          }
        }
      } catch (KernelException e) {
        // a refusal the kernel may give (ENOMEM, EFAULT, EAGAIN): the invariants must hold anyway
      }
      List<String> p = mem.debugVm().check();
      assertEquals(List.of(), p, "CONFIG_DEBUG_VM after step " + step + " " + op + " of " + ops);
    }
    for (long pfn : pins) {
      gup.unpinUserPage(pfn);
    }
    for (Task task : tasks) {
      task.exit();
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
