package dev.refkern.hmm.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * A device's page table, {@code dmirror->pt} (an xarray in {@code lib/test_hmm.c}): virtual pfn to
 * pfn and tag. Leaves of 512 entries, so a store allocates once per 2 MiB, not per page. Not
 * thread-safe: the owner's mutex guards it, as in the driver.
 */
@API(status = INTERNAL, since = "0.2.0")
public final class DevicePageTable {
  /** The entry's tag, {@code DPT_XA_TAG_WRITE}: the device may write. */
  public static final long TAG_WRITE = 1L;

  /** {@code DPT_XA_TAG_ATOMIC}: the device holds the page exclusively ({@code EXCLUSIVE}). */
  public static final long TAG_ATOMIC = 2L;

  private static final long PRESENT = 4L;
  private static final int SHIFT = 3;
  private static final int LEAF_BITS = 9;
  private static final int LEAF = 1 << LEAF_BITS;

  private final TreeMap<Long, Leaf> leaves = new TreeMap<>();

  // The leaf used last: a driver walks pages in order, so most calls skip the map (and its boxing).
  private long lastKey = -1;
  private Leaf last;

  /** 512 entries and how many of them are present. */
  private static final class Leaf {
    final long[] e = new long[LEAF];
    int used;
  }

  private Leaf leaf(long key, boolean create) {
    if (key == lastKey) {
      return last;
    }
    Leaf l = leaves.get(key);
    if (l == null) {
      if (!create) {
        return null;
      }
      l = new Leaf();
      leaves.put(key, l);
    }
    lastKey = key;
    last = l;
    return l;
  }

  /** {@code xa_store()}: maps virtual pfn {@code vpfn} to {@code pfn} with {@code tag}. */
  public void store(long vpfn, long pfn, long tag) {
    Leaf l = leaf(vpfn >>> LEAF_BITS, true);
    int i = (int) (vpfn & (LEAF - 1));
    if (l.e[i] == 0) {
      l.used++;
    }
    l.e[i] = (pfn << SHIFT) | PRESENT | tag;
  }

  /** {@code xa_load()}: the raw entry, 0 if none. */
  public long load(long vpfn) {
    Leaf l = leaf(vpfn >>> LEAF_BITS, false);
    return l == null ? 0 : l.e[(int) (vpfn & (LEAF - 1))];
  }

  /** True when {@code entry} maps a page. */
  public static boolean present(long entry) {
    return (entry & PRESENT) != 0;
  }

  /** The pfn of an entry. */
  public static long pfn(long entry) {
    return entry >>> SHIFT;
  }

  /** {@code xa_pointer_tag()}. */
  public static long tag(long entry) {
    return entry & (TAG_WRITE | TAG_ATOMIC);
  }

  /** {@code xa_erase()} of every entry in {@code [first, last]} virtual pfns. */
  public void erase(long first, long last) {
    long k0 = first >>> LEAF_BITS;
    long k1 = last >>> LEAF_BITS;
    if (k0 == k1) { // one leaf, as every per-page erase: no map iteration
      Leaf l = leaf(k0, false);
      if (l != null && eraseIn(l, k0, first, last) == 0) {
        drop(k0);
      }
      return;
    }
    Iterator<Map.Entry<Long, Leaf>> it = leaves.subMap(k0, true, k1, true).entrySet().iterator();
    while (it.hasNext()) {
      Map.Entry<Long, Leaf> e = it.next();
      if (eraseIn(e.getValue(), e.getKey(), first, last) == 0) {
        it.remove();
        if (e.getKey() == lastKey) {
          lastKey = -1;
          this.last = null;
        }
      }
    }
  }

  /** Clears the entries of {@code [first, last]} in leaf {@code key}; its entries left. */
  private static int eraseIn(Leaf l, long key, long first, long last) {
    long base = key << LEAF_BITS;
    int lo = (int) Math.max(0, first - base);
    int hi = (int) Math.min(LEAF - 1, last - base);
    for (int i = lo; i <= hi; i++) {
      if (l.e[i] != 0) {
        l.e[i] = 0;
        l.used--;
      }
    }
    return l.used;
  }

  private void drop(long key) {
    leaves.remove(key);
    if (key == lastKey) {
      lastKey = -1;
      last = null;
    }
  }

  /** {@code xa_destroy()}. */
  public void clear() {
    leaves.clear();
    lastKey = -1;
    last = null;
  }
}
