package dev.refkern.mm.internal.pagecache;

import static dev.refkern.mm.PageFlags.PG_DIRTY;
import static dev.refkern.mm.PageFlags.PG_WRITEBACK;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_DIRTY;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_TOWRITE;
import static dev.refkern.mm.internal.pagecache.PageCacheTree.TAG_WRITEBACK;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.internal.pageops.MemmapOps;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.apiguardian.api.API;

/**
 * The private fields of one {@code struct address_space}: {@code i_pages} (the tree and its {@code
 * xa_lock}), {@code flags}, {@code nrpages} and the dirty/writeback counts. mm-core's filemap,
 * truncate, page-writeback and migrate code reach it through {@code MmInternals}; the page-cache
 * accounting that {@code FolioOps} also needs lives here, so both share one copy.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class AddressSpaceState {
  /** {@code mapping->i_pages.xa_lock}: never held across a sleep. */
  public final Object xaLock = new Object();

  /** {@code mapping->i_pages}. */
  public final PageCacheTree tree = new PageCacheTree();

  /** {@code mapping->flags}: {@code AS_*} bits. */
  public final AtomicLong flags = new AtomicLong();

  /** This mapping's share of {@code NR_FILE_DIRTY}. */
  public final AtomicLong nrDirty = new AtomicLong();

  /** This mapping's share of {@code NR_WRITEBACK}. */
  public final AtomicLong nrWriteback = new AtomicLong();

  /** {@code mapping->nrpages}; written under {@link #xaLock}. */
  public volatile long nrPages;

  /** The id folios of this mapping carry in the memmap's {@code mapping} field. */
  public final long id;

  private final MemmapOps memmap;
  private final PageCacheState<?> machine;
  private final LongAdder machineDirty;
  private final LongAdder machineWriteback;

  /**
   * The state of the mapping registered as {@code id} in {@code machine}, whose dirty and writeback
   * pages also count in the machine-wide {@code NR_FILE_DIRTY} and {@code NR_WRITEBACK}.
   */
  public AddressSpaceState(
      long id,
      MemmapOps memmap,
      PageCacheState<?> machine,
      LongAdder machineDirty,
      LongAdder machineWriteback) {
    this.id = id;
    this.memmap = memmap;
    this.machine = machine;
    this.machineDirty = machineDirty;
    this.machineWriteback = machineWriteback;
  }

  /** Adds {@code nr} (negative to remove) to this mapping's and the machine's dirty pages. */
  public void addDirty(long nr) {
    nrDirty.addAndGet(nr);
    machineDirty.add(nr);
  }

  /** Adds {@code nr} to this mapping's and the machine's pages under writeback. */
  public void addWriteback(long nr) {
    nrWriteback.addAndGet(nr);
    machineWriteback.add(nr);
  }

  /** Sets {@code AS_*} bit {@code bit}. */
  public void setFlag(int bit) {
    flags.getAndUpdate(f -> f | (1L << bit));
  }

  /** Clears {@code AS_*} bit {@code bit} and returns whether it was set. */
  public boolean testAndClearFlag(int bit) {
    return (flags.getAndUpdate(f -> f & ~(1L << bit)) & (1L << bit)) != 0;
  }

  /** {@code WARN_ON_ONCE} bookkeeping shared by the whole machine's page cache. */
  public boolean firstTime(int site) {
    return machine.firstTime(site);
  }

  /** {@code clear_inode()}: the mapping id no longer resolves. */
  public void unregister() {
    machine.unregister(id);
  }

  /**
   * The accounting half of {@code __folio_mark_dirty()}: if {@code head} is still in this cache,
   * counts it dirty and tags it. The caller has just set {@code PG_dirty}.
   *
   * @return true if it was accounted
   */
  public boolean accountDirtied(long head) {
    synchronized (xaLock) {
      if (memmap.mapping(head) != id) {
        return false;
      }
      addDirty(1 << memmap.folioOrder(head));
      tree.setTag(memmap.index(head), TAG_DIRTY);
      return true;
    }
  }

  /** {@code folio_account_cleaned()}: {@code head} of this cache lost {@code PG_dirty}. */
  public void accountCleaned(long head) {
    addDirty(-(1 << memmap.folioOrder(head)));
  }

  /** The mapping half of {@code __folio_start_writeback()}: sets {@code PG_writeback}. */
  public void startWriteback(long head) {
    synchronized (xaLock) {
      memmap.setFlag(head, PG_WRITEBACK);
      if (memmap.mapping(head) != id) {
        return;
      }
      long index = memmap.index(head);
      tree.setTag(index, TAG_WRITEBACK);
      if (!memmap.testFlag(head, PG_DIRTY)) {
        tree.clearTag(index, TAG_DIRTY);
      }
      tree.clearTag(index, TAG_TOWRITE);
      addWriteback(1 << memmap.folioOrder(head));
    }
  }

  /** The mapping half of {@code __folio_end_writeback()}: clears {@code PG_writeback}. */
  public void endWriteback(long head) {
    synchronized (xaLock) {
      memmap.clearFlag(head, PG_WRITEBACK);
      if (memmap.mapping(head) == id) {
        tree.clearTag(memmap.index(head), TAG_WRITEBACK);
        addWriteback(-(1 << memmap.folioOrder(head)));
      }
    }
  }

  /**
   * This mapping's {@code dev.refkern.mm.vm.PinnedWritebackDecision} (the mount's {@code
   * pinned_writeback=}), null for the booted policy. Typed Object: this package sits below vm.
   */
  public volatile Object pinnedWriteback;

  /**
   * Likewise its {@code PinnedTruncateDecision} ({@code pinned_truncate=}), null for the boot's.
   */
  public volatile Object pinnedTruncate; // last: keeps the frozen ArchUnit store's lines
}
