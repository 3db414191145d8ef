package dev.refkern.fs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.sched.Clock;
import dev.refkern.mm.sched.Workqueue;
import dev.refkern.mm.vm.PageWriteback;
import dev.refkern.mm.vm.WbSyncMode;
import dev.refkern.mm.vm.WritebackControl;
import java.util.ArrayDeque;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apiguardian.api.API;

/**
 * One superblock's flusher, {@code struct bdi_writeback} ({@code fs/fs-writeback.c}): the dirty
 * inode lists {@code b_dirty}, {@code b_io} and {@code b_more_io}, each inode's {@code
 * dirtied_when}, and {@code wb_workfn()} on the {@code writeback} workqueue doing periodic ({@code
 * for_kupdate}) and background writeback.
 *
 * <p>An inode goes on {@code b_dirty} when the VFS dirties its pages ({@link #markInodeDirty},
 * {@code __mark_inode_dirty(I_DIRTY_PAGES)}). Pages dirtied through a shared mapping are dirtied in
 * mm-core ({@code folio_mark_dirty()}), which must not call up into the VFS: the flusher finds
 * those inodes by scanning the superblock's inodes for the mapping's dirty tag each time it runs,
 * with {@code dirtied_when} = the time it found them.
 *
 * <p>Locking: the lists are under this object's monitor ({@code wb->list_lock}), never held across
 * a write or a {@code queue_work()}, so the simulation can switch threads there.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class BdiWriteback {
  /**
   * {@code MAX_WRITEBACK_PAGES} (pre-3.2; today {@code MIN_WRITEBACK_PAGES}, 4 MiB): how many pages
   * a {@code WB_SYNC_NONE} pass writes from one inode before moving on to the next.
   */
  public static final long MAX_WRITEBACK_PAGES = 1024;

  /** An inode on the lists: {@code inode->i_io_list} and {@code dirtied_when}. */
  private static final class WbInode {
    final Inode inode;
    long dirtiedWhen;
    ArrayDeque<WbInode> list; // the list it is on, null while being written

    WbInode(Inode inode, long dirtiedWhen) {
      this.inode = inode;
      this.dirtiedWhen = dirtiedWhen;
    }
  }

  /** {@code struct wb_writeback_work}: one pass's budget and purpose. */
  private static final class Work {
    long nrPages;
    final WbSyncMode syncMode;
    final boolean forKupdate;
    final boolean forBackground;
    final boolean forSync;

    Work(long nrPages, WbSyncMode mode, boolean kupdate, boolean background, boolean sync) {
      this.nrPages = nrPages;
      this.syncMode = mode;
      this.forKupdate = kupdate;
      this.forBackground = background;
      this.forSync = sync;
    }
  }

  private final SuperBlock sb;
  private final PageWriteback pageWriteback;
  private final Clock clock;
  private final Workqueue wq;
  private final DirtyLimits limits;
  private final Runnable workfn = this::wbWorkfn;
  // newest at the head (list_add), oldest at the tail, as the kernel's lists
  private final ArrayDeque<WbInode> bDirty = new ArrayDeque<>();
  private final ArrayDeque<WbInode> bIo = new ArrayDeque<>();
  private final ArrayDeque<WbInode> bMoreIo = new ArrayDeque<>();
  private final Map<Inode, WbInode> tracked = new IdentityHashMap<>();
  private long lastOldFlush;
  private boolean stopped;
  private boolean backgroundRequested;
  private long pagesWritten;
  private long kupdateRuns;
  private long backgroundRuns;

  /** What the flusher asks of the global dirty state ({@code wb_over_bg_thresh()}). */
  public interface DirtyLimits {
    /** {@code wb_over_bg_thresh()}: dirty pages above the background threshold. */
    boolean overBackgroundThresh();
  }

  /** {@code wb_init()}: the flusher of {@code sb}, queueing its work on {@code wq}. */
  public BdiWriteback(
      SuperBlock sb, PageWriteback pageWriteback, Clock clock, Workqueue wq, DirtyLimits limits) {
    this.sb = sb;
    this.pageWriteback = pageWriteback;
    this.clock = clock;
    this.wq = wq;
    this.limits = limits;
    this.lastOldFlush = clock.jiffies();
  }

  public SuperBlock sb() {
    return sb;
  }

  private long writebackInterval() {
    return Clock.msecsToJiffies(
        sb.vm().physicalMemory().params().dirtySysctls().dirtyWritebackCentisecs() * 10L);
  }

  private long expireInterval() {
    return Clock.msecsToJiffies(
        sb.vm().physicalMemory().params().dirtySysctls().dirtyExpireCentisecs() * 10L);
  }

  /**
   * {@code __mark_inode_dirty(inode, I_DIRTY_PAGES)}: puts a clean inode on {@code b_dirty} with
   * {@code dirtied_when} = now and, if the lists were empty, arms the periodic writeback ({@code
   * wb_wakeup_delayed()}).
   */
  public void markInodeDirty(Inode inode) {
    boolean wake;
    synchronized (this) {
      if (stopped || tracked.containsKey(inode)) {
        return;
      }
      wake = tracked.isEmpty();
      WbInode wi = new WbInode(inode, clock.jiffies());
      tracked.put(inode, wi);
      move(wi, bDirty);
    }
    if (wake) {
      wakeupDelayed();
    }
  }

  private void wakeupDelayed() {
    long interval = writebackInterval();
    if (interval > 0) {
      wq.queueDelayedWork(workfn, interval);
    }
  }

  /** {@code wb_start_background_writeback()}: runs the flusher now, unless already asked to. */
  public void startBackgroundWriteback() {
    synchronized (this) {
      if (stopped || backgroundRequested) {
        return;
      }
      backgroundRequested = true;
    }
    wq.cancelWork(workfn); // mod_delayed_work(bdi_wq, &wb->dwork, 0)
    wq.queueWork(workfn);
  }

  /** Inodes on the lists ({@code wb_has_dirty_io()}). */
  public synchronized int nrDirtyInodes() {
    return tracked.size();
  }

  /** Whether {@code inode} is on one of the lists. */
  public synchronized boolean isTracked(Inode inode) {
    return tracked.containsKey(inode);
  }

  /** Dirty and writeback pages of the inodes on the lists (this bdi's share). */
  public synchronized long dirtyPages() {
    long n = 0;
    for (WbInode wi : tracked.values()) {
      AddressSpace m = wi.inode.mapping();
      n += m.nrDirty() + m.nrWriteback();
    }
    return n;
  }

  public synchronized long pagesWritten() {
    return pagesWritten;
  }

  public synchronized long kupdateRuns() {
    return kupdateRuns;
  }

  public synchronized long backgroundRuns() {
    return backgroundRuns;
  }

  /** {@code wb_workfn()}: background, then periodic writeback, then re-arms while dirty. */
  private void wbWorkfn() {
    synchronized (this) {
      if (stopped) {
        return;
      }
    }
    scanMappedDirty();
    boolean bg;
    synchronized (this) {
      bg = backgroundRequested;
    }
    if (bg || limits.overBackgroundThresh()) { // wb_check_background_flush()
      synchronized (this) {
        backgroundRuns++;
      }
      wbWriteback(new Work(Long.MAX_VALUE, WbSyncMode.NONE, false, true, false));
    }
    synchronized (this) {
      backgroundRequested = false;
    }
    checkOldDataFlush();
    boolean more;
    synchronized (this) {
      more = !stopped && !tracked.isEmpty();
    }
    if (more) {
      wakeupDelayed();
    }
  }

  /** {@code wb_check_old_data_flush()}: kupdate every {@code dirty_writeback_interval}. */
  private void checkOldDataFlush() {
    long interval = writebackInterval();
    if (interval == 0) {
      return;
    }
    synchronized (this) {
      if (clock.jiffies() - (lastOldFlush + interval) < 0) {
        return;
      }
      lastOldFlush = clock.jiffies();
      kupdateRuns++;
    }
    wbWriteback(new Work(Long.MAX_VALUE, WbSyncMode.NONE, true, false, false));
  }

  /**
   * {@code sync_inodes_sb()} ({@code WB_SYNC_ALL}, {@code for_sync}) or {@code
   * writeback_inodes_sb()} ({@code WB_SYNC_NONE}): every inode dirty now, whatever its age.
   */
  public void writebackAll(WbSyncMode mode, boolean forSync) {
    scanMappedDirty();
    wbWriteback(new Work(Long.MAX_VALUE, mode, false, false, forSync));
  }

  /**
   * {@code wb_writeback()}: fills {@code b_io} ({@code queue_io()}) and writes it ({@code
   * writeback_sb_inodes()}) until the budget is spent, nothing is left, or a background pass is
   * under the threshold. Writes are synchronous, so a pass without progress ends instead of waiting
   * for inodes under writeback.
   */
  private void wbWriteback(Work work) {
    WritebackControl wbc = new WritebackControl(); // one per pass, not per folio
    BooleanSupplier over = limits::overBackgroundThresh;
    while (work.nrPages > 0) {
      if (work.forBackground && !over.getAsBoolean()) {
        break;
      }
      long dirtiedBefore = work.forKupdate ? clock.jiffies() - expireInterval() : clock.jiffies();
      synchronized (this) {
        if (stopped) {
          return;
        }
        if (bIo.isEmpty()) {
          queueIo(dirtiedBefore);
        }
      }
      if (writebackSbInodes(work, wbc, dirtiedBefore) == 0) {
        break;
      }
    }
  }

  /**
   * {@code queue_io()}: {@code b_more_io} back onto {@code b_io}, then the inodes of {@code
   * b_dirty} dirtied no later than {@code dirtiedBefore} ({@code move_expired_inodes()}), oldest
   * first.
   */
  private void queueIo(long dirtiedBefore) {
    while (!bMoreIo.isEmpty()) {
      WbInode wi = bMoreIo.pollLast();
      wi.list = bIo;
      bIo.addFirst(wi);
    }
    while (!bDirty.isEmpty() && bDirty.peekLast().dirtiedWhen - dirtiedBefore <= 0) {
      WbInode wi = bDirty.pollLast();
      wi.list = bIo;
      bIo.addFirst(wi);
    }
  }

  /**
   * {@code writeback_sb_inodes()}: writes the inodes of {@code b_io}, oldest first, each with a
   * {@code nr_to_write} of {@link #MAX_WRITEBACK_PAGES} ({@code WB_SYNC_ALL}: everything), then
   * {@code requeue_inode()}.
   *
   * @return pages written
   */
  private long writebackSbInodes(Work work, WritebackControl wbc, long dirtiedBefore) {
    long wroteAll = 0;
    while (true) {
      WbInode wi;
      synchronized (this) {
        if (stopped) {
          break;
        }
        wi = bIo.pollLast();
        if (wi == null) {
          break;
        }
        wi.list = null;
      }
      long chunk =
          work.syncMode == WbSyncMode.ALL
              ? Long.MAX_VALUE
              : Math.min(MAX_WRITEBACK_PAGES, Math.max(work.nrPages, 1));
      wbc.syncMode(work.syncMode)
          .nrToWrite(chunk)
          .range(0, WritebackControl.WHOLE_FILE)
          .forKupdate(work.forKupdate)
          .forBackground(work.forBackground)
          .forSync(work.forSync)
          .resetSkipped();
      AddressSpace mapping = wi.inode.mapping();
      pageWriteback.doWritepages(mapping, wbc); // __writeback_single_inode(); errors in errseq
      long wrote = chunk - wbc.nrToWrite();
      work.nrPages -= wrote;
      wroteAll += wrote;
      synchronized (this) {
        pagesWritten += wrote;
        requeueInode(wi, wbc);
      }
      if (wrote > 0 && work.nrPages <= 0) {
        break;
      }
    }
    return wroteAll;
  }

  /**
   * {@code requeue_inode()}: a clean inode leaves the lists; one whose slice ran out goes to {@code
   * b_more_io} ({@code requeue_io()}); one with pages left for another reason (skipped pinned
   * folios) back to {@code b_dirty} ({@code redirty_tail()}).
   */
  private void requeueInode(WbInode wi, WritebackControl wbc) {
    if (wi.list != null || tracked.get(wi.inode) != wi) {
      return; // moved meanwhile
    }
    if (!wi.inode.mapping().taggedDirty()) {
      tracked.remove(wi.inode); // inode_cattle: clean
      return;
    }
    if (wbc.nrToWrite() <= 0) {
      move(wi, bMoreIo);
    } else {
      redirtyTail(wi);
    }
  }

  /** {@code redirty_tail()}: back to {@code b_dirty}, keeping it sorted by {@code dirtied_when}. */
  private void redirtyTail(WbInode wi) {
    WbInode newest = bDirty.peekFirst();
    if (newest != null && wi.dirtiedWhen - newest.dirtiedWhen < 0) {
      wi.dirtiedWhen = clock.jiffies();
    }
    move(wi, bDirty);
  }

  private void move(WbInode wi, ArrayDeque<WbInode> to) {
    if (wi.list != null) {
      wi.list.remove(wi);
    }
    wi.list = to;
    to.addFirst(wi);
  }

  /** Puts inodes whose pages were dirtied through a mapping (not seen by the VFS) on the lists. */
  private void scanMappedDirty() {
    for (Inode i : sb.inodes()) {
      AddressSpace m = i.mapping();
      if (m != null && m.taggedDirty()) {
        markInodeDirty(i);
      }
    }
  }

  /**
   * {@code wb_shutdown()}: no more work for this superblock; the inodes leave the lists. The caller
   * wrote them back first ({@code sync_filesystem()}).
   */
  public void shutdown() {
    synchronized (this) {
      stopped = true;
      tracked.clear();
      bDirty.clear();
      bIo.clear();
      bMoreIo.clear();
    }
    wq.cancelWork(workfn);
  }
}
