package dev.refkern.examples.lab.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.examples.fs.PinnedFileScenario;
import dev.refkern.examples.fs.PinnedFileScenario.Options;
import dev.refkern.examples.fs.PinnedFileScenario.Outcome;
import dev.refkern.examples.fs.PinnedFileScenario.Workload;
import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import dev.refkern.mm.Page;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apiguardian.api.API;

/**
 * The writeback and truncate workloads of the lab on {@link PinnedFileScenario} with the cell's
 * seeded {@link Workload} (an RDMA NIC's long-term pin of a range of a file, DMA racing its
 * writeback, application writes, a background pass, fsync, optionally a truncate, a seeded power
 * cut, a remount and fsck), and the mapping of its outcome onto a {@link LabRow}: counts are over
 * the whole file.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class PinnedFileCells {
  /** The device every row names. */
  public static final String DEVICE = "rdma-nic";

  private PinnedFileCells() {}

  /**
   * Runs {@code workload} ({@code writeback} or {@code truncate}) of {@code cell} in {@code dir}; a
   * null policy keeps the filesystem's default.
   */
  public static LabRow run(
      LabCell cell, Path dir, String writeback, String truncate, String longterm) {
    boolean trunc = cell.workload().equals("truncate");
    Options o =
        new Options(cell.seed(), writeback, truncate, true, true, trunc, true, cell.fs(), longterm)
            .with(Workload.seeded(cell.seed(), trunc));
    return row(cell, new PinnedFileScenario(dir).run(o));
  }

  /** The row of {@code r}. */
  public static LabRow row(LabCell cell, Outcome r) {
    if (!r.errno().isEmpty()) {
      return new LabRow(
          cell,
          DEVICE,
          r.errno(),
          0,
          0,
          true,
          0,
          0,
          0,
          0,
          r.migrations(),
          r.bugs(),
          r.warns(),
          r.pinsLeaked().size(),
          0,
          0,
          r.fsck().size(),
          0,
          0);
    }
    Options o = r.options();
    PinnedFileScenario.Range range = r.range();
    // blocks the disk caught (a bio's tags) or that a returned fsync left older than the page
    long corrupted = Math.max(r.integrityErrors(), range.stalePages());
    long lost = range.lostPages() * Page.PAGE_SIZE;
    String wb = o.writeback() != null ? o.writeback() : defaultWriteback(o.fs());
    // every policy makes fsync's promise; a loss is within it only when fsync reported an error
    boolean within = lost == 0 || r.fsyncErrno() != 0;
    List<Long> steps = new ArrayList<>(r.stepStallNs());
    Collections.sort(steps);
    long overhead =
        (r.foliosBounced() > 0 ? Page.PAGE_SIZE : 0) // one bounce page at a time
            + ("revoke".equals(o.truncate()) ? Page.PAGE_SIZE : 0) // the NIC's dummy page
            + range.orphanPages() * Page.PAGE_SIZE; // orphans, outside the page cache
    return new LabRow(
        cell,
        DEVICE,
        "",
        corrupted,
        lost,
        within,
        percentile(steps, 50),
        percentile(steps, 99),
        steps.isEmpty() ? 0 : steps.get(steps.size() - 1),
        r.foliosBounced() * Page.PAGE_SIZE,
        r.migrations(),
        r.bugs(),
        r.warns(),
        r.pinsLeaked().size(),
        r.writesLost(),
        r.writesToDummy(),
        r.fsck().size(),
        overhead,
        r.pinNanos());
  }

  /** The filesystem's own {@code pinned_writeback=} default. */
  static String defaultWriteback(String fs) {
    return fs.equals("ext4") ? "wait" : "bounce";
  }

  /** Nearest-rank percentile of sorted {@code v}. */
  static long percentile(List<Long> v, int p) {
    if (v.isEmpty()) {
      return 0;
    }
    int rank = (int) Math.ceil(p / 100.0 * v.size());
    return v.get(Math.max(0, rank - 1));
  }
}
