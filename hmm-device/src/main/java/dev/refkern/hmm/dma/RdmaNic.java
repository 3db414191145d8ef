package dev.refkern.hmm.dma;

import static dev.refkern.mm.vm.Foll.FOLL_LONGTERM;
import static dev.refkern.mm.vm.Foll.FOLL_WRITE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.notifier.MmuIntervalNotifier;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.apiguardian.api.API;

/**
 * An RDMA NIC's memory registration, {@code struct ib_umem} ({@code ib_umem_get()} / {@code
 * ib_umem_release()}, drivers/infiniband/core/umem.c): a user range pinned with {@code
 * pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)} that the NIC DMAs into through a {@link
 * DmaEngine}.
 *
 * <p>It also subscribes an mmu interval notifier over the range. On {@code MMU_NOTIFY_TRUNCATE}
 * (the {@code truncate.pinned=revoke} policy) it reprograms the NIC to send DMA for the truncated
 * pages to a dummy page, then unpins them: "revoke through mmu notifier" (Jérôme Glisse, seed 001,
 * December 2018). Every other event leaves the long-term pin alone, as mainline RDMA does.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class RdmaNic implements DmaTarget {
  /** {@code PAGE_SIZE / sizeof(struct page *)}: pages pinned per GUP call, as umem.c does. */
  static final int PIN_BATCH = Page.PAGE_SIZE / 8;

  private final Gup gup;
  private final PhysicalMemory mem;
  private final DmaEngine engine;
  private final long start;
  private final boolean writable;
  private final long[] pfns; // pinned pfn per page, NO_PFN once revoked or released
  private final boolean[] revoked;
  private final long dummy;
  private final MmuIntervalNotifier notifier;
  private int pinned;
  private boolean dead;
  private long bytesRedirected;
  private long revokes;

  private RdmaNic(
      VirtualMemory vm, Task task, long start, int npages, boolean writable, DmaEngine e) {
    this.gup = vm.gup();
    this.mem = vm.physicalMemory();
    this.engine = e;
    this.start = start;
    this.writable = writable;
    this.pfns = new long[npages];
    this.revoked = new boolean[npages];
    pin(task);
    long d = mem.allocator().allocPages(Gfp.KERNEL | Gfp.ZERO, 0);
    if (d == PageAllocator.NO_PFN) {
      gup.unpinUserPages(pfns, npages);
      throw new KernelException(Errno.ENOMEM, "no dummy page");
    }
    this.dummy = d;
    try {
      this.notifier =
          task.mm()
              .notifiers()
              .intervalInsert(start, (long) npages * Page.PAGE_SIZE, this::invalidate);
    } catch (RuntimeException ex) { // the mm is being torn down
      gup.unpinUserPages(pfns, npages);
      mem.allocator().freePages(d, 0);
      throw ex;
    }
  }

  /**
   * {@code ib_reg_mr()} / {@code ib_umem_get()}: pins {@code [addr, addr + length)} of {@code
   * task}, every page or none.
   *
   * @param writable {@code IB_ACCESS_LOCAL_WRITE}: the NIC may write (pins with {@code FOLL_WRITE})
   * @throws KernelException what GUP answered, nothing left pinned: {@code EFAULT} for a writable
   *     shared file mapping that needs dirty tracking under {@code gup.longterm_file=refuse}, an
   *     unmapped page or a read-only one; {@code EINVAL} for an empty or wrapping range; {@code
   *     ENOMEM} without a dummy page
   */
  public static RdmaNic register(
      VirtualMemory vm, Task task, long addr, long length, boolean writable, DmaEngine engine) {
    return new RdmaNic(
        vm, task, MemoryRegion.first(addr), MemoryRegion.npages(addr, length), writable, engine);
  }

  /** The pin loop of {@code ib_umem_get()}; on an error releases what it pinned, undirtied. */
  private void pin(Task task) {
    int flags = FOLL_LONGTERM | (writable ? FOLL_WRITE : 0);
    long[] batch = new long[Math.min(PIN_BATCH, pfns.length)]; // umem.c's page_list
    int done = 0;
    try {
      while (done < pfns.length) {
        int n = Math.min(batch.length, pfns.length - done);
        long got =
            gup.pinUserPagesFast(task, start + (long) done * Page.PAGE_SIZE, n, flags, batch);
        if (got <= 0) {
          throw new KernelException(Errno.EFAULT, "pin_user_pages_fast returned " + got);
        }
        System.arraycopy(batch, 0, pfns, done, (int) got);
        done += (int) got;
      }
    } catch (RuntimeException e) {
      gup.unpinUserPages(pfns, done); // __ib_umem_release(dev, umem, 0)
      throw e;
    }
    pinned = done;
  }

  /** Queues a DMA write of its pages {@code [first, first + pages)}, stamped with {@code seq}. */
  public DmaTransfer dmaWrite(int first, int pages, long seq) {
    return engine.submitWrite(this, first, pages, seq);
  }

  /** Queues a DMA write of {@code pattern}'s words for {@code seq} into {@code [first, +pages)}. */
  public DmaTransfer dmaWrite(int first, int pages, long seq, DmaPattern pattern) {
    return engine.submitWrite(this, first, pages, seq, pattern);
  }

  /** Queues a DMA read of its pages {@code [first, first + pages)} into {@code dst}. */
  public DmaTransfer dmaRead(int first, int pages, ByteBuffer dst) {
    return engine.submitRead(this, first, pages, dst);
  }

  /**
   * {@code ib_dereg_mr()} / {@code ib_umem_release()}: stops the NIC's DMA, removes the notifier
   * and unpins the pages still pinned with {@code unpin_user_pages_dirty_lock(..., writable)};
   * frees the dummy page. Twice is once.
   */
  public void deregister() {
    synchronized (this) {
      if (dead) {
        return;
      }
      dead = true; // no DMA reaches a page from here on
    }
    engine.abortAll(this);
    notifier.remove(); // waits for an invalidation under way: pfns is ours alone after it
    gup.unpinUserPagesDirtyLock(pfns, pfns.length, writable);
    synchronized (this) {
      Arrays.fill(pfns, PageAllocator.NO_PFN);
      pinned = 0;
    }
    mem.allocator().freePages(dummy, 0);
  }

  /** {@code MMU_NOTIFY_TRUNCATE}: redirect, then unpin; anything else keeps the pin. */
  private boolean invalidate(MmuIntervalNotifier sub, MmuNotifierRange range, long seq) {
    long[] victims = null;
    int n = 0;
    synchronized (this) {
      sub.setSeq(seq);
      if (range.event() != MmuNotifierEvent.TRUNCATE || dead) {
        return true;
      }
      int lo = (int) (Math.max(range.start(), start) - start >>> Page.PAGE_SHIFT);
      long endAddr = start + (long) pfns.length * Page.PAGE_SIZE;
      long hi = (Long.compareUnsigned(range.end(), endAddr) < 0 ? range.end() : endAddr) - start;
      int last = (int) ((hi + Page.PAGE_SIZE - 1) >>> Page.PAGE_SHIFT);
      for (int i = lo; i < last; i++) {
        if (pfns[i] != PageAllocator.NO_PFN) {
          if (victims == null) {
            victims = new long[last - lo];
          }
          victims[n++] = pfns[i];
          pfns[i] = PageAllocator.NO_PFN;
          revoked[i] = true;
        }
      }
      pinned -= n;
      if (n > 0) {
        revokes++;
      }
    }
    if (n > 0) {
      gup.unpinUserPages(victims, n); // the device no longer reaches them
    }
    return true;
  }

  @Override
  public int dmaPages() {
    return pfns.length;
  }

  @Override
  public synchronized long dmaPfn(int index, boolean write) {
    if (dead || (write && !writable)) {
      return NOT_MAPPED;
    }
    return revoked[index] ? dummy | REDIRECTED : pfns[index];
  }

  @Override
  public boolean dmaFault(int index, boolean write) {
    return false; // a pinned region has no device faults: the access is an error
  }

  @Override
  public void dmaRedirected(int index, int bytes) {
    bytesRedirected += bytes; // under our monitor, held by the engine
  }

  /** The first user address of the region (page aligned). */
  public long start() {
    return start;
  }

  /** Its pages. */
  public int pages() {
    return pfns.length;
  }

  /** The pfn page {@code index} is pinned at, or {@link PageAllocator#NO_PFN}. */
  public synchronized long pinnedPfn(int index) {
    return pfns[index];
  }

  /** Pages still pinned. */
  public synchronized int pinnedPages() {
    return pinned;
  }

  /** Whether page {@code index} was revoked by a truncate: its DMA goes to the dummy page. */
  public synchronized boolean isRevoked(int index) {
    return revoked[index];
  }

  /** The dummy page revoked pages' DMA goes to. */
  public long dummyPfn() {
    return dummy;
  }

  /** Bytes of DMA that went to the dummy page. */
  public synchronized long bytesRedirected() {
    return bytesRedirected;
  }

  /** {@code MMU_NOTIFY_TRUNCATE} invalidations that revoked at least one page. */
  public synchronized long revokes() {
    return revokes;
  }

  /** Whether it is still registered. */
  public synchronized boolean registered() {
    return !dead;
  }
}
