package dev.refkern.examples.fs;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.examples.fs.PinnedFileScenario.Options;
import dev.refkern.examples.fs.PinnedFileScenario.Outcome;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What each pinned page-cache policy's proposal claims, shown on flatfs (iomap) and on ext4 (buffer
 * heads, a journal; mounted with the run's {@code pinned_writeback=}) on a FileDisk with protection
 * information ({@code BLK_FEAT_STABLE_WRITES}) while an RDMA NIC holds a {@code FOLL_LONGTERM} pin
 * on a page of a shared file mapping. Seeded; the seed is in every message.
 */
class PinnedFileClaimsTest {
  private static final long SEED = 0x5eed_c1a1_0001L;

  @TempDir Path dir;

  private Outcome run(Options o) {
    Outcome r = new PinnedFileScenario(dir).run(o);
    assertEquals(List.of(), r.pinsLeaked(), r.toString());
    return r;
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4", "xfs"})
  void ignoreWritesTheFolioUnderTheDmaAndCleansIt(String fs) {
    Outcome r = run(Options.writeback(SEED, "ignore").racing().on(fs));
    assertTrue(
        r.integrityErrors() > 0 || r.onDiskAfterFsync() != r.lastDma(),
        "a torn write or data older than the last DMA: " + r);
    assertEquals(1, r.integrityErrors(), "the DMA racing the write breaks its guard tags: " + r);
    assertFalse(r.dirtyAfterFsync(), "cleaned while the NIC still writes it: " + r);
    assertNotEquals(r.lastDma(), r.onDiskAfterFsync(), "fsync did not write the last DMA: " + r);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4", "xfs"})
  void ignoreLosesTheLastDmaAtAPowerCut(String fs) {
    Outcome r = run(Options.writeback(SEED, "ignore").withPowerCut().on(fs));
    assertEquals(2, r.lastDma(), r.toString());
    assertEquals(1, r.afterRemount(), "the disk holds the data before the last DMA: " + r);
    assertFalse(r.diskHoldsLastDma(), r.toString());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4", "xfs"})
  void waitStallsFsyncWhilePinnedAndWritesTheLastDmaAfterTheUnpin(String fs) {
    Outcome r = run(Options.writeback(SEED, "wait").fsyncOnly().racing().on(fs));
    assertEquals("fsync", r.stalledStep(), r.toString());
    assertTrue(
        r.stillStalledAfterSteps(),
        "still asleep after " + PinnedFileScenario.STALL_STEPS + " DMA writes: " + r);
    assertTrue(r.completedAfterUnpin(), r.toString());
    assertEquals(0, r.fsyncErrno(), r.toString());
    assertEquals(0, r.integrityErrors(), "never written under the DMA: " + r);
    assertEquals(2 + PinnedFileScenario.STALL_STEPS, r.lastDma(), r.toString());
    assertEquals(r.lastDma(), r.onDiskAfterFsync(), "fsync wrote the device's last data: " + r);
    assertTrue(r.diskHoldsLastDma(), r.toString());
    assertEquals(List.of(), r.fsck(), r.toString());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4", "xfs"})
  void bounceWritesTheSnapshotTakenAtSubmission(String fs) {
    Outcome r = run(Options.writeback(SEED, "bounce").racing().withPowerCut().on(fs));
    assertEquals(0, r.integrityErrors(), "the DMA racing the write did not reach the copy: " + r);
    assertEquals(1, r.afterBackground(), "exactly the snapshot taken at submission: " + r);
    assertEquals(2, r.foliosBounced(), r.toString());
    assertEquals(r.pinnedWritten(), r.foliosBounced(), "every pinned folio written was a copy");
    assertTrue(r.dirtyAfterBackground(), "still pinned: it stays dirty: " + r);
    assertTrue(r.dirtyAfterFsync(), r.toString());
    assertEquals(2, r.onDiskAfterFsync(), "fsync bounced the newer DMA: " + r);
    assertEquals(r.onDiskAfterFsync(), r.afterRemount(), "the power cut keeps that snapshot: " + r);
    assertEquals(List.of(), r.fsck(), r.toString());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4", "xfs"})
  void skipLeavesThePinnedFolioDirtyInBackgroundAndFsyncBouncesIt(String fs) {
    Outcome r = run(Options.writeback(SEED, "skip").racing().on(fs));
    assertEquals(0, r.afterBackground(), "background writeback did not write it: " + r);
    assertTrue(r.dirtyAfterBackground(), r.toString());
    assertEquals(1, r.foliosBounced(), "fsync wrote a copy: " + r);
    assertEquals(2, r.onDiskAfterFsync(), r.toString());
    assertEquals(0, r.integrityErrors(), "the racing DMA missed the copy: " + r);
    assertEquals(0, r.fsyncErrno(), r.toString());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4", "xfs"})
  void revokeRedirectsTheNicsLaterDmaToItsDummyPage(String fs) {
    Outcome r = run(Options.truncate(SEED, "revoke").on(fs));
    assertEquals(PinnedFileScenario.LATER_DMA, r.writesToDummy(), r.toString());
    assertEquals(0, r.writesLost(), "none into a page that left the file: " + r);
    assertEquals(0, r.sizeAfterRemount(), r.toString());
    assertEquals(List.of(), r.fsck(), "the file stays consistent: " + r);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4", "xfs"})
  void orphanLosesTheNicsLaterDma(String fs) {
    Outcome r = run(Options.truncate(SEED, "orphan").on(fs));
    assertEquals(PinnedFileScenario.LATER_DMA, r.writesLost(), "into no file: " + r);
    assertEquals(0, r.writesToDummy(), r.toString());
    assertEquals(0, r.sizeAfterRemount(), "the data is in no file: " + r);
    assertEquals(List.of(), r.fsck(), r.toString());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4", "xfs"})
  void waitTruncateBlocksUntilTheUnpin(String fs) {
    Outcome r = run(Options.truncate(SEED, "wait").on(fs));
    assertEquals("ftruncate", r.stalledStep(), r.toString());
    assertTrue(r.stillStalledAfterSteps(), r.toString());
    assertTrue(r.completedAfterUnpin(), r.toString());
    assertEquals(0, r.writesLost(), "nothing orphaned: " + r);
    assertEquals(0, r.sizeAfterRemount(), r.toString());
    assertEquals(List.of(), r.fsck(), r.toString());
  }
}
