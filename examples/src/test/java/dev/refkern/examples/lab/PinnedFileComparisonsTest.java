package dev.refkern.examples.lab;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.examples.fs.PinnedFileScenario;
import dev.refkern.examples.fs.PinnedFileScenario.Cut;
import dev.refkern.examples.fs.PinnedFileScenario.Workload;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.vm.WaitPinnedWriteback;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The writeback, truncate and longterm comparisons give, over a few seeds on ext4 and xfs, what the
 * kernel and the seeds' designs produce; the seed changes the workload, so it changes the rows.
 */
class PinnedFileComparisonsTest {
  /**
   * Seeds whose workloads differ where it matters: 2 races a DMA with a write and cuts the power at
   * the end, 4 races nothing, 5 cuts the power during the fsync.
   */
  private static final List<Long> SEEDS = List.of(2L, 4L, 5L);

  private static final long STALL =
      PinnedFileScenario.STALL_DMAS * PinnedFileScenario.DMA_PERIOD_NS;

  @TempDir Path tmp;

  @TempDir static Path shared;

  private static Map<String, LabRow> writeback; // both tests of it read the one run

  private Map<String, LabRow> writeback() {
    synchronized (PinnedFileComparisonsTest.class) {
      if (writeback == null) {
        writeback = run(new WritebackComparison(), SEEDS, shared);
      }
      return writeback;
    }
  }

  private Map<String, LabRow> run(Comparison c, List<Long> seeds) {
    return run(c, seeds, tmp);
  }

  private static Map<String, LabRow> run(Comparison c, List<Long> seeds, Path tmp) {
    List<LabCell> cells = new ArrayList<>();
    for (long s : seeds) {
      cells.addAll(c.cells(s));
    }
    LabRunner.Result r = new LabRunner(tmp, 2, () -> false).run(c, cells, LabRunner.Progress.NONE);
    assertEquals(List.of(), r.failures(), "seeds=" + seeds);
    Map<String, LabRow> out = new HashMap<>();
    for (LabRow row : r.rows()) {
      LabCell k = row.cell();
      out.put(k.workload() + "/" + k.policy() + "/" + k.fs() + "/" + k.seed(), row);
    }
    return out;
  }

  /** The deterministic columns of {@code r} without its cell (and so without its seed). */
  private static List<Object> outcome(LabRow r) {
    int from = LabRow.COLUMNS.indexOf("device");
    return r.values().subList(from, LabRow.COLUMNS.indexOf("ns_per_pin"));
  }

  private static String tag(long seed) {
    return "seed=" + seed + " (" + Workload.seeded(seed, false) + ")";
  }

  @Test
  void seedsCoverARaceAndEveryLateCut() {
    assertFalse(Workload.seeded(2, false).racing().isEmpty(), tag(2));
    assertEquals(Cut.END, Workload.seeded(2, false).cut(), tag(2));
    assertTrue(Workload.seeded(4, false).racing().isEmpty(), tag(4));
    assertEquals(Cut.DURING_FSYNC, Workload.seeded(5, false).cut(), tag(5));
    for (long s = 1; s <= 50; s++) {
      Workload w = Workload.seeded(s, true);
      assertEquals(Cut.END, w.cut(), "seed=" + s + ": the truncate runs before the cut");
      assertTrue(w.pages() >= 2 && w.pages() <= 8, "seed=" + s + ": " + w);
      assertTrue(w.first() + w.pages() <= w.filePages(), "seed=" + s + ": " + w);
    }
  }

  @Test
  void writebackPolicies() {
    Map<String, LabRow> t = writeback();
    for (long seed : SEEDS) {
      Workload w = Workload.seeded(seed, false);
      boolean written = w.cut() != Cut.BEFORE_BACKGROUND; // the background pass ran
      for (String fs : List.of("ext4", "xfs")) {
        LabRow ignore = t.get("writeback/ignore/" + fs + "/" + seed);
        if (written && !w.racing().isEmpty()) {
          assertTrue(
              ignore.corruptedBlocks() > 0 || ignore.bytesLost() > 0,
              tag(seed) + ": mainline writes pages while the NIC DMAs: " + ignore);
        }
        if (w.racing().isEmpty() && ignore.bytesLost() > 0) {
          // no DMA raced a write bio, so no integrity error: fsync said 0 and the data is gone
          assertFalse(
              ignore.lossWithinPromise(), tag(seed) + ": fsync's promise broken: " + ignore);
        }
        for (String p : List.of("wait", "bounce", "skip")) {
          LabRow r = t.get("writeback/" + p + "/" + fs + "/" + seed);
          assertEquals(0, r.corruptedBlocks(), tag(seed) + ": " + r);
          assertEquals(0, r.bytesLost(), tag(seed) + ": fsync'd data survives: " + r);
          assertTrue(r.lossWithinPromise(), tag(seed) + ": " + r);
          assertEquals(0, r.leakedPins(), tag(seed) + ": " + r);
          assertEquals(0, r.fsckErrors(), tag(seed) + ": " + r);
        }
        LabRow wait = t.get("writeback/wait/" + fs + "/" + seed);
        LabRow bounce = t.get("writeback/bounce/" + fs + "/" + seed);
        assertEquals(0, wait.bytesBounced(), tag(seed) + ": " + wait);
        assertTrue(bounce.stallMaxNs() < STALL, tag(seed) + ": bounce never sleeps: " + bounce);
        if (written) {
          assertTrue(bounce.bytesBounced() > 0, tag(seed) + ": " + bounce);
          assertTrue(wait.stallMaxNs() >= STALL, tag(seed) + ": sleeps on the pin: " + wait);
        }
      }
    }
  }

  @Test
  void theSeedChangesTheRows() {
    Map<String, LabRow> t = writeback();
    for (String p : List.of("ignore", "wait", "bounce", "skip")) {
      for (String fs : List.of("ext4", "xfs")) {
        Map<List<Object>, Long> distinct = new HashMap<>();
        for (long seed : SEEDS) {
          distinct.put(outcome(t.get("writeback/" + p + "/" + fs + "/" + seed)), seed);
        }
        assertEquals(
            SEEDS.size(), distinct.size(), "seeds=" + SEEDS + " give the same " + p + "/" + fs);
      }
    }
  }

  @Test
  void truncatePolicies() {
    List<Long> seeds = SEEDS.subList(0, 2);
    Map<String, LabRow> t = run(new TruncateComparison(), seeds);
    for (long seed : seeds) {
      String tag = "seed=" + seed + " (" + Workload.seeded(seed, true) + ")";
      for (String fs : List.of("ext4", "xfs")) {
        LabRow orphan = t.get("truncate/orphan/" + fs + "/" + seed);
        assertTrue(orphan.deviceWritesLost() > 0, tag + ": DMA into the orphans: " + orphan);
        assertEquals(0, orphan.dummyWrites(), tag + ": " + orphan);
        LabRow revoke = t.get("truncate/revoke/" + fs + "/" + seed);
        assertTrue(revoke.dummyWrites() > 0, tag + ": redirected: " + revoke);
        assertEquals(0, revoke.deviceWritesLost(), tag + ": " + revoke);
        LabRow wait = t.get("truncate/wait/" + fs + "/" + seed);
        assertTrue(wait.stallMaxNs() >= STALL, tag + ": truncate sleeps on the pin: " + wait);
        assertEquals(0, wait.deviceWritesLost(), tag + ": " + wait);
        for (LabRow r : List.of(orphan, revoke, wait)) {
          assertEquals(0, r.fsckErrors(), tag + ": " + r);
          assertEquals(0, r.leakedPins(), tag + ": " + r);
          assertEquals(0, r.bytesLost(), tag + ": a truncated file promises nothing: " + r);
        }
      }
    }
  }

  @Test
  void longtermRefuseIsEfaultAndPinsNothing() {
    long seed = SEEDS.get(0);
    Map<String, LabRow> t = run(new LongtermComparison(), List.of(seed));
    assertEquals(8, t.size(), tag(seed) + ": two workloads × two policies × two fs");
    for (String w : List.of("writeback", "truncate")) {
      for (String fs : List.of("ext4", "xfs")) {
        LabRow refuse = t.get(w + "/refuse/" + fs + "/" + seed);
        assertEquals("EFAULT", refuse.errno(), tag(seed) + ": " + refuse);
        assertEquals(0, refuse.leakedPins(), tag(seed) + ": " + refuse);
        assertEquals(
            0,
            refuse.bytesBounced() + refuse.dummyWrites() + refuse.deviceWritesLost(),
            tag(seed) + ": " + refuse);
        LabRow allow = t.get(w + "/allow/" + fs + "/" + seed);
        assertTrue(allow.ran(), tag(seed) + ": " + allow);
        assertTrue(allow.nsPerPin() > 0, tag(seed) + ": the pin cost is measured: " + allow);
      }
    }
  }

  @Test
  void theSameCellGivesTheSameOutcome() {
    long seed = 5; // the power goes during the fsync: the path with the most to get wrong
    LabCell cell = new LabCell("writeback", "writeback", "ignore", "xfs", seed);
    Comparison c = new WritebackComparison();
    LabRow a = c.run(cell, tmp.resolve("a"));
    LabRow b = c.run(cell, tmp.resolve("b"));
    assertTrue(a.sameOutcome(b), tag(seed) + ":\n" + a + "\n" + b);
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
