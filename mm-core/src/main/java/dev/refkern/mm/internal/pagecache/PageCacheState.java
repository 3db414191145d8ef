package dev.refkern.mm.internal.pagecache;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.WaitQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.apiguardian.api.API;

/**
 * The page-cache state one machine shares: the registry that turns a memmap {@code mapping} id back
 * into its {@code address_space}, and the hashed folio wait queues ({@code folio_wait_table} in
 * {@code mm/filemap.c}).
 *
 * <p>Lookups by id are lock-free and allocate nothing (an open-addressing table published
 * copy-on-write); registration is rare and copies the table.
 *
 * @param <M> the address space type
 */
@API(status = INTERNAL, since = "0.1.0")
public final class PageCacheState<M> {
  /** {@link #firstTime} site: dirtying a folio that is not uptodate. */
  public static final int WARN_DIRTY_NOT_UPTODATE = 0;

  /** {@link #firstTime} site: removing a dirty folio from the page cache. */
  public static final int WARN_REMOVE_DIRTY = 1;

  // PAGE_WAIT_TABLE_BITS is 8 in the kernel.
  private static final int WAIT_TABLE_BITS = 8;

  private static final class Table {
    final long[] keys;
    final Object[] vals;
    final int size;

    Table(int capacity, int size) {
      this.keys = new long[capacity];
      this.vals = new Object[capacity];
      this.size = size;
    }
  }

  private final Object lock = new Object();
  private volatile Table table = new Table(8, 0);
  private long nextId = 1;
  private volatile WaitQueue[] waitTable;
  private final AtomicInteger warnedOnce = new AtomicInteger();

  private static int hash(long id, int mask) {
    return (int) ((id * 0x9E3779B97F4A7C15L) >>> 40) & mask;
  }

  /** The registered address space with this id, or null. */
  @SuppressWarnings("unchecked")
  public M mapping(long id) {
    if (id <= 0) {
      return null;
    }
    Table t = table;
    int mask = t.keys.length - 1;
    for (int i = hash(id, mask); ; i = (i + 1) & mask) {
      long k = t.keys[i];
      if (k == id) {
        return (M) t.vals[i];
      }
      if (k == 0) {
        return null;
      }
    }
  }

  /** Registers {@code m} under a new id ({@code >= 1}, never reused) and returns the id. */
  public long register(M m) {
    synchronized (lock) {
      long id = nextId++;
      Table old = table;
      table = rebuild(old, id, m, 0);
      return id;
    }
  }

  /** Forgets {@code id}. */
  public void unregister(long id) {
    synchronized (lock) {
      if (mapping(id) != null) {
        table = rebuild(table, 0, null, id);
      }
    }
  }

  private static Table rebuild(Table old, long addId, Object add, long dropId) {
    int size = old.size + (addId != 0 ? 1 : 0) - (dropId != 0 ? 1 : 0);
    int cap = 8;
    while (cap < size * 2) {
      cap <<= 1;
    }
    Table t = new Table(cap, size);
    for (int i = 0; i < old.keys.length; i++) {
      if (old.keys[i] != 0 && old.keys[i] != dropId) {
        put(t, old.keys[i], old.vals[i]);
      }
    }
    if (addId != 0) {
      put(t, addId, add);
    }
    return t;
  }

  private static void put(Table t, long id, Object v) {
    int mask = t.keys.length - 1;
    int i = hash(id, mask);
    while (t.keys[i] != 0) {
      i = (i + 1) & mask;
    }
    t.keys[i] = id;
    t.vals[i] = v;
  }

  /** The hashed folio wait queues, created on first use from {@code scheduler}. */
  public WaitQueue[] waitTable(Scheduler scheduler) {
    WaitQueue[] w = waitTable;
    if (w == null) {
      synchronized (lock) {
        w = waitTable;
        if (w == null) {
          w = new WaitQueue[1 << WAIT_TABLE_BITS];
          for (int i = 0; i < w.length; i++) {
            w[i] = scheduler.newWaitQueue();
          }
          waitTable = w;
        }
      }
    }
    return w;
  }

  /** {@code folio_waitqueue()}: the queue of {@code head} in {@code table}. */
  public static WaitQueue waitQueue(WaitQueue[] table, long head) {
    return table[(int) ((head * 0x9E3779B97F4A7C15L) >>> (64 - WAIT_TABLE_BITS))];
  }

  /** For {@code WARN_ON_ONCE}: true the first time {@code site} (0..31) asks. */
  public boolean firstTime(int site) {
    int bit = 1 << site;
    while (true) {
      int w = warnedOnce.get();
      if ((w & bit) != 0) {
        return false;
      }
      if (warnedOnce.compareAndSet(w, w | bit)) {
        return true;
      }
    }
  }
}
