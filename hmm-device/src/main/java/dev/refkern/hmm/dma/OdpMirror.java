package dev.refkern.hmm.dma;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.hmm.Hmm;
import dev.refkern.hmm.HmmPfn;
import dev.refkern.hmm.HmmRange;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.vm.MmStruct;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.notifier.MmuIntervalNotifier;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.Arrays;
import org.apiguardian.api.API;

/**
 * An on-demand-paging RDMA memory region, {@code struct ib_umem_odp}
 * (drivers/infiniband/core/umem_odp.c): the NIC mirrors a user range through an mmu interval
 * notifier and {@code hmm_range_fault()}, and never pins a page.
 *
 * <p>A DMA to a page the NIC has not mapped is a device page fault: {@code
 * ib_umem_odp_map_dma_and_lock()} snapshots the notifier sequence, faults the page in, and maps it
 * only if no invalidation ran meanwhile (retrying otherwise, and on {@code EBUSY}). Every
 * invalidation (munmap, {@code MADV_DONTNEED}, migration, truncate, fork's write protection) clears
 * the NIC's mapping of its range under the same lock the DMA engine holds while it writes, so no
 * DMA reaches a page after the invalidation returned; the next DMA faults again.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class OdpMirror implements DmaTarget {
  private static final int MAX_RETRIES = 64; // a fault that keeps colliding gives up: EBUSY

  private final VirtualMemory vm;
  private final MmStruct mm;
  private final DmaEngine engine;
  private final long start;
  private final boolean writable;
  private final long[] pfns; // the NIC's page table: pfn per page, NO_PFN when not mapped
  private final boolean[] writeMapped;
  private final MmuIntervalNotifier notifier;
  private final HmmRange range = new HmmRange(); // the DMA stepper's, one page
  private long deviceFaults;
  private long invalidations;
  private boolean dead;

  private OdpMirror(
      VirtualMemory vm, Task task, long start, int npages, boolean writable, DmaEngine engine) {
    this.vm = vm;
    this.mm = task.mm();
    this.engine = engine;
    this.start = start;
    this.writable = writable;
    this.pfns = new long[npages];
    Arrays.fill(pfns, PageAllocator.NO_PFN);
    this.writeMapped = new boolean[npages];
    this.notifier =
        mm.notifiers().intervalInsert(start, (long) npages * Page.PAGE_SIZE, this::invalidate);
    range.notifier = notifier;
    range.hmmPfns = new long[1];
  }

  /**
   * {@code ib_umem_odp_get()}: registers {@code [addr, addr + length)} of {@code task} without
   * faulting or pinning anything.
   *
   * @param writable {@code IB_ACCESS_LOCAL_WRITE}: the NIC may write
   * @throws KernelException {@code EINVAL} for an empty or wrapping range
   */
  public static OdpMirror register(
      VirtualMemory vm, Task task, long addr, long length, boolean writable, DmaEngine engine) {
    return new OdpMirror(
        vm, task, MemoryRegion.first(addr), MemoryRegion.npages(addr, length), writable, engine);
  }

  /** Queues a DMA write of its pages {@code [first, first + pages)}, stamped with {@code seq}. */
  public DmaTransfer dmaWrite(int first, int pages, long seq) {
    return engine.submitWrite(this, first, pages, seq);
  }

  /**
   * {@code ib_umem_odp_release()}: stops the DMA and removes the notifier. Nothing to unpin. Twice
   * is once.
   */
  public void deregister() {
    synchronized (this) {
      if (dead) {
        return;
      }
      dead = true;
      Arrays.fill(pfns, PageAllocator.NO_PFN);
    }
    engine.abortAll(this);
    notifier.remove();
  }

  /** {@code mlx5_ib_invalidate_range()}: unmaps the range from the NIC. */
  private boolean invalidate(MmuIntervalNotifier sub, MmuNotifierRange range, long seq) {
    synchronized (this) {
      sub.setSeq(seq);
      long end = start + (long) pfns.length * Page.PAGE_SIZE;
      long s = Math.max(range.start(), start) & ~(long) (Page.PAGE_SIZE - 1);
      long e = Long.compareUnsigned(range.end(), end) < 0 ? range.end() : end;
      for (long a = s; a < e; a += Page.PAGE_SIZE) {
        int i = (int) ((a - start) >>> Page.PAGE_SHIFT);
        pfns[i] = PageAllocator.NO_PFN;
        writeMapped[i] = false;
      }
      invalidations++;
    }
    return true;
  }

  @Override
  public int dmaPages() {
    return pfns.length;
  }

  @Override
  public synchronized long dmaPfn(int index, boolean write) {
    if (dead || (write && !writeMapped[index])) {
      return NOT_MAPPED;
    }
    return pfns[index];
  }

  /** {@code ib_umem_odp_map_dma_and_lock()} for one page: fault, then map unless invalidated. */
  @Override
  public boolean dmaFault(int index, boolean write) {
    if (write && !writable) {
      return false;
    }
    synchronized (this) {
      if (dead) {
        return false;
      }
      deviceFaults++;
    }
    long addr = start + (long) index * Page.PAGE_SIZE;
    range.start = addr;
    range.end = addr + Page.PAGE_SIZE;
    range.defaultFlags = HmmPfn.REQ_FAULT | (write ? HmmPfn.REQ_WRITE : 0);
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
      range.notifierSeq = notifier.readBegin();
      mm.mmapReadLock();
      try {
        Hmm.rangeFault(vm, range);
      } catch (KernelException e) {
        if (e.errno() == Errno.EBUSY) {
          continue;
        }
        return false; // EFAULT, EPERM: the DMA fails
      } finally {
        mm.mmapReadUnlock();
      }
      synchronized (this) {
        if (notifier.readRetry(range.notifierSeq)) {
          continue; // an invalidation ran since readBegin: the pfn may be stale
        }
        if (dead) {
          return false;
        }
        long e = range.hmmPfns[0];
        pfns[index] = HmmPfn.pfn(e);
        writeMapped[index] = (e & HmmPfn.WRITE) != 0;
        return true;
      }
    }
    return false;
  }

  /** The pfn the NIC maps page {@code index} to, or {@link PageAllocator#NO_PFN}. */
  public synchronized long mappedPfn(int index) {
    return pfns[index];
  }

  /** Device page faults: DMA accesses to pages the NIC had not mapped. */
  public synchronized long deviceFaults() {
    return deviceFaults;
  }

  /** Invalidations of its range. */
  public synchronized long invalidations() {
    return invalidations;
  }
}
