package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * What one writeback pass is asked to do, {@code struct writeback_control} ({@code
 * include/linux/writeback.h}): the sync mode, a page budget ({@code nr_to_write}, decremented per
 * page written; a {@link WbSyncMode#NONE} pass stops when it reaches 0), a byte range and why the
 * pass runs. Mutable and reused by its caller, as the kernel's on-stack struct is, so a pass
 * allocates nothing per folio.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class WritebackControl {
  /** {@code LLONG_MAX}: the end of a whole-file range. */
  public static final long WHOLE_FILE = Long.MAX_VALUE;

  private WbSyncMode syncMode = WbSyncMode.NONE;
  private long nrToWrite = Long.MAX_VALUE;
  private long rangeStart;
  private long rangeEnd = WHOLE_FILE;
  private long pagesSkipped;
  private boolean forBackground;
  private boolean forKupdate;
  private boolean forReclaim;
  private boolean forSync;

  /** A {@link WbSyncMode#NONE} pass over the whole file with no page limit. */
  public WritebackControl() {}

  /** A pass in {@code mode} over bytes {@code [start, end]} (inclusive), no page limit. */
  public static WritebackControl range(WbSyncMode mode, long start, long end) {
    return new WritebackControl().syncMode(mode).range(start, end);
  }

  /** {@code sync_mode}. */
  public WbSyncMode syncMode() {
    return syncMode;
  }

  public WritebackControl syncMode(WbSyncMode mode) {
    this.syncMode = mode;
    return this;
  }

  /** {@code nr_to_write}: pages still to write in this pass. */
  public long nrToWrite() {
    return nrToWrite;
  }

  public WritebackControl nrToWrite(long pages) {
    this.nrToWrite = pages;
    return this;
  }

  /** {@code range_start}, in bytes. */
  public long rangeStart() {
    return rangeStart;
  }

  /** {@code range_end}, in bytes, inclusive. */
  public long rangeEnd() {
    return rangeEnd;
  }

  /** Sets {@code range_start} and {@code range_end} (bytes, inclusive). */
  public WritebackControl range(long start, long end) {
    this.rangeStart = start;
    this.rangeEnd = end;
    return this;
  }

  /**
   * {@code pages_skipped}: dirty pages this pass left dirty (a pinned folio the policy skipped).
   */
  public long pagesSkipped() {
    return pagesSkipped;
  }

  /** {@code for_background}: the flusher is bringing dirty pages under the background limit. */
  public boolean forBackground() {
    return forBackground;
  }

  public WritebackControl forBackground(boolean b) {
    this.forBackground = b;
    return this;
  }

  /** {@code for_kupdate}: the periodic writeback of inodes dirty for too long. */
  public boolean forKupdate() {
    return forKupdate;
  }

  public WritebackControl forKupdate(boolean b) {
    this.forKupdate = b;
    return this;
  }

  /** {@code for_reclaim}: reclaim's {@code pageout()} writes one folio to free it. */
  public boolean forReclaim() {
    return forReclaim;
  }

  public WritebackControl forReclaim(boolean b) {
    this.forReclaim = b;
    return this;
  }

  /** {@code for_sync}: {@code sync(2)}/{@code syncfs(2)}. */
  public boolean forSync() {
    return forSync;
  }

  public WritebackControl forSync(boolean b) {
    this.forSync = b;
    return this;
  }

  /** {@code wbc->nr_to_write -= nr}, after writing a folio of {@code nr} pages. */
  void wrote(long nr) {
    nrToWrite -= nr;
  }

  /** {@code wbc->pages_skipped += nr}. */
  void skipped(long nr) {
    pagesSkipped += nr;
  }

  /** Resets the per-pass results before a new inode: {@code pages_skipped}. */
  public WritebackControl resetSkipped() {
    pagesSkipped = 0;
    return this;
  }

  @Override
  public String toString() {
    return "writeback_control["
        + syncMode
        + ", nr_to_write="
        + nrToWrite
        + ", range="
        + rangeStart
        + ".."
        + rangeEnd
        + (forBackground ? ", for_background" : "")
        + (forKupdate ? ", for_kupdate" : "")
        + (forReclaim ? ", for_reclaim" : "")
        + (forSync ? ", for_sync" : "")
        + "]";
  }
}
