package dev.refkern.examples.lab;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link PowerCutMatrix}: a bounded slice of the power-cut matrix (seed 000's and 003's race of a
 * DMA with the writeback of a long-term-pinned file page, seed 001's truncate under the pin), every
 * FLUSH/FUA point of each log replayed, recovered, fsck'd and classified.
 */
class PowerCutMatrixTest {
  private static final long SEED = 1;

  @TempDir Path dir;

  private static String tag(PowerCutRow r) {
    return "seeds 000/001/003 (writeback and truncate of pinned pages), matrix seed "
        + SEED
        + ": "
        + r;
  }

  @ParameterizedTest
  @CsvSource({
    "ext4,ignore,orphan",
    "xfs,ignore,orphan",
    "ext4,bounce,orphan",
    "xfs,bounce,revoke",
    "ext4,wait,wait",
    "xfs,wait,orphan"
  })
  void everyStateIsClassifiedOnceAndOnlyIgnoreLosesAcknowledgedData(
      String fs, String writeback, String truncate) {
    PowerCutRow r =
        PowerCutMatrix.runOne(fs, writeback, truncate, SEED, 0, dir, () -> false, (c, d, t) -> {});
    String tag = tag(r);
    assertTrue(r.states() > 3, "a log with several FLUSH/FUA points; " + tag);
    assertEquals(r.states(), r.consistent() + r.dataLost() + r.metadataCorrupt(), tag);
    assertEquals(0, r.metadataCorrupt(), "a correct journal never corrupts metadata; " + tag);
    if (writeback.equals("ignore")) {
      assertTrue(
          r.dataLost() > 0,
          "mainline cleans the folio while the DMA goes on: the next fsync misses it; " + tag);
      assertTrue(r.firstBad().contains("pinned"), tag);
    } else {
      assertEquals(0, r.dataLost(), writeback + " keeps what fsync acknowledged; " + tag);
      assertEquals("", r.firstBad(), tag);
    }
  }
}
