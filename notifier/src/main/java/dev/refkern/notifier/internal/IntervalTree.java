package dev.refkern.notifier.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * Closed intervals of unsigned addresses with overlap queries, the role of {@code struct
 * rb_root_cached} with {@code interval_tree_iter_first()}/{@code _next()} in {@code
 * mm/mmu_notifier.c}.
 *
 * <p>Entries are kept sorted by unsigned start, so a query stops at the first entry that starts
 * after it. Not thread-safe: the caller holds its own lock, as the kernel holds {@code
 * subscriptions->lock}. Several entries may share an interval; values are compared by identity.
 *
 * @param <T> the value stored with each interval
 */
@API(status = INTERNAL, since = "0.1.0")
public final class IntervalTree<T> {

  private record Node<T>(long start, long last, T value) {}

  private final ArrayList<Node<T>> nodes = new ArrayList<>();

  /**
   * Adds an interval, {@code interval_tree_insert()}.
   *
   * @param start first address
   * @param last last address, inclusive, unsigned {@code >= start}
   * @param value the value
   */
  public void insert(long start, long last, T value) {
    if (Long.compareUnsigned(start, last) > 0) {
      throw new IllegalArgumentException("last before start");
    }
    int i = upperBound(start);
    nodes.add(i, new Node<>(start, last, value));
  }

  /**
   * Removes the entry holding {@code value}, {@code interval_tree_remove()}.
   *
   * @param start the start it was inserted with
   * @param value the value, by identity
   * @return whether it was there
   */
  public boolean remove(long start, T value) {
    for (int i = lowerBound(start); i < nodes.size() && nodes.get(i).start() == start; i++) {
      if (nodes.get(i).value() == value) {
        nodes.remove(i);
        return true;
      }
    }
    return false;
  }

  /**
   * Every value whose interval meets {@code [first, last]}, in order of start.
   *
   * @param first first address of the query
   * @param last last address of the query, inclusive
   * @return the values, a new list
   */
  public List<T> overlapping(long first, long last) {
    List<T> out = new ArrayList<>();
    int end = upperBound(last);
    for (int i = 0; i < end; i++) {
      Node<T> n = nodes.get(i);
      if (Long.compareUnsigned(n.last(), first) >= 0) {
        out.add(n.value());
      }
    }
    return out;
  }

  /**
   * How many intervals there are.
   *
   * @return the count
   */
  public int size() {
    return nodes.size();
  }

  /** Index of the first node whose start is unsigned-greater than or equal to {@code key}. */
  private int lowerBound(long key) {
    int lo = 0;
    int hi = nodes.size();
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (Long.compareUnsigned(nodes.get(mid).start(), key) < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /** Index of the first node whose start is unsigned-greater than {@code key}. */
  private int upperBound(long key) {
    int lo = 0;
    int hi = nodes.size();
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (Long.compareUnsigned(nodes.get(mid).start(), key) <= 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
}
