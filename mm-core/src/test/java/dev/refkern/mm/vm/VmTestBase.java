package dev.refkern.mm.vm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/** Boots a small machine per test and checks the invariants (pins balanced) after it. */
abstract class VmTestBase {
  @TempDir Path dir;
  PhysicalMemory mem;
  VirtualMemory vm;
  Gup gup;
  boolean pinsMayRemain;

  void boot(String cmdline) {
    vm = VirtualMemory.boot(BootParams.parse(cmdline), dir, false);
    mem = vm.physicalMemory();
    gup = vm.gup();
  }

  /** {@code lru_add_drain_all()}: batched folios drop the references their batches hold. */
  void settle() {
    vm.lru().lruAddDrainAll();
  }

  void boot() {
    boot("mem=256M");
  }

  @AfterEach
  void checkInvariants() {
    if (mem == null) {
      return;
    }
    try {
      // after a fatal signal every kernel entry fails: the machine is only closed
      boolean down = mem.health().isDead() || mem.health().fatalSignalPending();
      if (!down && vm != null) {
        settle();
      }
      if (!down) {
        List<String> p = pinsMayRemain ? mem.debugVm().check() : mem.debugVm().checkNoPinsHeld();
        assertTrue(p.isEmpty(), "CONFIG_DEBUG_VM: " + p);
      }
    } finally {
      mem.close();
    }
  }
}
