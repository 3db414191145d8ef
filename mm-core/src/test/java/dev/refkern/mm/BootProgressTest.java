package dev.refkern.mm;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.sched.Schedulers;
import dev.refkern.mm.vm.LateReclaim;
import dev.refkern.mm.vm.MmModule;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Boot tells its {@link BootProgress} how far the memmap and the free lists have got. */
class BootProgressTest {
  @TempDir Path dir;

  private static void assertMonotonicTo100(List<long[]> calls) {
    assertTrue(calls.size() > 2, "progress reported along the way, not only at the end");
    long total = calls.get(0)[1];
    long prev = -1;
    for (long[] c : calls) {
      assertEquals(total, c[1], "one total for the whole boot");
      assertTrue(c[0] >= prev, "done never decreases: " + c[0] + " after " + prev);
      assertTrue(c[0] <= total, "done within total");
      prev = c[0];
    }
    assertEquals(total, prev, "ends at 100%");
  }

  @Test
  void bootReportsMonotonicProgressEndingAtTotal() {
    List<long[]> calls = new ArrayList<>();
    BootParams p = BootParams.parse("mem=512M movablecore=128M zone_device=8M");
    try (PhysicalMemory mem =
        PhysicalMemory.boot(
            p, dir, false, Schedulers.threads(), (d, t) -> calls.add(new long[] {d, t}))) {
      // every frame's descriptor, then every RAM frame freed
      assertEquals(mem.memmap().nrPfns() + mem.ramPfns(), calls.get(0)[1]);
    }
    assertMonotonicTo100(calls);
  }

  @Test
  void bootConfigCarriesProgressThroughTheDaggerModule() {
    List<long[]> calls = new ArrayList<>();
    BootConfig config =
        new BootConfig(
            BootParams.parse("mem=256M"), dir, false, (d, t) -> calls.add(new long[] {d, t}));
    try (PhysicalMemory mem =
        MmModule.physicalMemory(config, Schedulers.threads(), new LateReclaim())) {
      assertEquals(mem.memmap().nrPfns() + mem.ramPfns(), calls.get(0)[1]);
    }
    assertMonotonicTo100(calls);
  }

  @Test
  void bootConfigWithoutProgressReportsNothing() {
    assertSame(
        BootProgress.NONE, new BootConfig(BootParams.parse("mem=64M"), dir, false).progress());
  }
}
