package dev.refkern.hmm.dma;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/** Boots a small machine per test; after it, pins balance and {@code CONFIG_DEBUG_VM} is clean. */
abstract class DmaTestBase {
  @TempDir Path dir;
  VirtualMemory vm;
  PhysicalMemory mem;

  void boot(String cmdline) {
    vm = VirtualMemory.boot(BootParams.parse(cmdline), dir, false);
    mem = vm.physicalMemory();
  }

  long pinsAcquired() {
    return mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
  }

  long pinsReleased() {
    return mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED);
  }

  void assertPinsBalance() {
    assertEquals(pinsAcquired(), pinsReleased(), "nr_foll_pin_acquired == nr_foll_pin_released");
  }

  @AfterEach
  void checkInvariants() {
    if (mem == null) {
      return;
    }
    try {
      if (!mem.health().isDead()) {
        vm.lru().lruAddDrainAll();
        List<String> p = mem.debugVm().checkNoPinsHeld();
        assertTrue(p.isEmpty(), "CONFIG_DEBUG_VM: " + p);
        assertPinsBalance();
      }
    } finally {
      mem.close();
    }
  }
}
