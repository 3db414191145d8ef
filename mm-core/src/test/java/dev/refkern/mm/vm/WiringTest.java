package dev.refkern.mm.vm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.RamSwapDevice;
import dev.refkern.mm.VmItem;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plain boot wires physical memory's reclaim ({@code try_to_free_pages()}, {@code
 * wakeup_kswapd()}) to the virtual memory on top, with no setter; physical memory booted alone has
 * none.
 */
class WiringTest {
  @TempDir Path dir;

  /** Touches more anonymous memory than the machine has: only direct reclaim lets it fit. */
  static void overcommit(VirtualMemory vm) {
    vm.swapon(new RamSwapDevice(16384));
    Task task = vm.createTask("t");
    int pages = 18000; // 64M of RAM is 16384 frames
    long a = task.mmapAnon(pages * 4096L);
    for (int i = 0; i < pages; i++) {
      task.storeLong(a + i * 4096L, i);
    }
    for (int i = 0; i < pages; i += 997) {
      assertEquals(i, task.loadLong(a + i * 4096L), "page " + i + " after swapping");
    }
    task.exit();
  }

  @Test
  void thePlainBootReclaimsDirectlyUnderPressure() {
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir, false);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      assertEquals(0, mem.vmstat().get(VmItem.ALLOCSTALL));
      overcommit(vm);
      assertTrue(mem.vmstat().get(VmItem.ALLOCSTALL) > 0, "allocations reclaimed directly");
      assertTrue(mem.vmstat().get(VmItem.PSWPOUT) > 0, "anonymous pages went to swap");
      assertSame(mem.lru(), vm.lru(), "the node owns the LRU");
    }
  }

  @Test
  void physicalMemoryAloneHasNoReclaimAndFailsTheAllocation() {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      List<Long> held = new ArrayList<>();
      long pfn;
      while ((pfn = mem.allocator().allocPages(Gfp.KERNEL | Gfp.NOWARN, 0))
          != PageAllocator.NO_PFN) {
        held.add(pfn);
      }
      assertFalse(held.isEmpty());
      assertEquals(0, mem.vmstat().get(VmItem.ALLOCSTALL), "nothing to reclaim from");
      held.forEach(mem.allocator()::putPage);
    }
  }
}
