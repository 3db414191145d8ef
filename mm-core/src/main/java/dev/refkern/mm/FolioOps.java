package dev.refkern.mm;

import static dev.refkern.mm.PageFlags.*;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.internal.pagecache.PageCacheState;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.WaitQueue;
import java.util.function.BooleanSupplier;
import org.apiguardian.api.API;

/**
 * The folio lock, dirty and writeback bits ({@code struct folio}'s {@code folio_lock()}, {@code
 * folio_mark_dirty()}, {@code folio_start_writeback()}, ... of {@code include/linux/pagemap.h},
 * {@code mm/filemap.c} and {@code mm/page-writeback.c}). Writeback itself ({@code
 * write_cache_pages()}, {@code folio_clear_dirty_for_io()}, which needs the rmap) is {@code
 * dev.refkern.mm.vm.PageWriteback}.
 *
 * <p>Every method takes any pfn of the folio and works on its head ({@code page_folio()}). The
 * uncontended paths allocate nothing. Sleepers wait on the machine's hashed folio wait queues
 * ({@code folio_wait_table}) with {@code PG_waiters} set, so an unlock or a writeback end wakes
 * only when someone waits. Instances are cheap; all instances of one machine share the queues.
 */
@API(status = STABLE, since = "0.1.0")
public final class FolioOps {
  // Contended folio_lock() spins this many times through cond_resched() before it sleeps.
  private static final int SPINS = 32;
  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final Scheduler sched;
  private final KernelHealth health;
  private final PageCacheState<AddressSpace> state;
  private final WaitQueue[] waitTable;

  /** Folio operations on {@code mem}. */
  public FolioOps(PhysicalMemory mem) {
    this.mem = mem;
    this.memmap = mem.rawMemmap();
    this.sched = mem.scheduler();
    this.health = mem.health();
    this.state = mem.pageCache();
    this.waitTable = state.waitTable(sched);
  }

  /** The machine these operations act on. */
  public PhysicalMemory physicalMemory() {
    return mem;
  }

  // ---------------------------------------------------------------- PG_locked

  /**
   * {@code folio_lock()}: takes {@code PG_locked}, sleeping while another task holds it. Not
   * recursive: locking a folio the caller holds never returns, as in the kernel.
   */
  public void folioLock(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    sched.mightSleep();
    if (!memmap.testAndSetFlag(head, PG_LOCKED)) {
      return;
    }
    for (int i = 0; i < SPINS; i++) {
      // Let the deterministic scheduler run the holder before we sleep.
      sched.condResched();
      Thread.onSpinWait();
      if (!memmap.testFlag(head, PG_LOCKED) && !memmap.testAndSetFlag(head, PG_LOCKED)) {
        return;
      }
    }
    waitOnBit(head, PG_LOCKED, true);
  }

  /** {@code folio_trylock()}: takes {@code PG_locked} if it is free. */
  public boolean folioTrylock(long pfn) {
    memmap.checkPfn(pfn);
    return !memmap.testAndSetFlag(memmap.compoundHead(pfn), PG_LOCKED);
  }

  /**
   * {@code folio_unlock()}: releases {@code PG_locked} and wakes its waiters. Unlocking an unlocked
   * folio is a {@code BUG} ({@code VM_BUG_ON_FOLIO}).
   */
  public void folioUnlock(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (!memmap.testAndClearFlag(head, PG_LOCKED)) {
      throw health.bug(
          "VM_BUG_ON_FOLIO(!folio_test_locked(folio)): folio_unlock() of unlocked pfn " + head);
    }
    wakeBit(head);
  }

  /** {@code folio_test_locked()}. */
  public boolean folioTestLocked(long pfn) {
    memmap.checkPfn(pfn);
    return memmap.testFlag(memmap.compoundHead(pfn), PG_LOCKED);
  }

  /** {@code folio_wait_locked()}: sleeps until {@code PG_locked} is clear, without taking it. */
  public void folioWaitLocked(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (memmap.testFlag(head, PG_LOCKED)) {
      waitOnBit(head, PG_LOCKED, false);
    }
  }

  // ---------------------------------------------------------------- PG_dirty

  /**
   * {@code folio_mark_dirty()}: a page-cache folio goes through its mapping's {@code
   * ->dirty_folio}; an anon folio, or one truncated from its mapping, just gets {@code PG_dirty}
   * ({@code noop_dirty_folio()}). The caller holds the folio lock or a mapping of it, so the folio
   * cannot leave its mapping meanwhile.
   *
   * @return true if the folio was newly dirtied
   */
  public boolean folioMarkDirty(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    AddressSpace as = mappingOf(head);
    if (as != null) {
      if (memmap.testFlag(head, PG_RECLAIM)) {
        memmap.clearFlag(head, PG_RECLAIM);
      }
      return as.aops().dirtyFolio(as, head);
    }
    return !memmap.testAndSetFlag(head, PG_DIRTY);
  }

  /**
   * {@code folio_mark_dirty_lock()} ({@code mm/page-writeback.c}): {@link #folioMarkDirty} under
   * the folio lock, for a caller that holds only a reference (a GUP pin, a bio page). The lock is
   * released even if the mapping's {@code ->dirty_folio} fails.
   *
   * @return true if the folio was newly dirtied
   */
  public boolean folioMarkDirtyLock(long pfn) {
    folioLock(pfn);
    try {
      return folioMarkDirty(pfn);
    } finally {
      folioUnlock(pfn);
    }
  }

  /**
   * {@code filemap_dirty_folio()} ({@code mm/page-writeback.c}), the default {@link
   * dev.refkern.mm.spi.AddressSpaceOperations#dirtyFolio}: sets {@code PG_dirty}; if it was clean
   * and is still in {@code mapping}'s cache, accounts it and sets its dirty tag.
   *
   * @return true if the folio was newly dirtied
   */
  public boolean filemapDirtyFolio(AddressSpace mapping, long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (memmap.testAndSetFlag(head, PG_DIRTY)) {
      return false;
    }
    boolean accounted = mapping.state().accountDirtied(head);
    if (accounted && !memmap.testFlag(head, PG_UPTODATE) && !memmap.testFlag(head, PG_PRIVATE)) {
      warnOnce(
          PageCacheState.WARN_DIRTY_NOT_UPTODATE,
          "__folio_mark_dirty(): dirtying pfn " + head + " that is not uptodate");
    }
    return true;
  }

  // ---------------------------------------------------------------- PG_uptodate

  /**
   * {@code folio_mark_uptodate()}: the folio's contents are valid, as a filesystem's {@code
   * ->read_folio} says once it has filled the folio (before it unlocks it).
   */
  public void folioMarkUptodate(long pfn) {
    memmap.checkPfn(pfn);
    memmap.setFlag(memmap.compoundHead(pfn), PG_UPTODATE);
  }

  /** {@code folio_test_dirty()}. */
  public boolean folioTestDirty(long pfn) {
    memmap.checkPfn(pfn);
    return memmap.testFlag(memmap.compoundHead(pfn), PG_DIRTY);
  }

  // ---------------------------------------------------------------- PG_writeback

  /**
   * {@code folio_start_writeback()}: sets {@code PG_writeback} and the mapping's writeback tag and
   * drops its dirty tag if the folio is clean. The caller holds the folio lock. Starting writeback
   * twice is a {@code BUG}.
   */
  public void folioStartWriteback(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (memmap.testFlag(head, PG_WRITEBACK)) {
      throw health.bug(
          "VM_BUG_ON_FOLIO(folio_test_writeback(folio)): folio_start_writeback() pfn " + head);
    }
    AddressSpace as = mappingOf(head);
    if (as != null) {
      as.state().startWriteback(head);
    } else {
      memmap.setFlag(head, PG_WRITEBACK);
    }
  }

  /**
   * {@code folio_end_writeback()}: clears {@code PG_writeback} and the writeback tag and wakes the
   * waiters. May run in completion context. Ending writeback that was not started is a {@code BUG}.
   */
  public void folioEndWriteback(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (!memmap.testFlag(head, PG_WRITEBACK)) {
      throw health.bug(
          "VM_BUG_ON_FOLIO(!folio_test_writeback(folio)): folio_end_writeback() pfn " + head);
    }
    if (memmap.testFlag(head, PG_RECLAIM)) {
      memmap.clearFlag(head, PG_RECLAIM); // folio_rotate_reclaimable() comes with the LRU
    }
    // folio_get(): the waiter we wake may drop the last other reference.
    memmap.refAdd(head, 1);
    AddressSpace as = mappingOf(head);
    if (as != null) {
      as.state().endWriteback(head);
    } else {
      memmap.clearFlag(head, PG_WRITEBACK);
    }
    wakeBit(head);
    mem.allocator().putPage(head);
  }

  /** {@code folio_test_writeback()}. */
  public boolean folioTestWriteback(long pfn) {
    memmap.checkPfn(pfn);
    return memmap.testFlag(memmap.compoundHead(pfn), PG_WRITEBACK);
  }

  /** {@code folio_wait_writeback()}: sleeps while {@code PG_writeback} is set. */
  public void folioWaitWriteback(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (memmap.testFlag(head, PG_WRITEBACK)) {
      waitOnBit(head, PG_WRITEBACK, false);
    }
  }

  // ---------------------------------------------------------------- private, mapping

  /**
   * {@code folio_attach_private()}: stores {@code data} in {@code folio->private}, sets {@code
   * PG_private} and takes the reference the private data holds.
   */
  public void folioAttachPrivate(long pfn, long data) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    memmap.refAdd(head, 1);
    memmap.setPrivateData(head, data);
    memmap.setFlag(head, PG_PRIVATE);
  }

  /**
   * {@code folio_detach_private()}: clears {@code PG_private}, drops its reference and returns the
   * data, or 0 if there was none.
   */
  public long folioDetachPrivate(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (!memmap.testAndClearFlag(head, PG_PRIVATE)) {
      return 0;
    }
    long data = memmap.privateData(head);
    memmap.setPrivateData(head, 0);
    mem.allocator().putPage(head);
    return data;
  }

  /**
   * {@code folio_mapping()}: the page-cache mapping of the folio, or null for an anon folio or one
   * truncated from its mapping.
   */
  public AddressSpace folioMapping(long pfn) {
    memmap.checkPfn(pfn);
    return mappingOf(memmap.compoundHead(pfn));
  }

  /** {@code folio_mapped()}: some pte or pmd maps a page of the folio. */
  public boolean folioMapped(long pfn) {
    memmap.checkPfn(pfn);
    return folioMapcount(memmap.compoundHead(pfn)) > 0;
  }

  /**
   * {@code folio_expected_refs()} ({@code mm/migrate.c}) plus the mappings: the references the
   * folio has when nobody but its known holders uses it: 1 for the caller, one per page for the
   * page cache, 1 for {@code PG_private}, one per pte/pmd mapping. More means a transient or a
   * long-term (GUP pin) user.
   */
  public int expectedRefcount(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    int refs = 1;
    if (mappingOf(head) != null) {
      refs += 1 << memmap.folioOrder(head);
      if (memmap.testFlag(head, PG_PRIVATE)) {
        refs++;
      }
    }
    return refs + folioMapcount(head);
  }

  int folioMapcount(long head) {
    int order = memmap.folioOrder(head);
    if (order == 0) {
      return memmap.mapcount(head);
    }
    int n = memmap.entireMapcount(head);
    for (long i = 0; i < (1L << order); i++) {
      n += memmap.mapcount(head + i);
    }
    return n;
  }

  AddressSpace mappingOf(long head) {
    if (memmap.testFlag(head, PG_ANON)) {
      return null;
    }
    long id = memmap.mapping(head);
    return id == 0 ? null : state.mapping(id);
  }

  // ---------------------------------------------------------------- waiting

  /**
   * {@code folio_wait_bit_common()}: sleeps until {@code bit} is clear ({@code lock}: and takes
   * it). {@code PG_waiters} tells the waker to wake; a waiter whose {@code PG_waiters} was consumed
   * by a wake sets it again before it sleeps again, so no wake is lost.
   */
  private void waitOnBit(long head, int bit, boolean lock) {
    WaitQueue q = PageCacheState.waitQueue(waitTable, head);
    BooleanSupplier woken = () -> !memmap.testFlag(head, bit) || !memmap.testFlag(head, PG_WAITERS);
    while (true) {
      if (lock ? !memmap.testAndSetFlag(head, bit) : !memmap.testFlag(head, bit)) {
        return;
      }
      memmap.setFlag(head, PG_WAITERS);
      q.await(woken);
    }
  }

  /** {@code folio_wake_bit()}: wakes the folio's waiters if it has any. */
  private void wakeBit(long head) {
    if (memmap.testFlag(head, PG_WAITERS) && memmap.testAndClearFlag(head, PG_WAITERS)) {
      PageCacheState.waitQueue(waitTable, head).wakeAll();
    }
  }

  /** {@code WARN_ON_ONCE()} for a site of this machine's page cache. */
  private void warnOnce(int site, String message) {
    if (state.firstTime(site)) {
      health.warn(true, message);
    }
  }
}
