package dev.refkern.examples.lab;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.Page;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link DeviceFileComparison}: seed 004's GPU writing file pages in device memory, per {@code
 * hmm.file_pages=} policy, on ext4 and xfs, with a seeded power cut.
 */
class DeviceFileComparisonTest {
  private static final long SEED = 4;
  private static final String SEED_FILE = "seed 004 (004_46a5be7e6bb085c8.txt)";

  @TempDir Path dir;

  private LabRow run(String policy, String fs, String sub) {
    return new DeviceFileComparison()
        .run(new LabCell("device-file", "device-file", policy, fs, SEED), dir.resolve(sub));
  }

  @Test
  void isRegisteredAndVariesEveryFilePagesPolicy() {
    Comparison c = Comparisons.byName("device-file");
    assertEquals("hmm.file_pages", c.policyParam());
    assertTrue(
        c.policies().containsAll(java.util.List.of("off", "migrate_back", "bounce")),
        SEED_FILE + ": " + c.policies());
    assertEquals(c.policies().size() * 2, c.cells(SEED).size(), SEED_FILE);
  }

  @ParameterizedTest
  @ValueSource(strings = {"ext4", "xfs"})
  void offRefusesTheDeviceWritesAndLosesNothingAcknowledged(String fs) {
    LabRow r = run("off", fs, "off");
    String tag = SEED_FILE + " off on " + fs + ": " + r;
    assertFalse(r.ran(), "mainline: the GPU cannot hold a file page, its DMA fails; " + tag);
    assertEquals(0, r.migrations(), tag);
    assertEquals(0, r.bytesBounced(), tag);
    assertEquals(0, r.bytesLost(), "nothing was acknowledged, nothing lost; " + tag);
    assertEquals(0, r.fsckErrors(), tag);
    assertEquals(0, r.leakedPins(), tag);
  }

  @ParameterizedTest
  @ValueSource(strings = {"ext4", "xfs"})
  void migrateBackKeepsFsyncedDataAndMovesEveryPageHomeForWriteback(String fs) {
    LabRow r = run("migrate_back", fs, "mb");
    String tag = SEED_FILE + " migrate_back on " + fs + ": " + r;
    assertTrue(r.ran(), tag);
    assertEquals(0, r.bytesLost(), "fsync'd device writes survive the power cut; " + tag);
    assertTrue(r.lossWithinPromise(), tag);
    assertEquals(0, r.corruptedBlocks(), tag);
    assertEquals(0, r.bytesBounced(), tag);
    assertEquals(0, r.memoryOverheadBytes(), tag);
    // every page went to the device and came home at least once for writeback
    assertTrue(r.migrations() >= 2L * DeviceFileComparison.PAGES, tag);
    assertEquals(0, r.fsckErrors(), tag);
    assertEquals(0, r.bugs() + r.leakedPins(), tag);
  }

  @ParameterizedTest
  @ValueSource(strings = {"ext4", "xfs"})
  void bounceKeepsFsyncedDataAndWritesFromTheDeviceThroughCopies(String fs) {
    LabRow r = run("bounce", fs, "b");
    String tag = SEED_FILE + " bounce on " + fs + ": " + r;
    assertTrue(r.ran(), tag);
    assertEquals(0, r.bytesLost(), "fsync'd device writes survive the power cut; " + tag);
    assertEquals(0, r.corruptedBlocks(), tag);
    assertTrue(r.bytesBounced() >= (long) DeviceFileComparison.PAGES * Page.PAGE_SIZE, tag);
    assertTrue(r.memoryOverheadBytes() > 0, tag);
    assertEquals(DeviceFileComparison.PAGES, r.migrations(), "to the device only; " + tag);
    assertEquals(0, r.fsckErrors(), tag);
    assertEquals(0, r.bugs() + r.leakedPins(), tag);
  }

  @Test
  void twoRunsOfACellHaveTheSameOutcome() {
    LabRow a = run("migrate_back", "xfs", "a");
    LabRow b = run("migrate_back", "xfs", "b2");
    assertTrue(a.sameOutcome(b), SEED_FILE + ": " + a + " vs " + b);
  }
}
