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
  COMPACT_ISOLATED;

  /** The lower-case name {@code /proc/vmstat} uses. */
  public String procName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
