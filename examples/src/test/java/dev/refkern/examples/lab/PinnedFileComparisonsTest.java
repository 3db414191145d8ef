package dev.refkern.examples.lab;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.examples.fs.PinnedFileScenario;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.vm.WaitPinnedWriteback;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The writeback, truncate and longterm comparisons give, for a fixed seed on ext4 and xfs, what the
 * kernel and the seeds' designs produce.
 */
class PinnedFileComparisonsTest {
  private static final long SEED = 1;

  @TempDir Path tmp;

  private Map<String, LabRow> run(Comparison c) {
    LabRunner.Result r =
        new LabRunner(tmp, 2, () -> false).run(c, c.cells(SEED), LabRunner.Progress.NONE);
    assertEquals(List.of(), r.failures(), "seed=" + SEED);
    Map<String, LabRow> out = new HashMap<>();
    for (LabRow row : r.rows()) {
      out.put(row.cell().workload() + "/" + row.cell().policy() + "/" + row.cell().fs(), row);
    }
    return out;
  }

  @Test
  void writebackPolicies() {
    Map<String, LabRow> t = run(new WritebackComparison());
    for (String fs : List.of("ext4", "xfs")) {
      LabRow ignore = t.get("writeback/ignore/" + fs);
      assertTrue(
          ignore.corruptedBlocks() > 0 || ignore.bytesLost() > 0,
          "seed=" + SEED + ": mainline writes the page while the NIC DMAs: " + ignore);
      assertTrue(ignore.lossWithinPromise(), "seed=" + SEED + ": ignore promises nothing");
      for (String p : List.of("wait", "bounce", "skip")) {
        LabRow r = t.get("writeback/" + p + "/" + fs);
        assertEquals(0, r.corruptedBlocks(), "seed=" + SEED + ": " + r);
        assertEquals(0, r.bytesLost(), "seed=" + SEED + ": fsync'd data survives: " + r);
        assertEquals(0, r.leakedPins(), "seed=" + SEED + ": " + r);
        assertEquals(0, r.fsckErrors(), "seed=" + SEED + ": " + r);
      }
      assertTrue(t.get("writeback/bounce/" + fs).bytesBounced() > 0, "seed=" + SEED);
      assertTrue(
          t.get("writeback/skip/" + fs).bytesBounced() > 0, "seed=" + SEED + ": fsync bounces");
      assertEquals(0, t.get("writeback/wait/" + fs).bytesBounced(), "seed=" + SEED);
      assertTrue(
          t.get("writeback/wait/" + fs).stallMaxNs()
              >= PinnedFileScenario.STALL_STEPS * PinnedFileScenario.DMA_PERIOD_NS,
          "seed=" + SEED + ": writeback sleeps on the pin: " + t.get("writeback/wait/" + fs));
      assertTrue(
          t.get("writeback/bounce/" + fs).stallMaxNs()
              < PinnedFileScenario.STALL_STEPS * PinnedFileScenario.DMA_PERIOD_NS,
          "seed=" + SEED + ": bounce never sleeps on the pin");
    }
  }

  @Test
  void truncatePolicies() {
    Map<String, LabRow> t = run(new TruncateComparison());
    for (String fs : List.of("ext4", "xfs")) {
      LabRow orphan = t.get("truncate/orphan/" + fs);
      assertTrue(
          orphan.deviceWritesLost() > 0, "seed=" + SEED + ": DMA into the orphan: " + orphan);
      assertEquals(0, orphan.dummyWrites(), "seed=" + SEED + ": " + orphan);
      LabRow revoke = t.get("truncate/revoke/" + fs);
      assertTrue(revoke.dummyWrites() > 0, "seed=" + SEED + ": redirected: " + revoke);
      assertEquals(0, revoke.deviceWritesLost(), "seed=" + SEED + ": " + revoke);
      LabRow wait = t.get("truncate/wait/" + fs);
      assertTrue(
          wait.stallMaxNs() >= PinnedFileScenario.STALL_STEPS * PinnedFileScenario.DMA_PERIOD_NS,
          "seed=" + SEED + ": truncate sleeps on the pin: " + wait);
      assertEquals(0, wait.deviceWritesLost(), "seed=" + SEED + ": " + wait);
      for (LabRow r : List.of(orphan, revoke, wait)) {
        assertEquals(0, r.fsckErrors(), "seed=" + SEED + ": " + r);
        assertEquals(0, r.leakedPins(), "seed=" + SEED + ": " + r);
      }
    }
  }

  @Test
  void longtermRefuseIsEfaultAndPinsNothing() {
    Map<String, LabRow> t = run(new LongtermComparison());
    assertEquals(8, t.size(), "seed=" + SEED + ": two workloads × two policies × two fs");
    for (String w : List.of("writeback", "truncate")) {
      for (String fs : List.of("ext4", "xfs")) {
        LabRow refuse = t.get(w + "/refuse/" + fs);
        assertEquals("EFAULT", refuse.errno(), "seed=" + SEED + ": " + refuse);
        assertEquals(0, refuse.leakedPins(), "seed=" + SEED + ": " + refuse);
        assertEquals(0, refuse.bytesBounced() + refuse.dummyWrites() + refuse.deviceWritesLost());
        assertTrue(
            t.get(w + "/allow/" + fs).ran(), "seed=" + SEED + ": " + t.get(w + "/allow/" + fs));
      }
    }
  }

  @Test
  void theSameCellGivesTheSameOutcome() {
    LabCell cell = new LabCell("writeback", "writeback", "ignore", "xfs", SEED);
    Comparison c = new WritebackComparison();
    LabRow a = c.run(cell, tmp.resolve("a"));
    LabRow b = c.run(cell, tmp.resolve("b"));
    assertTrue(a.sameOutcome(b), "seed=" + SEED + ":\n" + a + "\n" + b);
  }

  @Test
  void aPolicyInTheRegistryIsACell() {
    PolicyRegistry fresh = new PolicyRegistry();
    fresh.register(WaitPinnedWriteback.class);
    assertEquals(List.of("wait"), new WritebackComparison().policies(fresh));
    assertEquals(
        PolicyRegistry.global().names("writeback.pinned"), new WritebackComparison().policies());
    assertEquals(
        List.of("writeback", "truncate", "longterm"),
        Comparisons.names().subList(0, 3),
        "registered in report order");
  }
}
