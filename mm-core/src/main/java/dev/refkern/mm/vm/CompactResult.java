package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.ZoneType;
import java.util.Arrays;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * What one {@link Compaction#compactZone} run did: the kernel's {@code compact_control} totals
 * ({@code total_migrate_scanned}, {@code total_free_scanned}), the migration outcome, and the
 * zone's {@code /proc/buddyinfo} line before and after.
 *
 * @param zone the zone compacted
 * @param migrateScanned pfns the migrate scanner looked at ({@code compact_migrate_scanned})
 * @param freeScanned pfns the free scanner looked at ({@code compact_free_scanned})
 * @param isolated folios the migrate scanner isolated for migration
 * @param freeIsolated free pages the free scanner took out of the buddy allocator
 * @param migrated folios moved to a page the free scanner found
 * @param failed folios that could not be moved: those found pinned, and every failed migration
 * @param pinnedPfns the failures due to a pin: folios for which {@code folio_maybe_dma_pinned()}
 *     held, or whose migration returned {@code -EAGAIN} (a pin or another extra reference), in scan
 *     order
 * @param freeBlocksBefore free blocks per order before the run
 * @param freeBlocksAfter free blocks per order after the run
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record CompactResult(
    ZoneType zone,
    long migrateScanned,
    long freeScanned,
    long isolated,
    long freeIsolated,
    long migrated,
    long failed,
    long[] pinnedPfns,
    long[] freeBlocksBefore,
    long[] freeBlocksAfter) {

  public CompactResult {
    pinnedPfns = pinnedPfns.clone();
    freeBlocksBefore = freeBlocksBefore.clone();
    freeBlocksAfter = freeBlocksAfter.clone();
  }

  /** Failures due to a pin (or another extra reference): {@code pinnedPfns().length}. */
  public int pinBlocked() {
    return pinnedPfns.length;
  }

  @Override
  public long[] pinnedPfns() {
    return pinnedPfns.clone();
  }

  @Override
  public long[] freeBlocksBefore() {
    return freeBlocksBefore.clone();
  }

  @Override
  public long[] freeBlocksAfter() {
    return freeBlocksAfter.clone();
  }

  /** The highest order with a free block before the run, or -1 if the zone had none. */
  public int largestFreeOrderBefore() {
    return largestOrder(freeBlocksBefore);
  }

  /** The highest order with a free block after the run, or -1 if the zone has none. */
  public int largestFreeOrderAfter() {
    return largestOrder(freeBlocksAfter);
  }

  static int largestOrder(long[] freeByOrder) {
    for (int o = freeByOrder.length - 1; o >= 0; o--) {
      if (freeByOrder[o] > 0) {
        return o;
      }
    }
    return -1;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CompactResult r
        && zone == r.zone
        && migrateScanned == r.migrateScanned
        && freeScanned == r.freeScanned
        && isolated == r.isolated
        && freeIsolated == r.freeIsolated
        && migrated == r.migrated
        && failed == r.failed
        && Arrays.equals(pinnedPfns, r.pinnedPfns)
        && Arrays.equals(freeBlocksBefore, r.freeBlocksBefore)
        && Arrays.equals(freeBlocksAfter, r.freeBlocksAfter);
  }

  @Override
  public int hashCode() {
    int h =
        Objects.hash(zone, migrateScanned, freeScanned, isolated, freeIsolated, migrated, failed);
    h = 31 * h + Arrays.hashCode(pinnedPfns);
    h = 31 * h + Arrays.hashCode(freeBlocksBefore);
    return 31 * h + Arrays.hashCode(freeBlocksAfter);
  }

  @Override
  public String toString() {
    return "CompactResult["
        + zone
        + ": migrate_scanned="
        + migrateScanned
        + " free_scanned="
        + freeScanned
        + " isolated="
        + isolated
        + " free_isolated="
        + freeIsolated
        + " migrated="
        + migrated
        + " failed="
        + failed
        + " pinned="
        + Arrays.toString(pinnedPfns)
        + " buddyinfo "
        + Arrays.toString(freeBlocksBefore)
        + " -> "
        + Arrays.toString(freeBlocksAfter)
        + "]";
  }
}
