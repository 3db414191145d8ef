package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.Locale;
import org.apiguardian.api.API;

/**
 * A {@code /proc/vmstat} counter ({@code enum node_stat_item}, {@code enum vm_event_item}): the
 * ones refkern models. {@link #procName()} is the name {@code /proc/vmstat} prints.
 */
@API(status = STABLE, since = "0.1.0")
public enum VmItem {
  NR_FREE_PAGES,
  /** {@code NR_FILE_DIRTY} ({@code nr_dirty}): page-cache pages with {@code PG_dirty}. */
  NR_DIRTY,
  /** {@code NR_WRITEBACK} ({@code nr_writeback}): page-cache pages under writeback. */
  NR_WRITEBACK,
  NR_FOLL_PIN_ACQUIRED,
  NR_FOLL_PIN_RELEASED,
  PGALLOC_NORMAL,
  PGALLOC_MOVABLE,
  PGFREE,
  ALLOCSTALL,
  PGSTEAL,
  PAGEOUTRUN,
  PSWPIN,
  PSWPOUT,
  PGMIGRATE_SUCCESS,
  PGMIGRATE_FAIL,
  PGFAULT,
  PGMAJFAULT,
  THP_FAULT_ALLOC,
  COMPACT_MIGRATE_SCANNED,
  COMPACT_FREE_SCANNED,
  COMPACT_ISOLATED,
  /**
   * refkern's own, not in mainline: bytes of page-cache folios whose writeback failed and that were
   * marked clean anyway (as ext4/xfs/btrfs do), so their data is lost; the error went to the
   * mapping's {@code errseq_t}.
   */
  WB_LOST_BYTES;

  /** The lower-case name {@code /proc/vmstat} uses. */
  public String procName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
