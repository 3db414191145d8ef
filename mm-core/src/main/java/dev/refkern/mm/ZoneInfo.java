package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A snapshot of one zone ({@code struct zone}) as {@code /proc/zoneinfo} prints it.
 *
 * @param freeByOrder free blocks per order, as {@code /proc/buddyinfo}
 */
@API(status = STABLE, since = "0.1.0")
public record ZoneInfo(
    ZoneType type,
    long startPfn,
    long spannedPages,
    long presentPages,
    long managedPages,
    long freePages,
    long wmarkMin,
    long wmarkLow,
    long wmarkHigh,
    long[] freeByOrder) {

  /** Frames in this zone's pfn range. */
  public long endPfn() {
    return startPfn + spannedPages;
  }
}
