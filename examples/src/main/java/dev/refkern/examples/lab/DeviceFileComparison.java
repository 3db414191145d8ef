package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.fs.DeviceFileScenario;
import dev.refkern.mm.Page;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apiguardian.api.API;

/**
 * {@code compare device-file}: seed 004's GPU writing file pages it migrated into device-private
 * memory, on ext4 and xfs, under every {@code hmm.file_pages=} policy ({@link DeviceFileScenario}).
 *
 * <p>Per cell: a sparse file of {@link #PAGES} pages mapped {@code MAP_SHARED}; the GPU migrates
 * each page to its memory and writes it; in every round a flusher pass ({@code WB_SYNC_NONE}) meets
 * pages the device is writing, and the round ends in {@code fsync}. The number of fsync'd rounds (1
 * to 3) comes from the seed, then one more round is written without {@code fsync} and the disk
 * loses power: the power-cut point is seeded. A fresh kernel mounts the image, reads every page and
 * the filesystem's fsck checks it. Both kernels boot {@code sched=sim:SEED}.
 *
 * <p>Columns: under {@code off} the GPU's writes fail (mainline's {@code migrate_vma_pages()}
 * refuses page-cache folios), so the row carries the DMA's errno and nothing was acknowledged;
 * under {@code migrate_back} and {@code bounce} {@code bytesLost} counts fsync'd pages the fresh
 * kernel did not read back (the promise is that there are none). {@code corruptedBlocks} counts
 * pages read back as no write of the device (torn). Stalls are the flusher passes and fsyncs,
 * migrations back included, on the scheduler's clock; {@code migrations} counts pages moved to the
 * device and back; {@code memoryOverheadBytes} the most bytes one writeback pass bounced (the
 * bounce pages held at once); {@code nsPerPin} the wall-clock cost of one device page write,
 * migration to device memory included.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class DeviceFileComparison implements Comparison {
  /** Pages of the GPU's file. */
  public static final int PAGES = 8;

  @Override
  public String name() {
    return "device-file";
  }

  @Override
  public String question() {
    return "What happens to a GPU's writes into file pages in device memory when writeback, fsync"
        + " and a power cut meet them (seed 004)?";
  }

  @Override
  public String policyParam() {
    return "hmm.file_pages";
  }

  /** The scenario's options for {@code cell}: the seeded power-cut point, the simulated CPU. */
  public static DeviceFileScenario.Options options(LabCell cell) {
    int syncedRounds = 1 + (int) Long.remainderUnsigned(cell.seed(), 3);
    return new DeviceFileScenario.Options(
        cell.seed(),
        cell.policy(),
        cell.fs(),
        PAGES,
        syncedRounds,
        true,
        true,
        true,
        "sim:" + Long.toUnsignedString(cell.seed()));
  }

  @Override
  public LabRow run(LabCell cell, Path scratch) {
    return row(cell, new DeviceFileScenario(scratch).run(options(cell)));
  }

  /** The lab's columns of one scenario outcome. */
  static LabRow row(LabCell cell, DeviceFileScenario.Outcome o) {
    boolean refused = o.deviceWrites() == 0 && o.dmaFailed() > 0;
    List<Long> stalls = new ArrayList<>(o.stallsNs());
    Collections.sort(stalls);
    long attempts = o.deviceWrites() + o.dmaFailed();
    return new LabRow(
        cell,
        "gpu",
        refused ? String.valueOf(o.dmaErrno()) : "",
        o.tornPages(),
        (long) o.syncedLost() * Page.PAGE_SIZE,
        o.syncedLost() == 0,
        percentile(stalls, 50),
        percentile(stalls, 99),
        stalls.isEmpty() ? 0 : stalls.get(stalls.size() - 1),
        o.policyStats().get("bytes_bounced"),
        o.policyStats().get("file_pages_to_device") + o.policyStats().get("migrations_back"),
        o.bugs(),
        o.warns(),
        o.violations().size(),
        0,
        0,
        o.fsck().size(),
        o.peakBouncedPerPass(),
        attempts == 0 ? 0 : (double) o.deviceWriteWallNs() / attempts);
  }

  /** The nearest-rank percentile {@code p} of sorted {@code xs}, 0 for none. */
  static long percentile(List<Long> xs, int p) {
    if (xs.isEmpty()) {
      return 0;
    }
    int rank = (int) Math.ceil(p / 100.0 * xs.size());
    return xs.get(Math.max(0, Math.min(xs.size() - 1, rank - 1)));
  }
}
