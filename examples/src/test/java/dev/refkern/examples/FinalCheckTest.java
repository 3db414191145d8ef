package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every command's final check: a leaked pin is a violation and exit status 1; the demo leaks none.
 */
class FinalCheckTest {
  @TempDir Path tmp;

  @Test
  void aLeakedPinMakesTheCommandExitOne() {
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=64M"), tmp, true);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      Task t = vm.createTask("leaker");
      long buf = t.mmapAnon(2 * 4096L);
      t.storeLong(buf, 1);
      long[] pages = new long[2];
      assertEquals(2, vm.gup().pinUserPagesFast(t, buf, 2, Foll.FOLL_WRITE, pages));
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      int rc =
          FinalCheck.finish(
              mem,
              new PrintStream(out, true, StandardCharsets.UTF_8),
              new PrintStream(err, true, StandardCharsets.UTF_8),
              "");
      assertEquals(FinalCheck.VIOLATED, rc);
      String e = err.toString(StandardCharsets.UTF_8);
      assertTrue(e.lines().allMatch(l -> l.startsWith("refkern: debug_vm: ")), e);
      assertTrue(e.contains("pins leaked: nr_foll_pin_acquired 2 != nr_foll_pin_released 0"), e);
      assertTrue(out.toString(StandardCharsets.UTF_8).contains("violation(s)"));
      vm.gup().unpinUserPages(pages, 2);
      t.exit();
      assertEquals(0, FinalCheck.finish(mem, System.out, System.err, ""));
    }
  }

  @Test
  void theGupStoryReleasesEveryPinItTakes() {
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=256M movablecore=128M"), tmp, true);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      GupDemo.run(vm, new PrintStream(out, true, StandardCharsets.UTF_8));
      String story = out.toString(StandardCharsets.UTF_8);
      assertEquals(java.util.List.of(), FinalCheck.violations(mem), story);
      assertTrue(story.contains(": every pin released"), story);
    }
  }

  /** Demo section 12: the HMM story says what the counters say, pins nothing, ends clean. */
  @Test
  void theHmmStoryMigratesAndMirrorsWithoutPinsAndEndsClean() {
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=256M zone_device=16M"), tmp, true);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      HmmDemo.run(vm, new PrintStream(out, true, StandardCharsets.UTF_8));
      String story = out.toString(StandardCharsets.UTF_8);
      assertEquals(java.util.List.of(), FinalCheck.violations(mem), story);
      assertTrue(story.contains("moved 8 of 8 anon pages"), story);
      assertTrue(story.contains("not present, no CPU access"), story);
      assertTrue(story.contains("DONE, device faults 0"), story);
      assertTrue(story.contains("reads the GPU's stamp (seq 7)"), story);
      assertTrue(
          story.contains("migrated to device 8, back to RAM 1, device pages free 9 of 16"), story);
      assertTrue(story.contains("DONE after 4 device faults"), story);
      assertTrue(story.contains("maps page 0 no more"), story);
      assertTrue(story.contains("next DMA is ABORTED with EFAULT"), story);
      assertTrue(story.contains("nr_foll_pin_acquired +0"), story);
      assertEquals(0, mem.vmstat().get(dev.refkern.mm.VmItem.NR_FOLL_PIN_ACQUIRED));
    }
  }
}
