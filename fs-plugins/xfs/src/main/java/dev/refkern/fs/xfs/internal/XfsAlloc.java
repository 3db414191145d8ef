package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apiguardian.api.API;

/**
 * One allocation group's free space ({@code xfs_alloc.c}, read at v6.6): the free extents indexed
 * by start block (the bnobt) and by length then start (the cntbt). {@link #alloc} is {@code
 * xfs_alloc_ag_vextent_near()}/{@code _size()} cut down: the extent at the target if it is free,
 * else the smallest free extent that is long enough, nearest the target among equals, else the
 * longest; {@link #free} merges with both neighbours ({@code xfs_free_ag_extent()}).
 */
@API(status = INTERNAL, since = "0.1.0")
public final class XfsAlloc {
  private final TreeMap<Long, Long> bno = new TreeMap<>();
  private final TreeSet<long[]> cnt =
      new TreeSet<>((a, b) -> a[1] != b[1] ? Long.compare(a[1], b[1]) : Long.compare(a[0], b[0]));
  private long freeblks;

  /** Adds a free extent read from disk (no merging: fsck compares what is there). */
  public void load(long start, long len) {
    bno.put(start, len);
    cnt.add(new long[] {start, len});
    freeblks += len;
  }

  public long freeblks() {
    return freeblks;
  }

  public long longest() {
    return cnt.isEmpty() ? 0 : cnt.last()[1];
  }

  /**
   * Allocates up to {@code want} blocks, at least {@code minlen}, near {@code target}.
   *
   * @return {start, len}, or null if no free extent has {@code minlen}
   */
  public long[] alloc(long target, long want, long minlen) {
    Map.Entry<Long, Long> at = bno.floorEntry(target);
    if (at != null && at.getKey() + at.getValue() > target) { // exact: contiguous with the last
      long len = Math.min(want, at.getKey() + at.getValue() - target);
      if (len >= minlen && (len == want || len >= longest())) {
        take(at.getKey(), at.getValue(), target, len);
        return new long[] {target, len};
      }
    }
    long[] best = cnt.ceiling(new long[] {Long.MIN_VALUE, want});
    if (best != null) { // best fit by size; among equal lengths the nearest the target
      for (long[] e : cnt.tailSet(best, true)) {
        if (e[1] != best[1]) {
          break;
        }
        if (Math.abs(e[0] - target) < Math.abs(best[0] - target)) {
          best = e;
        }
      }
    } else if (!cnt.isEmpty() && cnt.last()[1] >= minlen) {
      best = cnt.last();
    } else {
      return null;
    }
    long len = Math.min(want, best[1]);
    take(best[0], best[1], best[0], len);
    return new long[] {best[0], len};
  }

  private void take(long start, long len, long from, long n) {
    remove(start, len);
    if (from > start) {
      insert(start, from - start);
    }
    if (from + n < start + len) {
      insert(from + n, start + len - from - n);
    }
    freeblks -= n;
  }

  /** Frees {@code [start, start + len)}, merging it with free neighbours. */
  public void free(long start, long len) {
    freeblks += len;
    Map.Entry<Long, Long> left = bno.floorEntry(start);
    if (left != null && left.getKey() + left.getValue() == start) {
      remove(left.getKey(), left.getValue());
      start = left.getKey();
      len += left.getValue();
    }
    Long right = bno.get(start + len);
    if (right != null) {
      remove(start + len, right);
      len += right;
    }
    insert(start, len);
  }

  /** Whether any block of {@code [start, start + len)} is free. */
  public boolean anyFree(long start, long len) {
    Map.Entry<Long, Long> e = bno.floorEntry(start + len - 1);
    return e != null && e.getKey() + e.getValue() > start;
  }

  private void insert(long start, long len) {
    bno.put(start, len);
    cnt.add(new long[] {start, len});
  }

  private void remove(long start, long len) {
    bno.remove(start);
    cnt.remove(new long[] {start, len});
  }

  /** The free extents in block order (the bnobt's records). */
  public List<Fmt.Free> byBno() {
    List<Fmt.Free> out = new ArrayList<>(bno.size());
    for (Map.Entry<Long, Long> e : bno.entrySet()) {
      out.add(new Fmt.Free(e.getKey(), e.getValue()));
    }
    return out;
  }
}
