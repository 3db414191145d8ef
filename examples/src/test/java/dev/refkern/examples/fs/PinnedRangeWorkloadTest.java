package dev.refkern.examples.fs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.refkern.examples.fs.PinnedRangeWorkload.Config;
import dev.refkern.examples.fs.PinnedRangeWorkload.Result;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The pinned-range workload under each {@code pinned_writeback=} value, on flatfs (iomap) and ext4
 * (buffer heads, a journal), small and seeded. The expected counts follow from the kernel's
 * semantics: {@code pin_user_pages(FOLL_WRITE)} write-faults every page of the range, so the first
 * pass meets all {@code pinned} folios dirty; a write in place of a folio the DMA changes before
 * the disk consumes it breaks its guard tags; a bounce copy does not change.
 */
class PinnedRangeWorkloadTest {
  private static final long SEED = 0x5eed_0bad_f00dL;
  private static final int PAGES = 32;
  private static final int PINNED = 8;

  @TempDir Path dir;

  private Result run(String fs, String policy, int rounds) {
    Result r =
        new PinnedRangeWorkload(dir)
            .run(new Config(fs, policy, PAGES, PINNED, rounds, SEED), () -> false);
    assertEquals(List.of(), r.violations(), "debug_vm, pins released: " + r);
    assertEquals(List.of(), r.fsck(), "fsck: " + r);
    assertEquals(0, r.lostBytes(), "the fresh kernel reads the last DMA and writes: " + r);
    return r;
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4"})
  void ignoreBreaksTheGuardTagsOfEveryPinnedFolioTheDmaChangesInFlight(String fs) {
    Result r = run(fs, "ignore", 1);
    assertEquals(PINNED, r.dmaInFlight(), "each dirty pinned folio written in place: " + r);
    assertEquals(r.dmaInFlight(), r.integrityErrors(), "one broken guard per overlapped bio: " + r);
    assertEquals(1, r.fsyncErrors(), "the flusher's EIO reaches the next fsync (errseq): " + r);
    assertEquals(0, r.bytesBounced(), r.toString());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4"})
  void bounceWritesCopiesSoTheDmaInFlightBreaksNoGuard(String fs) {
    Result r = run(fs, "bounce", 4);
    assertTrue(r.bytesBounced() > 0, r.toString());
    assertTrue(r.dmaInFlight() > 0, "the DMA did overlap the writes of the copies: " + r);
    assertEquals(0, r.integrityErrors(), r.toString());
    assertEquals(0, r.fsyncErrors(), r.toString());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4"})
  void waitStallsEveryWritebackUntilTheNicUnpins(String fs) {
    Result r = run(fs, "wait", 4);
    assertEquals(4, r.stalls(), "each round's writeback met a dirty pinned folio: " + r);
    assertEquals(4L * PinnedRangeWorkload.STALL_STEPS, r.stallSteps(), r.toString());
    assertEquals(0, r.dmaInFlight(), "nothing pinned is written while pinned: " + r);
    assertEquals(0, r.integrityErrors(), r.toString());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"flatfs", "ext4"})
  void skipLeavesEveryPinnedFolioOfAFlusherPassUnwritten(String fs) {
    Result r = run(fs, "skip", 1);
    assertEquals(PINNED, r.pinnedSkipped(), r.toString());
    assertEquals((long) PINNED * Page.PAGE_SIZE, r.bytesSkipped(), r.toString());
    assertEquals(0, r.dmaInFlight(), "no write carried a pinned page's data: " + r);
    assertEquals(0, r.integrityErrors(), r.toString());
    assertEquals(0, r.bytesBounced(), "a flusher pass does not bounce: " + r);
  }

  @Test
  void theSameSeedCountsTheSame() {
    Result a = run("flatfs", "ignore", 2);
    Result b = run("flatfs", "ignore", 2);
    assertEquals(counts(a), counts(b));
  }

  private static List<Long> counts(Result r) {
    return List.of(
        r.bytesWritten(),
        r.bytesBounced(),
        r.integrityErrors(),
        r.fsyncErrors(),
        r.dmaWrites(),
        r.dmaInFlight());
  }

  @Test
  void badInputIsTheKernelsErrno() {
    PinnedRangeWorkload w = new PinnedRangeWorkload(dir);
    assertEquals(
        Errno.ENODEV,
        assertThrows(
                KernelException.class,
                () -> w.run(Config.defaults("nosuchfs", "ignore", 1), () -> false))
            .errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(
                KernelException.class,
                () -> w.run(new Config("flatfs", "ignore", 8, 9, 1, 1), () -> false))
            .errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(
                KernelException.class,
                () -> w.run(Config.defaults("flatfs", "nosuchpolicy", 1), () -> false))
            .errno());
  }
}
