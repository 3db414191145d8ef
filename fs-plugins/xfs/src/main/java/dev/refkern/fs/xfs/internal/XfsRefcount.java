package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.xfs.internal.Fmt.Refc;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The reference count btrees of all AGs, {@code libxfs/xfs_refcount.c} (read at v6.6): one record
 * per run of blocks shared by two or more data-fork mappings (a block owned once has no record),
 * split and merged as sharing changes ({@code xfs_refcount_adjust()}), plus the COW staging extents
 * ({@code XFS_REFC_COWFLAG} records, {@code xfs_refcount_alloc_cow_extent()}) so that mount can
 * free them after a crash. Kept in memory by absolute block; {@link #records} gives one AG's
 * records for the commit. Extents never cross an AG, so neither do records.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class XfsRefcount {
  /**
   * {@code xfs_free_extent_later()} as {@link #adjust} calls it: a run whose last reference went
   * away.
   */
  public interface Freed {
    void free(long start, long len);
  }

  private final TreeMap<Long, long[]> shared = new TreeMap<>(); // start -> {len, refcount}
  private final TreeMap<Long, Long> staging = new TreeMap<>(); // start -> len
  private final Fmt.Geo geo;
  private final boolean[] dirty;

  public XfsRefcount(Fmt.Geo geo) {
    this.geo = geo;
    this.dirty = new boolean[geo.agcount()];
  }

  /** Adds a record read from disk. */
  public void load(Refc r) {
    if (r.cow()) {
      staging.put(r.start(), r.len());
    } else {
      shared.put(r.start(), new long[] {r.len(), r.refcount()});
    }
  }

  /** The references to block {@code b}: its record's count, else 1. */
  public long count(long b) {
    Map.Entry<Long, long[]> e = shared.floorEntry(b);
    return e != null && e.getKey() + e.getValue()[0] > b ? e.getValue()[1] : 1;
  }

  /**
   * The end of the run from {@code b} (before {@code limit}) whose blocks are all shared, or all
   * not, as {@code b} is ({@code xfs_reflink_find_shared()}).
   */
  public long runEnd(long b, long limit) {
    Map.Entry<Long, long[]> e = shared.floorEntry(b);
    if (e != null && e.getKey() + e.getValue()[0] > b) {
      long end = e.getKey() + e.getValue()[0];
      while (end < limit) { // adjacent records with other counts are still shared
        long[] nx = shared.get(end);
        if (nx == null) {
          break;
        }
        end += nx[0];
      }
      return Math.min(end, limit);
    }
    Long next = shared.ceilingKey(b);
    return next == null ? limit : Math.min(next, limit);
  }

  /** Whether any block of {@code [start, start + len)} is shared. */
  public boolean anyShared(long start, long len) {
    return runEnd(start, start + len) < start + len || count(start) > 1;
  }

  /**
   * {@code xfs_refcount_adjust()}: adds {@code delta} (+1 or -1) to the count of every block of
   * {@code [start, start + len)}; runs dropping to 0 go to {@code freed}. O(records in the range).
   */
  public void adjust(long start, long len, int delta, Freed freed) {
    long end = start + len;
    split(start);
    split(end);
    dirty[geo.agOf(start)] = true;
    for (long b = start; b < end; ) {
      long[] r = shared.remove(b);
      long rlen;
      long rc;
      if (r != null) {
        rlen = r[0];
        rc = r[1];
      } else {
        Long next = shared.ceilingKey(b);
        rlen = (next == null ? end : Math.min(next, end)) - b;
        rc = 1;
      }
      long nc = rc + delta;
      if (nc >= 2) {
        shared.put(b, new long[] {rlen, nc});
      } else if (nc <= 0 && freed != null) {
        freed.free(b, rlen);
      }
      b += rlen;
    }
    merge(start, end);
  }

  private void split(long x) {
    Map.Entry<Long, long[]> e = shared.lowerEntry(x);
    if (e != null && e.getKey() + e.getValue()[0] > x) {
      long[] v = e.getValue();
      shared.put(x, new long[] {e.getKey() + v[0] - x, v[1]});
      v[0] = x - e.getKey();
    }
  }

  private void merge(long start, long end) {
    Long k = shared.lowerKey(start);
    if (k == null) {
      k = shared.ceilingKey(start);
    }
    while (k != null && k <= end) {
      long[] v = shared.get(k);
      long[] nx = shared.get(k + v[0]);
      if (nx != null && nx[1] == v[1] && v[0] + nx[0] <= Fmt.MAX_EXTLEN) {
        shared.remove(k + v[0]);
        v[0] += nx[0];
      } else {
        k = shared.higherKey(k);
      }
    }
  }

  /** Records a COW staging extent ({@code xfs_refcount_alloc_cow_extent()}). */
  public void addStaging(long start, long len) {
    staging.put(start, len);
    dirty[geo.agOf(start)] = true;
  }

  /** Drops {@code [start, start + len)} from the staging extents, splitting one if needed. */
  public void removeStaging(long start, long len) {
    Map.Entry<Long, Long> e = staging.floorEntry(start);
    if (e == null || e.getKey() + e.getValue() < start + len) {
      throw new IllegalStateException("xfs: no COW staging extent at " + start + "+" + len);
    }
    long s = e.getKey();
    long end = s + e.getValue();
    staging.remove(s);
    if (s < start) {
      staging.put(s, start - s);
    }
    if (start + len < end) {
      staging.put(start + len, end - start - len);
    }
    dirty[geo.agOf(start)] = true;
  }

  /** The staging extents, {start, len} each. */
  public List<long[]> staging() {
    List<long[]> out = new ArrayList<>();
    for (Map.Entry<Long, Long> e : staging.entrySet()) {
      out.add(new long[] {e.getKey(), e.getValue()});
    }
    return out;
  }

  /** Shared records in all AGs. */
  public int sharedRecords() {
    return shared.size();
  }

  /** Whether AG {@code ag}'s records changed since the last {@link #records} of it. */
  public boolean dirty(int ag) {
    return dirty[ag];
  }

  /** AG {@code ag}'s records in block order, COW staging ones included; clears its dirty mark. */
  public List<Refc> records(int ag) {
    long from = geo.agStart(ag);
    long to = from + geo.agLen(ag);
    List<Refc> out = new ArrayList<>();
    for (Map.Entry<Long, long[]> e : shared.subMap(from, to).entrySet()) {
      out.add(new Refc(e.getKey(), e.getValue()[0], e.getValue()[1], false));
    }
    for (Map.Entry<Long, Long> e : staging.subMap(from, to).entrySet()) {
      out.add(new Refc(e.getKey(), e.getValue(), 1, true));
    }
    dirty[ag] = false;
    return out;
  }
}
