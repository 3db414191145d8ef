package dev.refkern.mm.internal.pagecache;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;

/**
 * The index to pfn store of one page cache, modelled on the XArray ({@code struct xarray}, {@code
 * lib/xarray.c}) that holds {@code mapping->i_pages}: a radix tree of 64-slot nodes with one bitmap
 * per mark ({@code XA_MARK_0..2}), where an interior node's mark bit says "some entry below is
 * marked", so a marked lookup skips unmarked subtrees.
 *
 * <p>Values are pfns ({@code >= 0}); {@link #NONE} means empty. Nothing here allocates on lookup.
 * Not thread-safe: the owner serialises access with its {@code xa_lock}.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class PageCacheTree {
  /** {@code PAGECACHE_TAG_DIRTY} ({@code XA_MARK_0}). */
  public static final int TAG_DIRTY = 0;

  /** {@code PAGECACHE_TAG_WRITEBACK} ({@code XA_MARK_1}). */
  public static final int TAG_WRITEBACK = 1;

  /** {@code PAGECACHE_TAG_TOWRITE} ({@code XA_MARK_2}). */
  public static final int TAG_TOWRITE = 2;

  /** An empty slot. */
  public static final long NONE = -1;

  private static final int TAGS = 3;
  private static final int BITS = 6; // XA_CHUNK_SHIFT
  private static final int MASK = (1 << BITS) - 1;

  private static final class Node {
    final int shift;
    final Node[] kids;
    final long[] vals;
    final long[] tags = new long[TAGS];
    long present;

    Node(int shift) {
      this.shift = shift;
      this.kids = shift > 0 ? new Node[1 << BITS] : null;
      this.vals = shift == 0 ? new long[1 << BITS] : null;
    }
  }

  private Node root;
  private long count;

  /** Number of entries. */
  public long count() {
    return count;
  }

  private static boolean covers(Node n, long index) {
    return n.shift + BITS >= 63 || (index >>> (n.shift + BITS)) == 0;
  }

  private static int slot(Node n, long index) {
    return (int) ((index >>> n.shift) & MASK);
  }

  /** {@code xa_load()}: the value at {@code index}, or {@link #NONE}. */
  public long get(long index) {
    Node n = root;
    if (n == null || index < 0 || !covers(n, index)) {
      return NONE;
    }
    while (true) {
      int s = slot(n, index);
      if ((n.present & (1L << s)) == 0) {
        return NONE;
      }
      if (n.shift == 0) {
        return n.vals[s];
      }
      n = n.kids[s];
    }
  }

  /** {@code xa_insert()}: stores {@code value} if the slot is empty; false if it is occupied. */
  public boolean insert(long index, long value) {
    if (root == null) {
      root = new Node(0);
    }
    while (!covers(root, index)) {
      grow();
    }
    Node n = root;
    while (n.shift > 0) {
      int s = slot(n, index);
      if (n.kids[s] == null) {
        n.kids[s] = new Node(n.shift - BITS);
        n.present |= 1L << s;
      }
      n = n.kids[s];
    }
    int s = slot(n, index);
    if ((n.present & (1L << s)) != 0) {
      return false;
    }
    n.vals[s] = value;
    n.present |= 1L << s;
    count++;
    return true;
  }

  // Adds a level on top, as xas_expand() does; marks of the old root carry up.
  private void grow() {
    Node up = new Node(root.shift + BITS);
    if (root.present != 0) {
      up.kids[0] = root;
      up.present = 1;
      for (int t = 0; t < TAGS; t++) {
        up.tags[t] = root.tags[t] != 0 ? 1 : 0;
      }
    }
    root = up;
  }

  /**
   * {@code xa_store()} over an occupied slot, marks kept; returns the old value or {@link #NONE}.
   */
  public long replace(long index, long value) {
    Node n = root;
    if (n == null || index < 0 || !covers(n, index)) {
      return NONE;
    }
    while (true) {
      int s = slot(n, index);
      if ((n.present & (1L << s)) == 0) {
        return NONE;
      }
      if (n.shift == 0) {
        long old = n.vals[s];
        n.vals[s] = value;
        return old;
      }
      n = n.kids[s];
    }
  }

  /** {@code xa_erase()}: empties the slot and its marks; returns the old value or {@link #NONE}. */
  public long remove(long index) {
    if (root == null || index < 0 || !covers(root, index)) {
      return NONE;
    }
    long r = removeIn(root, index);
    if (root.present == 0) {
      root = null;
    }
    return r;
  }

  private long removeIn(Node n, long index) {
    int s = slot(n, index);
    long b = 1L << s;
    if ((n.present & b) == 0) {
      return NONE;
    }
    if (n.shift == 0) {
      long r = n.vals[s];
      n.vals[s] = 0;
      n.present &= ~b;
      for (int t = 0; t < TAGS; t++) {
        n.tags[t] &= ~b;
      }
      count--;
      return r;
    }
    Node c = n.kids[s];
    long r = removeIn(c, index);
    if (c.present == 0) {
      n.kids[s] = null; // free the empty node, as xas_delete_node() does
      n.present &= ~b;
    }
    for (int t = 0; t < TAGS; t++) {
      if (c.present == 0 || c.tags[t] == 0) {
        n.tags[t] &= ~b;
      }
    }
    return r;
  }

  /** {@code xa_set_mark()} on an occupied slot; false if the slot is empty. */
  public boolean setTag(long index, int tag) {
    if (get(index) == NONE) {
      return false;
    }
    Node n = root;
    while (true) {
      int s = slot(n, index);
      n.tags[tag] |= 1L << s;
      if (n.shift == 0) {
        return true;
      }
      n = n.kids[s];
    }
  }

  /** {@code xa_clear_mark()}. */
  public void clearTag(long index, int tag) {
    if (root != null && index >= 0 && covers(root, index)) {
      clearTagIn(root, index, tag);
    }
  }

  private static void clearTagIn(Node n, long index, int tag) {
    int s = slot(n, index);
    long b = 1L << s;
    if ((n.tags[tag] & b) == 0) {
      return;
    }
    if (n.shift == 0) {
      n.tags[tag] &= ~b;
      return;
    }
    Node c = n.kids[s];
    clearTagIn(c, index, tag);
    if (c.tags[tag] == 0) {
      n.tags[tag] &= ~b;
    }
  }

  /** {@code xa_get_mark()}. */
  public boolean getTag(long index, int tag) {
    Node n = root;
    if (n == null || index < 0 || !covers(n, index)) {
      return false;
    }
    while (true) {
      int s = slot(n, index);
      if ((n.tags[tag] & (1L << s)) == 0) {
        return false;
      }
      if (n.shift == 0) {
        return true;
      }
      n = n.kids[s];
    }
  }

  /** {@code xa_marked()}: whether any entry carries {@code tag}. */
  public boolean tagged(int tag) {
    return root != null && root.tags[tag] != 0;
  }

  /** {@code xa_find()}: the first occupied index in {@code [from, to]}, or {@link #NONE}. */
  public long nextPresent(long from, long to) {
    return next(from, to, -1);
  }

  /** {@code xa_find(..., tag)}: the first index in {@code [from, to]} marked {@code tag}. */
  public long nextTagged(long from, long to, int tag) {
    return next(from, to, tag);
  }

  private long next(long from, long to, int tag) {
    if (root == null || from > to || to < 0) {
      return NONE;
    }
    from = Math.max(from, 0);
    if (!covers(root, from)) {
      return NONE;
    }
    return nextIn(root, 0, from, to, tag);
  }

  private static long nextIn(Node n, long base, long from, long to, int tag) {
    long bits = tag < 0 ? n.present : n.tags[tag];
    int start = from <= base ? 0 : (int) ((from - base) >>> n.shift);
    bits &= -1L << start;
    while (bits != 0) {
      int s = Long.numberOfTrailingZeros(bits);
      long childBase = base + ((long) s << n.shift);
      if (childBase > to) {
        return NONE;
      }
      if (n.shift == 0) {
        return childBase;
      }
      long r = nextIn(n.kids[s], childBase, Math.max(from, childBase), to, tag);
      if (r != NONE) {
        return r;
      }
      bits &= bits - 1;
    }
    return NONE;
  }
}
