package dev.refkern.mm;

import static dev.refkern.mm.PageFlags.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.internal.pageops.MemmapOps;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apiguardian.api.API;

/**
 * The LRU lists of the node ({@code struct lruvec}, {@code mm/swap.c}): inactive and active lists
 * for anon and file folios, and the unevictable list, threaded through the memmap's list fields
 * under one {@code lru_lock}. New folios reach them through per-thread batches ({@code folio_batch}
 * of {@code lru_add}), each holding a reference until drained.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LruVec {
  /** {@code enum lru_list}. */
  public enum LruList {
    INACTIVE_ANON,
    ACTIVE_ANON,
    INACTIVE_FILE,
    ACTIVE_FILE,
    UNEVICTABLE
  }

  /** {@code FOLIO_BATCH_SIZE}. */
  static final int BATCH = 15;

  private static final LruList[] LISTS = LruList.values();

  /** {@code lru_isolate} policy: off every list for a pin; the pin count sits in the list links. */
  static final int PIN_ISOLATED = LISTS.length + 1;

  private long drainAllCalls;

  private final MemmapOps memmap;
  private final PageAllocator alloc;
  private final Object lruLock = new Object();
  private final long[] head = {-1, -1, -1, -1, -1};
  private final long[] tail = {-1, -1, -1, -1, -1};
  private final long[] size = new long[LISTS.length];
  // insertion-ordered, so that draining all batches is deterministic under the simulation
  private final List<Batch> batches = new CopyOnWriteArrayList<>();
  private final ThreadLocal<Batch> batch =
      ThreadLocal.withInitial(
          () -> {
            Batch b = new Batch();
            batches.add(b);
            return b;
          });

  private static final class Batch {
    final long[] pfns = new long[BATCH];
    int n;
  }

  LruVec(MemmapOps memmap, PageAllocator alloc) {
    this.memmap = memmap;
    this.alloc = alloc;
  }

  /** The list a folio belongs on, by its flags ({@code folio_lru_list()}). */
  LruList listFor(long head) {
    long f = memmap.flags(head);
    if ((f & (bit(PG_UNEVICTABLE) | bit(PG_MLOCKED))) != 0) {
      return LruList.UNEVICTABLE;
    }
    boolean active = (f & bit(PG_ACTIVE)) != 0;
    if ((f & bit(PG_SWAPBACKED)) != 0) {
      return active ? LruList.ACTIVE_ANON : LruList.INACTIVE_ANON;
    }
    return active ? LruList.ACTIVE_FILE : LruList.INACTIVE_FILE;
  }

  /** Folios on {@code list} now (batched folios not counted until drained). */
  public long size(LruList list) {
    synchronized (lruLock) {
      return size[list.ordinal()];
    }
  }

  /** {@code folio_test_lru()}. */
  public boolean onLru(long pfn) {
    memmap.checkPfn(pfn);
    return memmap.testFlag(memmap.compoundHead(pfn), PG_LRU);
  }

  /**
   * Which list the folio is on, or null (also while the {@code lru_isolate} policy holds it off).
   */
  public LruList listOf(long pfn) {
    memmap.checkPfn(pfn);
    int s = memmap.lruState(memmap.compoundHead(pfn));
    return s == 0 || s == PIN_ISOLATED ? null : LISTS[s - 1];
  }

  /** Calls of {@code lru_add_drain_all()}, each a walk over every CPU's batch. */
  public long drainAllCalls() {
    synchronized (lruLock) {
      return drainAllCalls;
    }
  }

  /** True while the {@code lru_isolate} policy keeps the folio off the LRU for a pin. */
  public boolean pinIsolated(long head) {
    return memmap.lruState(head) == PIN_ISOLATED;
  }

  /**
   * {@code lru_isolate}: the folio leaves its list (or is kept from reaching one) and counts {@code
   * refs} more pins in its now unused list links. A folio still in a per-CPU batch needs {@code
   * lru_add_drain_all()} first, which a speculative (gup_fast) caller cannot do: it fails then.
   */
  public boolean pinIsolate(long head, int refs, boolean speculative) {
    synchronized (lruLock) {
      if (pinIsolated(head)) {
        memmap.setLruPrev(head, memmap.lruPrev(head) + refs);
        return true;
      }
      if (memmap.testFlag(head, PG_LRU)) {
        unlink(head);
        memmap.setLruState(head, PIN_ISOLATED);
        memmap.setLruPrev(head, refs - 1);
        return true;
      }
    }
    if (speculative) {
      return false;
    }
    lruAddDrainAll();
    synchronized (lruLock) {
      drainAllCalls++;
      if (memmap.testFlag(head, PG_LRU)) {
        unlink(head);
      } else if (pinIsolated(head)) {
        memmap.setLruPrev(head, memmap.lruPrev(head) + refs);
        return true;
      }
      // off the LRU (isolated by reclaim or migration, or never added): keep it off from now on
      memmap.setLruState(head, PIN_ISOLATED);
      memmap.setLruPrev(head, refs - 1);
      return true;
    }
  }

  /** Drops {@code refs} pins; the last one puts the folio back on its list. False if not pinned. */
  public boolean pinRelease(long head, int refs) {
    synchronized (lruLock) {
      if (!pinIsolated(head) || memmap.lruPrev(head) + 1 < refs) {
        return false;
      }
      long left = memmap.lruPrev(head) + 1 - refs;
      if (left > 0) {
        memmap.setLruPrev(head, left - 1);
        return true;
      }
      memmap.setLruPrev(head, -1);
      memmap.setLruState(head, 0);
      link(head, listFor(head));
      return true;
    }
  }

  /** {@code folio_add_lru()}: batched with a reference, drained when the batch fills. */
  public void folioAddLru(long pfn) {
    memmap.checkPfn(pfn);
    long h = memmap.compoundHead(pfn);
    alloc.getPage(h);
    Batch b = batch.get();
    synchronized (b) {
      b.pfns[b.n++] = h;
      if (b.n < BATCH) {
        return;
      }
    }
    drain(b);
  }

  /** {@code lru_add_drain()}: this thread's batch onto the lists. */
  public void lruAddDrain() {
    drain(batch.get());
  }

  /** {@code lru_add_drain_all()}: every thread's batch. */
  public void lruAddDrainAll() {
    for (Batch b : batches) {
      drain(b);
    }
  }

  private void drain(Batch b) {
    long[] taken;
    int n;
    synchronized (b) {
      n = b.n;
      if (n == 0) {
        return;
      }
      taken = b.pfns.clone();
      b.n = 0;
    }
    synchronized (lruLock) {
      for (int i = 0; i < n; i++) {
        if (!memmap.testFlag(taken[i], PG_LRU) && !pinIsolated(taken[i])) {
          link(taken[i], listFor(taken[i]));
        }
      }
    }
    for (int i = 0; i < n; i++) {
      alloc.putPage(taken[i]); // the batch's reference; may free the folio (off the LRU first)
    }
  }

  /** Adds at the head; caller holds the lru_lock. */
  private void link(long pfn, LruList l) {
    int i = l.ordinal();
    memmap.setLruPrev(pfn, -1);
    memmap.setLruNext(pfn, head[i]);
    if (head[i] >= 0) {
      memmap.setLruPrev(head[i], pfn);
    } else {
      tail[i] = pfn;
    }
    head[i] = pfn;
    size[i]++;
    memmap.setLruState(pfn, i + 1);
    memmap.setFlag(pfn, PG_LRU);
  }

  /** Removes from its list; caller holds the lru_lock. */
  private void unlink(long pfn) {
    int i = memmap.lruState(pfn) - 1;
    long prev = memmap.lruPrev(pfn);
    long next = memmap.lruNext(pfn);
    if (prev >= 0) {
      memmap.setLruNext(prev, next);
    } else {
      head[i] = next;
    }
    if (next >= 0) {
      memmap.setLruPrev(next, prev);
    } else {
      tail[i] = prev;
    }
    memmap.setLruPrev(pfn, -1);
    memmap.setLruNext(pfn, -1);
    memmap.setLruState(pfn, 0);
    memmap.clearFlag(pfn, PG_LRU);
    size[i]--;
  }

  /**
   * {@code __page_cache_release()}, called by the page allocator: a folio whose last reference
   * dropped leaves its list and loses the LRU-only flags ({@code __folio_clear_lru_flags()}).
   */
  void release(long pfn) {
    if (memmap.testFlag(pfn, PG_LRU)) {
      synchronized (lruLock) {
        if (memmap.testFlag(pfn, PG_LRU)) {
          unlink(pfn);
        }
      }
    }
    memmap.clearFlag(pfn, PG_ACTIVE);
    memmap.clearFlag(pfn, PG_UNEVICTABLE);
    memmap.setLruState(pfn, 0);
  }

  /** {@code folio_isolate_lru()}: off its list with a reference taken; false if not on one. */
  public boolean isolate(long pfn) {
    long h = memmap.compoundHead(pfn);
    synchronized (lruLock) {
      if (!memmap.testFlag(h, PG_LRU) || !memmap.refTryAdd(h, 1)) {
        return false;
      }
      unlink(h);
      return true;
    }
  }

  /**
   * {@code folio_putback_lru()}: back on the list its flags say, dropping the isolation reference.
   */
  public void putback(long pfn) {
    synchronized (lruLock) {
      if (!memmap.testFlag(pfn, PG_LRU) && !pinIsolated(pfn)) {
        link(pfn, listFor(pfn));
      }
    }
    alloc.putPage(pfn);
  }

  /**
   * {@code isolate_lru_folios()}: takes up to {@code max} folios from the tail of {@code list} into
   * {@code out}, each with a reference. Returns how many.
   */
  public int isolateFromTail(LruList list, int max, long[] out) {
    int n = 0;
    synchronized (lruLock) {
      long pfn = tail[list.ordinal()];
      while (pfn >= 0 && n < max) {
        long prev = memmap.lruPrev(pfn);
        if (memmap.refTryAdd(pfn, 1)) {
          unlink(pfn);
          out[n++] = pfn;
        }
        pfn = prev;
      }
    }
    return n;
  }
}
