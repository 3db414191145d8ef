package dev.refkern.examples.fs;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link DeviceFileScenario}: a GPU writes into holes of a sparse file on ext4 and xfs with the
 * file's pages in device memory (seed 004), under {@code hmm.file_pages=migrate_back} and {@code
 * bounce}.
 */
class DeviceFileScenarioTest {
  private static final long SEED = 0x5eed_0004L;

  @TempDir Path dir;

  @ParameterizedTest
  @CsvSource({"ext4,migrate_back", "ext4,bounce", "xfs,migrate_back", "xfs,bounce"})
  void fsyncedDeviceWritesIntoHolesAreOnDiskAfterARemountAndFsckIsClean(String fs, String policy) {
    DeviceFileScenario.Outcome o =
        new DeviceFileScenario(dir)
            .run(new DeviceFileScenario.Options(SEED, policy, fs, 4, 2, false, false));
    String tag = fs + " " + policy + " seed=0x" + Long.toHexString(SEED) + ": " + o;
    assertEquals(0, o.syncedLost(), tag);
    assertEquals(0, o.dmaFailed(), tag);
    assertEquals(List.of(), o.fsck(), tag);
    assertEquals(List.of(), o.violations(), tag);
    assertTrue(o.policyStats().get("file_pages_to_device") >= 4, tag);
    if (policy.equals("bounce")) {
      assertEquals(0, o.policyStats().get("migrations_back"), tag);
      assertTrue(o.policyStats().get("folios_bounced") >= 4, tag);
      assertEquals(4, o.pagesOnDeviceAtEnd(), "bounce: the pages never left the device; " + tag);
    } else {
      assertEquals(0, o.policyStats().get("bytes_bounced"), tag);
      assertTrue(o.policyStats().get("migrations_back") >= 4, tag);
    }
  }

  @ParameterizedTest
  @CsvSource({"ext4,migrate_back", "ext4,bounce", "xfs,migrate_back", "xfs,bounce"})
  void aPowerCutLosesOnlyTheDeviceWritesNoFsyncCovered(String fs, String policy) {
    DeviceFileScenario.Outcome o =
        new DeviceFileScenario(dir)
            .run(new DeviceFileScenario.Options(SEED, policy, fs, 4, 1, true, true));
    String tag = fs + " " + policy + " seed=0x" + Long.toHexString(SEED) + ": " + o;
    assertEquals(0, o.syncedLost(), "what fsync promised survives the cut; " + tag);
    assertTrue(o.unsyncedWritten() > 0, tag);
    assertEquals(
        o.unsyncedWritten(), o.unsyncedLost(), "device writes after the fsync are lost; " + tag);
    assertEquals(List.of(), o.fsck(), tag);
  }
}
