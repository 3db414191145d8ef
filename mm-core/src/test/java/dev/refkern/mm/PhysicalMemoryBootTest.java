package dev.refkern.mm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.mm.sched.ThreadScheduler;
import dev.refkern.mm.vm.MmModule;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code sched=} on the kernel command line, through {@code PhysicalMemory.boot} and Dagger. */
class PhysicalMemoryBootTest {
  @TempDir Path dir;

  @Test
  void bootHonoursSchedSim() {
    try (PhysicalMemory mem =
        PhysicalMemory.boot(BootParams.parse("mem=64M sched=sim:42"), dir, false)) {
      SimScheduler sim = assertInstanceOf(SimScheduler.class, mem.scheduler());
      assertEquals(42, sim.seed());
    }
  }

  @Test
  void bootDefaultsToThreads() {
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      assertInstanceOf(ThreadScheduler.class, mem.scheduler());
    }
  }

  @Test
  void theDaggerModuleChoosesTheSameScheduler() {
    Scheduler s =
        MmModule.scheduler(new BootConfig(BootParams.parse("mem=64M sched=sim:0x2a"), dir, false));
    assertEquals(42, assertInstanceOf(SimScheduler.class, s).seed());
  }

  @Test
  void aBadSchedIsEinvalOnBothPathsAndLeavesNoMemmap() {
    BootParams bad = BootParams.parse("mem=64M sched=fifo");
    KernelException e =
        assertThrows(KernelException.class, () -> PhysicalMemory.boot(bad, dir, false));
    assertEquals(Errno.EINVAL, e.errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(
                KernelException.class, () -> MmModule.scheduler(new BootConfig(bad, dir, false)))
            .errno());
    // nothing was created: a good boot on the same directory needs no reset
    try (PhysicalMemory mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false)) {
      assertNotNull(mem.memmap());
    }
  }
}
