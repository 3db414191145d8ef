package dev.refkern.hmm.internal;

import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * A device's page table, {@code dmirror->pt} (an xarray in {@code lib/test_hmm.c}): virtual pfn to
 * pfn and tag. Leaves of 512 entries, so a store allocates once per 2 MiB, not per page. Not
 * thread-safe: the owner's mutex guards it, as in the driver.
 */
public final class DevicePageTable {
  /** The entry's tag, {@code DPT_XA_TAG_WRITE}: the device may write. */
  public static final long TAG_WRITE = 1L;

  /** {@code DPT_XA_TAG_ATOMIC}: the device holds the page exclusively ({@code EXCLUSIVE}). */
  public static final long TAG_ATOMIC = 2L;

  private static final long PRESENT = 4L;
  private static final int SHIFT = 3;
  private static final int LEAF_BITS = 9;
  private static final int LEAF = 1 << LEAF_BITS;

  private final TreeMap<Long, long[]> leaves = new TreeMap<>();

  /** {@code xa_store()}: maps virtual pfn {@code vpfn} to {@code pfn} with {@code tag}. */
  public void store(long vpfn, long pfn, long tag) {
    long[] leaf = leaves.computeIfAbsent(vpfn >>> LEAF_BITS, k -> new long[LEAF]);
    leaf[(int) (vpfn & (LEAF - 1))] = (pfn << SHIFT) | PRESENT | tag;
  }

  /** {@code xa_load()}: the raw entry, 0 if none. */
  public long load(long vpfn) {
    long[] leaf = leaves.get(vpfn >>> LEAF_BITS);
    return leaf == null ? 0 : leaf[(int) (vpfn & (LEAF - 1))];
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
    Iterator<Map.Entry<Long, long[]>> it =
        leaves.subMap(first >>> LEAF_BITS, true, last >>> LEAF_BITS, true).entrySet().iterator();
    while (it.hasNext()) {
      Map.Entry<Long, long[]> e = it.next();
      long base = e.getKey() << LEAF_BITS;
      long[] leaf = e.getValue();
      int lo = (int) Math.max(0, first - base);
      int hi = (int) Math.min(LEAF - 1, last - base);
      boolean empty = true;
      for (int i = 0; i < LEAF; i++) {
        if (i >= lo && i <= hi) {
          leaf[i] = 0;
        }
        empty &= leaf[i] == 0;
      }
      if (empty) {
        it.remove();
      }
    }
  }

  /** {@code xa_destroy()}. */
  public void clear() {
    leaves.clear();
  }
}
