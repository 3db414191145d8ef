package dev.refkern.fs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.fs.internal.BdiWriteback;
import dev.refkern.fs.internal.Tmpfs;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.DirtySysctls;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.LruVec.LruList;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.sched.Clock;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.WaitQueue;
import dev.refkern.mm.sched.Workqueue;
import dev.refkern.mm.vm.PageWriteback;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.WbSyncMode;
import dev.refkern.mm.vm.WritebackControl;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * The flusher and dirty throttling, {@code fs/fs-writeback.c} and the VFS half of {@code
 * mm/page-writeback.c}: one {@code bdi_writeback} per superblock that writes back (tmpfs has none,
 * {@code noop_backing_dev_info}), on the {@code writeback} workqueue ({@code bdi_wq}) of the
 * injected scheduler, with its clock; {@code balance_dirty_pages()}; {@code sync(2)}, {@code
 * syncfs(2)} and the generic {@code fsync} with errseq error reporting.
 *
 * <p>Thresholds follow {@code domain_dirty_limits()}: {@code vm.dirty_ratio} and {@code
 * vm.dirty_background_ratio} percent of dirtyable memory (free pages plus file LRU pages, {@code
 * global_dirtyable_memory()}); a background threshold not below the limit becomes half of it.
 * Throttling uses the simpler pre-3.2 model rather than today's pos_ratio feedback: above the
 * freerun ceiling ({@code (background + limit) / 2}) the writer wakes background writeback; above
 * the limit it pauses on the clock, 1 jiffy doubling up to {@link #MAX_PAUSE}, until under it. It
 * stops pausing when its superblock has no dirty pages the flusher could clean (the rest are
 * another filesystem's, such as tmpfs pages, which the kernel does not count as dirty), or when a
 * {@code MAX_PAUSE} pause saw no progress (pinned folios a policy keeps dirty), rather than hang.
 * The check runs once per {@code write(2)}, not per page ({@code ratelimit_pages}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Writeback {
  /** {@code MAX_PAUSE}: the longest single pause of a throttled writer, 200 ms. */
  public static final long MAX_PAUSE = Math.max(Clock.HZ / 5, 1);

  private final VirtualMemory vm;
  private final PhysicalMemory mem;
  private final PageWriteback pageWriteback;
  private final Scheduler sched;
  private final Clock clock;
  private final DirtySysctls sysctls;
  private final Map<SuperBlock, BdiWriteback> wbs = new IdentityHashMap<>();
  private final AtomicLong pauses = new AtomicLong();
  private final AtomicLong pausedJiffies = new AtomicLong();
  private final WaitQueue pauseWait;
  private Workqueue wq; // bdi_wq, allocated with the first flusher
  private boolean shutDown;

  Writeback(VirtualMemory vm) {
    this.vm = vm;
    this.mem = vm.physicalMemory();
    this.pageWriteback = vm.pageWriteback();
    this.sched = mem.scheduler();
    this.clock = sched.clock();
    this.sysctls = mem.params().dirtySysctls();
    this.pauseWait = sched.newWaitQueue();
  }

  /** The {@code vm.dirty_*} values in force. */
  public DirtySysctls sysctls() {
    return sysctls;
  }

  /** The flusher of {@code sb}, created on first use; null for tmpfs, which never writes back. */
  synchronized BdiWriteback wbFor(SuperBlock sb) {
    if (shutDown || sb.type() instanceof Tmpfs) {
      return null;
    }
    BdiWriteback wb = wbs.get(sb);
    if (wb == null) {
      if (wq == null) {
        wq = sched.allocWorkqueue("writeback");
      }
      wb = new BdiWriteback(sb, pageWriteback, clock, wq, this::overBackgroundThresh);
      wbs.put(sb, wb);
    }
    return wb;
  }

  private synchronized List<BdiWriteback> all() {
    return new ArrayList<>(wbs.values());
  }

  // ---------------------------------------------------------------- limits

  /** {@code global_dirtyable_memory()}: free pages plus file LRU pages. */
  public long dirtyableMemory() {
    return mem.allocator().nrFreePages()
        + vm.lru().size(LruList.INACTIVE_FILE)
        + vm.lru().size(LruList.ACTIVE_FILE);
  }

  /** {@code global_dirty_limits()}'s background threshold, in pages. */
  public long backgroundThresh() {
    long avail = dirtyableMemory();
    long bg = avail * sysctls.dirtyBackgroundRatio() / 100;
    long thresh = avail * sysctls.dirtyRatio() / 100;
    return bg >= thresh ? thresh / 2 : bg;
  }

  /** {@code global_dirty_limits()}'s dirty threshold, in pages. */
  public long dirtyThresh() {
    return dirtyableMemory() * sysctls.dirtyRatio() / 100;
  }

  /** {@code NR_FILE_DIRTY + NR_WRITEBACK}. */
  public long nrDirtyAndWriteback() {
    return mem.vmstat().get(VmItem.NR_DIRTY) + mem.vmstat().get(VmItem.NR_WRITEBACK);
  }

  private boolean overBackgroundThresh() {
    return mem.vmstat().get(VmItem.NR_DIRTY) > backgroundThresh();
  }

  // ---------------------------------------------------------------- the write path

  /**
   * What {@code generic_perform_write()} does after dirtying pages of {@code inode}: {@code
   * __mark_inode_dirty(I_DIRTY_PAGES)} then {@code balance_dirty_pages_ratelimited()}. May sleep:
   * call it holding no lock.
   */
  public void dirtied(Inode inode) {
    BdiWriteback wb = wbFor(inode.sb());
    if (wb == null) {
      return; // no BDI_CAP_WRITEBACK: never throttled
    }
    wb.markInodeDirty(inode);
    balanceDirtyPages(wb);
  }

  /** {@code balance_dirty_pages()}, the pre-3.2 model described above. */
  private void balanceDirtyPages(BdiWriteback wb) {
    long pause = 1;
    while (true) {
      long dirty = nrDirtyAndWriteback();
      long bg = backgroundThresh();
      long thresh = dirtyThresh();
      if (dirty <= (bg + thresh) / 2) {
        return; // dirty_freerun_ceiling
      }
      wb.startBackgroundWriteback();
      if (dirty <= thresh) {
        return;
      }
      long mine = wb.dirtyPages();
      if (mine == 0) {
        return; // nothing the flusher could clean
      }
      sleep(pause);
      if (pause == MAX_PAUSE && wb.dirtyPages() >= mine) {
        return; // no progress at the longest pause: the rest stays dirty (pinned, skipped)
      }
      pause = Math.min(pause * 2, MAX_PAUSE);
    }
  }

  /** {@code io_schedule_timeout()}: sleeps {@code jiffies} on the clock, woken by a timer. */
  private void sleep(long jiffies) {
    Workqueue q;
    synchronized (this) {
      q = wq;
    }
    long deadline = clock.jiffies() + jiffies;
    Runnable timer = () -> pauseWait.wakeAll(); // a new work item per pause: each has its timer
    q.queueDelayedWork(timer, jiffies);
    pauseWait.await(() -> clock.jiffies() - deadline >= 0);
    pauses.incrementAndGet();
    pausedJiffies.addAndGet(jiffies);
  }

  /** Times a writer paused in {@code balance_dirty_pages()}. */
  public long pauses() {
    return pauses.get();
  }

  /** Total jiffies writers paused in {@code balance_dirty_pages()}. */
  public long pausedJiffies() {
    return pausedJiffies.get();
  }

  /** Inodes on {@code sb}'s dirty lists; 0 without a flusher. */
  public int nrDirtyInodes(SuperBlock sb) {
    BdiWriteback wb;
    synchronized (this) {
      wb = wbs.get(sb);
    }
    return wb == null ? 0 : wb.nrDirtyInodes();
  }

  /** Pages {@code sb}'s flusher has written (periodic, background and sync passes). */
  public long pagesWritten(SuperBlock sb) {
    BdiWriteback wb;
    synchronized (this) {
      wb = wbs.get(sb);
    }
    return wb == null ? 0 : wb.pagesWritten();
  }

  // ---------------------------------------------------------------- sync, fsync

  /**
   * {@code sync_filesystem()}'s data part: {@code sync_inodes_sb()}, every dirty inode with {@code
   * WB_SYNC_ALL} and {@code for_sync}, then waits for writeback still in flight ({@code
   * wait_sb_inodes()}; the generic writepages completes synchronously).
   */
  void syncSb(SuperBlock sb) {
    BdiWriteback wb = wbFor(sb);
    if (wb == null) {
      return;
    }
    wb.writebackAll(WbSyncMode.ALL, true);
    for (Inode i : sb.inodes()) {
      AddressSpace m = i.mapping();
      if (m != null && m.nrWriteback() > 0) {
        vm.filemap().filemapWriteAndWait(m);
      }
    }
  }

  /**
   * {@code file_write_and_wait_range()} plus {@code file_check_and_advance_wb_err()}: what {@code
   * generic_file_fsync()} and the filesystems' {@code ->fsync} do for data. Writes every dirty page
   * with {@code WB_SYNC_ALL}; reports a writeback error once per open file: one recorded since this
   * file last looked (or was opened), by this call or by the flusher.
   *
   * @throws KernelException {@code EIO}, {@code ENOSPC}
   */
  void fsync(OpenFile f) {
    AddressSpace m = f.inode.mapping();
    if (m == null) {
      return; // a directory: nothing cached here
    }
    int err =
        pageWriteback.doWritepages(
            m, WritebackControl.range(WbSyncMode.ALL, 0, WritebackControl.WHOLE_FILE));
    if (err != -Errno.EIO.number() && m.nrWriteback() > 0) {
      vm.filemap().filemapWriteAndWait(m);
    }
    int err2 = checkAndAdvance(m, f);
    if (err == 0) {
      err = err2;
    }
    if (err < 0) {
      throw new KernelException(Errno.of(-err), "writeback of " + f.inode + " failed");
    }
  }

  /** {@code file_check_and_advance_wb_err()}; also clears the legacy {@code AS_EIO} bits. */
  private int checkAndAdvance(AddressSpace m, OpenFile f) {
    int err = 0;
    synchronized (f.wbErr) { // f_lock
      if (m.wbErr().check(f.wbErr[0]) != 0) {
        err = m.wbErr().checkAndAdvance(f.wbErr);
      }
    }
    vm.filemap().filemapCheckErrors(m);
    return err;
  }

  /** {@code file_check_and_advance_wb_err()} alone, after a filesystem's {@code ->fsync}. */
  int checkAndAdvanceFile(OpenFile f) {
    AddressSpace m = f.inode.mapping();
    return m == null ? 0 : checkAndAdvance(m, f);
  }

  /** {@code errseq_check_and_advance(&sb->s_wb_err, &file->f_sb_err)}, for {@code syncfs}. */
  int checkAndAdvanceSb(OpenFile f) {
    synchronized (f.sbErr) {
      return f.inode.sb().wbErr().checkAndAdvance(f.sbErr);
    }
  }

  // ---------------------------------------------------------------- teardown

  /** {@code generic_shutdown_super()}'s writeback part: sync the data, then stop the flusher. */
  void umount(SuperBlock sb) {
    syncSb(sb);
    BdiWriteback wb;
    synchronized (this) {
      wb = wbs.remove(sb);
    }
    if (wb != null) {
      wb.shutdown();
    }
  }

  /** Stops every flusher and destroys the workqueue; nothing runs or is pending after. */
  void shutdown() {
    Workqueue q;
    List<BdiWriteback> l;
    synchronized (this) {
      shutDown = true;
      l = new ArrayList<>(wbs.values());
      wbs.clear();
      q = wq;
      wq = null;
    }
    for (BdiWriteback wb : l) {
      wb.shutdown();
    }
    if (q != null) {
      q.destroy();
    }
  }

  /** Whether the flusher's workqueue still exists (not yet {@link Vfs#shutdown()}). */
  public synchronized boolean running() {
    return wq != null;
  }

  @Override
  public String toString() {
    return "writeback[" + all().size() + " flushers, " + pauses() + " pauses]";
  }
}
