package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import org.apiguardian.api.API;

/**
 * The generic page-table walker ({@code mm/pagewalk.c}, read in Linux 6.12): {@link #walkPageRange}
 * visits a range VMA by VMA and PMD by PMD, calling {@link MmWalkOps}' callbacks with the
 * page-table lock held where the kernel holds it, so callers never take it by hand.
 *
 * <p>Deviations: {@code pmd_entry} is called with the page-table lock held (the kernel's callbacks
 * take it themselves with {@code pmd_trans_huge_lock()}); a missing PUD or PGD table is one hole of
 * depth 2, up to the next 1 GiB boundary.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PageWalk {
  /** {@code enum page_walk_action}: descend to the next level (the default). */
  public static final int ACTION_SUBTREE = 0;

  /** Go on with the next entry at this level, skipping the subtree. */
  public static final int ACTION_CONTINUE = 1;

  /** Call the callback again for this entry. */
  public static final int ACTION_AGAIN = 2;

  private static final long PUD_SIZE = 1L << 30;

  private final HugeMemory huge;

  PageWalk(HugeMemory huge) {
    this.huge = huge;
  }

  /**
   * {@code struct mm_walk}: the state of one walk, handed to each callback. Valid only during the
   * callback.
   */
  public static final class MmWalk {
    private final MmStruct mm;
    private final Object priv;
    private Vma vma;
    private int action;
    private long[] table;
    private int index;

    MmWalk(MmStruct mm, Object priv) {
      this.mm = mm;
      this.priv = priv;
    }

    /** The address space walked. */
    public MmStruct mm() {
      return mm;
    }

    /** The VMA of the current range, null in a hole between VMAs. */
    public Vma vma() {
      return vma;
    }

    /** {@code walk->private}: the caller's object. */
    public Object priv() {
      return priv;
    }

    /** {@code walk->action}, set by a {@code pmd_entry} callback. */
    public void setAction(int action) {
      this.action = action;
    }

    /**
     * {@code set_pte_at()} on the entry a {@code pte_entry} callback is visiting; in a {@code
     * pmd_entry} callback, {@code set_pmd_at()} on the huge PMD.
     */
    public void setPte(long pte) {
      if (table == null) {
        throw new IllegalStateException("setPte outside pte_entry or pmd_entry");
      }
      PageTable.set(table, index, pte);
    }
  }

  /**
   * {@code walk_page_range()}: walks {@code [start, end)} of {@code mm}; the caller holds {@code
   * mmap_lock}. Returns 0, or the first non-zero value a callback returned.
   */
  public int walkPageRange(MmStruct mm, long start, long end, MmWalkOps ops, Object priv) {
    if (start >= end || (start & ~PAGE_MASK) != 0 || (end & ~PAGE_MASK) != 0) {
      throw new KernelException(Errno.EINVAL, "walk_page_range: bad range");
    }
    MmWalk walk = new MmWalk(mm, priv);
    long addr = start;
    while (addr < end) {
      Vma vma = mm.vmaContaining(addr);
      long next;
      int err;
      if (vma == null) {
        Long after = mm.vmas.ceilingKey(addr);
        next = after == null ? end : Math.min(end, after);
        walk.vma = null;
        err = ops.pteHole() == null ? 0 : ops.pteHole().apply(addr, next, -1, walk);
      } else {
        next = Math.min(end, vma.end);
        walk.vma = vma;
        err = walkPmdRange(walk, addr, next, ops);
      }
      if (err != 0) {
        return err;
      }
      addr = next;
    }
    return 0;
  }

  private int walkPmdRange(MmWalk walk, long addr, long end, MmWalkOps ops) {
    MmStruct mm = walk.mm;
    while (addr < end) {
      PageTable.Pmd pmd = mm.pgtable.pmd(addr);
      if (pmd == null) {
        long next = Math.min(end, (addr & -PUD_SIZE) + PUD_SIZE);
        int err = ops.pteHole() == null ? 0 : ops.pteHole().apply(addr, next, 2, walk);
        if (err != 0) {
          return err;
        }
        addr = next;
        continue;
      }
      long next = Math.min(end, (addr & PageTable.PMD_MASK) + PageTable.PMD_SIZE);
      int hi = PageTable.pmdIndex(addr);
      int err = 0;
      walk.action = ACTION_SUBTREE;
      mm.ptl.lock();
      try {
        long h = PageTable.get(pmd.huge, hi);
        if (h == 0 && PageTable.pteTable(pmd, addr) == null) {
          walk.action = ACTION_CONTINUE; // pmd_none()
          if (ops.pteHole() != null) {
            err = ops.pteHole().apply(addr, next, 3, walk);
          }
        } else if (ops.pmdEntry() != null) {
          walk.table = pmd.huge;
          walk.index = hi;
          err = ops.pmdEntry().apply(h, addr, next, walk);
        }
      } finally {
        walk.table = null;
        mm.ptl.unlock();
      }
      if (err != 0) {
        return err;
      }
      if (walk.action == ACTION_AGAIN) {
        continue;
      }
      if (walk.action == ACTION_CONTINUE || ops.pteEntry() == null) {
        addr = next;
        continue;
      }
      huge.splitHugePmd(mm, addr); // nothing to do unless the PMD is huge
      err = walkPteRange(walk, pmd, addr, next, ops.pteEntry());
      if (err != 0) {
        return err;
      }
      addr = next;
    }
    return 0;
  }

  /** {@code walk_pte_range()}: each pte under {@code pte_offset_map_lock()}. */
  private static int walkPteRange(
      MmWalk walk, PageTable.Pmd pmd, long addr, long end, MmWalkOps.PteEntry fn) {
    MmStruct mm = walk.mm;
    mm.ptl.lock();
    try {
      long[] t = PageTable.pteTable(pmd, addr);
      if (t == null) {
        return 0; // zapped since the PMD was looked at
      }
      walk.table = t;
      for (long a = addr; a < end; a += PAGE_SIZE) {
        walk.index = PageTable.pteIndex(a);
        int err = fn.apply(PageTable.get(t, walk.index), a, a + PAGE_SIZE, walk);
        if (err != 0) {
          return err;
        }
      }
      return 0;
    } finally {
      walk.table = null;
      mm.ptl.unlock();
    }
  }

  // ---------------------------------------------------------------- one pte

  /** A pte's new value, computed under the page-table lock from its old one. */
  @FunctionalInterface
  interface PteUpdate {
    long update(MmStruct mm, long addr, long pte);
  }

  /**
   * The pte mapping {@code addr}, under the page-table lock, as {@code page_vma_mapped_walk()}
   * finds it for rmap, inside a one-page notifier range of {@code event} (none if null): {@code fn}
   * returns its new value. False if no pte table covers {@code addr}, or a notifier refused the
   * range (which is then not ended, as the kernel does).
   */
  static boolean updatePte(MmStruct mm, long addr, MmuNotifierEvent event, PteUpdate fn) {
    MmuNotifierRange r = null;
    if (event != null) {
      r =
          MmuNotifierRange.init(
              event, MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE, mm, addr, addr + PAGE_SIZE);
      if (mm.notifiers.invalidateRangeStart(r) != 0) {
        return false;
      }
    }
    boolean found = false;
    mm.ptl.lock();
    try {
      PageTable.Pmd pmd = mm.pgtable.pmd(addr);
      long[] t = pmd == null ? null : PageTable.pteTable(pmd, addr);
      if (t != null) {
        int i = PageTable.pteIndex(addr);
        long e = PageTable.get(t, i);
        long n = fn.update(mm, addr, e);
        if (n != e) {
          PageTable.set(t, i, n);
        }
        found = true;
      }
    } finally {
      mm.ptl.unlock();
    }
    if (r != null) {
      mm.notifiers.invalidateRangeEnd(r);
    }
    return found;
  }
}
