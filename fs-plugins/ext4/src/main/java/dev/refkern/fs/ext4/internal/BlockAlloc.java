package dev.refkern.fs.ext4.internal;

import static dev.refkern.fs.ext4.internal.Disk.setBit;
import static dev.refkern.fs.ext4.internal.Disk.testBit;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.ext4.internal.Disk.Geometry;
import java.util.BitSet;
import org.apiguardian.api.API;

/**
 * ext4's free-cluster accounting and multi-block allocator, cut down: {@code
 * s_freeclusters_counter}, {@code s_dirtyclusters_counter} (blocks reserved by delayed allocation,
 * {@code ext4_da_reserve_space()}), {@code s_resv_clusters} (kept back for metadata, {@code
 * ext4_calculate_resv_clusters()}) and {@code ext4_mb_new_blocks()} as a first-fit search for a
 * contiguous run ({@code fs/ext4/balloc.c}, {@code fs/ext4/mballoc.c}, read at v6.6).
 *
 * <p>It works on the mounted filesystem's in-memory block bitmaps and marks the bitmap blocks it
 * changes in {@code dirty}, so they reach the disk with the rest of the metadata.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class BlockAlloc {
  private final Geometry geo;
  private final byte[][] bitmaps;
  private final BitSet dirty;
  private final long resv;
  private long free;
  private long reserved;
  private int lastLen;
  // ext4_mb_free_metadata(): with a journal, a freed block is not reused before the transaction
  // that frees it commits, or a crash would leave the committed owner reading the new data
  private boolean deferReuse;
  private final BitSet freedLoose = new BitSet(); // freed, not yet in the running transaction
  private final BitSet freedRunning = new BitSet(); // freed in the running transaction

  BlockAlloc(Geometry geo, byte[][] bitmaps, BitSet dirty) {
    this.geo = geo;
    this.bitmaps = bitmaps;
    this.dirty = dirty;
    // ext4_calculate_resv_clusters(): 2% or 4096, here at least 8 so a tiny image keeps some
    this.resv = Math.min(4096, Math.max(8, geo.blocks() / 50));
  }

  /** With a journal: freed blocks wait for their transaction's commit before reuse. */
  void deferReuse() {
    deferReuse = true;
  }

  /** The bitmaps went into the running transaction: what was freed so far commits with it. */
  void journalled() {
    freedRunning.or(freedLoose);
    freedLoose.clear();
  }

  /** {@code ext4_free_data_in_buddy()} at commit: the running transaction's frees are reusable. */
  void committed() {
    freedRunning.clear();
  }

  /** Whether {@code b} is free in the bitmap but waits for a commit. */
  boolean busy(long b) {
    return deferReuse && (freedLoose.get((int) b) || freedRunning.get((int) b));
  }

  /** Counts the free blocks of the bitmaps ({@code ext4_count_free_clusters()}). */
  void count() {
    long f = 0;
    for (int g = 0; g < geo.groups(); g++) {
      for (long b = geo.groupStart(g); b < geo.groupEnd(g); b++) {
        f += testBit(bitmaps[g], b - geo.groupStart(g)) ? 0 : 1;
      }
    }
    free = f;
  }

  /** {@code s_freeclusters_counter}: free blocks in the bitmaps. */
  public long free() {
    return free;
  }

  /** {@code s_dirtyclusters_counter}: blocks reserved for delayed allocation. */
  public long reserved() {
    return reserved;
  }

  /** {@code s_resv_clusters}. */
  public long resv() {
    return resv;
  }

  /**
   * {@code ext4_claim_free_clusters()}: reserves {@code n} blocks for data if that leaves the
   * metadata reserve alone.
   */
  boolean claim(long n) {
    if (free - reserved - resv < n) {
      return false;
    }
    reserved += n;
    return true;
  }

  /** {@code ext4_da_release_space()}: {@code n} reserved blocks are no longer needed. */
  void release(long n) {
    reserved -= n;
  }

  /** Whether {@code n} blocks with no reservation may be taken, for data or for metadata. */
  boolean mayTake(long n, boolean metadata) {
    return free - reserved - (metadata ? 0 : resv) >= n;
  }

  /** A block was set in a bitmap ({@code ext4_mb_mark_diskspace_used()}). */
  void took(long n) {
    free -= n;
  }

  /** A block was cleared in a bitmap ({@code ext4_free_blocks()}). */
  void gave(long n) {
    free += n;
  }

  /** Length of the run {@link #allocRun} last returned. */
  int lastLen() {
    return lastLen;
  }

  /**
   * {@code ext4_mb_new_blocks()}: marks used and returns the first block of a free run of {@code
   * want} blocks at or after {@code goal} (wrapping), or of the longest run found if none is that
   * long; 0 if nothing is free. The run's length is {@link #lastLen}.
   */
  long allocRun(long goal, int want) {
    long b = allocRun(goal, want, true);
    // ext4 would force a commit and retry (ext4_should_retry_alloc()); here the blocks waiting
    // for one are taken only when nothing else is free
    return b != 0 || !deferReuse ? b : allocRun(goal, want, false);
  }

  private long allocRun(long goal, int want, boolean skipBusy) {
    long total = geo.blocks();
    long bestStart = 0;
    int bestLen = 0;
    long runStart = -1;
    int runLen = 0;
    long start = goal <= 0 || goal >= total ? 0 : goal;
    for (long n = 0; n <= total && bestLen < want; n++) {
      long b = (start + n) % total;
      if (b == 0 && n > 0) {
        runStart = -1; // a run does not wrap
        runLen = 0;
      }
      int g = (int) (b / geo.blocksPerGroup());
      boolean used =
          n == total || testBit(bitmaps[g], b - geo.groupStart(g)) || skipBusy && busy(b);
      if (!used) {
        if (runStart < 0) {
          runStart = b;
          runLen = 0;
        }
        runLen++;
        if (runLen > bestLen) {
          bestStart = runStart;
          bestLen = runLen;
        }
      } else {
        runStart = -1;
      }
    }
    if (bestLen == 0) {
      lastLen = 0;
      return 0;
    }
    for (long b = bestStart; b < bestStart + bestLen; b++) {
      int g = (int) (b / geo.blocksPerGroup());
      setBit(bitmaps[g], b - geo.groupStart(g), true);
      dirty.set((int) geo.blockBitmap(g));
    }
    free -= bestLen;
    lastLen = bestLen;
    return bestStart;
  }

  /** {@code ext4_free_blocks()}: clears {@code count} blocks from {@code p} in the bitmaps. */
  void freeRun(long p, int count) {
    for (long b = p; b < p + count; b++) {
      if (b <= 0 || b >= geo.blocks()) {
        continue;
      }
      int g = (int) (b / geo.blocksPerGroup());
      if (testBit(bitmaps[g], b - geo.groupStart(g))) {
        setBit(bitmaps[g], b - geo.groupStart(g), false);
        dirty.set((int) geo.blockBitmap(g));
        free++;
        if (deferReuse) {
          freedLoose.set((int) b);
        }
      }
    }
  }
}
