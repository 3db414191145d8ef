package dev.refkern.hmm.dma;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.VmFault;
import dev.refkern.mm.vm.MmStruct;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.VmFlags;
import dev.refkern.mm.vm.Vma;
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
    long first = addr & ~(long) (Page.PAGE_SIZE - 1);
    long end = addr + length;
    if (length <= 0 || end < addr || end > Long.MAX_VALUE - Page.PAGE_SIZE) {
      throw new KernelException(Errno.EINVAL, "memory region of " + length + " bytes");
    }
    long npages = (end - first + Page.PAGE_SIZE - 1) / Page.PAGE_SIZE;
    if (npages > Integer.MAX_VALUE) {
      throw new KernelException(Errno.EINVAL, "memory region of " + npages + " pages");
    }
    return new OdpMirror(vm, task, first, (int) npages, writable, engine);
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
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
      long seq = notifier.readBegin();
      long pfn;
      try {
        pfn = faultOne(addr, write);
      } catch (KernelException e) {
        if (e.errno() == Errno.EBUSY) {
          continue;
        }
        return false; // EFAULT, EPERM: the DMA fails
      }
      synchronized (this) {
        if (notifier.readRetry(seq)) {
          continue; // an invalidation ran since readBegin: the pfn may be stale
        }
        if (dead) {
          return false;
        }
        pfns[index] = pfn;
        writeMapped[index] = write;
        return true;
      }
    }
    return false;
  }

  /**
   * One page of {@code hmm_range_fault()} with {@code HMM_PFN_REQ_FAULT} (and {@code REQ_WRITE}):
   * faults the page in under {@code mmap_read_lock} and returns its pfn. Stands in for {@code
   * dev.refkern.hmm.Hmm.rangeFault} until that lands (branch {@code hmm}).
   *
   * @throws KernelException {@code EFAULT} where no VMA is or the fault fails, {@code EPERM} for a
   *     write to a read-only VMA, {@code EBUSY} if the page changed again (retry)
   */
  private long faultOne(long addr, boolean write) {
    mm.mmapReadLock();
    try {
      Vma vma = mm.vmaLookup(addr);
      if (vma == null) {
        throw new KernelException(Errno.EFAULT, "odp: no vma at 0x" + Long.toHexString(addr));
      }
      if (write && (vma.flags() & VmFlags.VM_WRITE) == 0) {
        throw new KernelException(Errno.EPERM, "odp: write to a read-only vma");
      }
      long pte = mm.pte(addr);
      if (!Pte.present(pte) || (write && !Pte.write(pte))) {
        int flags = VirtualMemory.FAULT_FLAG_REMOTE | (write ? VirtualMemory.FAULT_FLAG_WRITE : 0);
        int r = vm.handleMmFault(mm, addr, flags);
        if ((r & (VmFault.VM_FAULT_OOM | VmFault.VM_FAULT_SIGBUS | VmFault.VM_FAULT_SIGSEGV))
            != 0) {
          throw new KernelException(Errno.EFAULT, "odp: fault at 0x" + Long.toHexString(addr));
        }
        pte = mm.pte(addr);
        if (!Pte.present(pte) || (write && !Pte.write(pte))) {
          throw new KernelException(Errno.EBUSY, "odp: page changed again");
        }
      }
      long pfn = Pte.pfn(pte);
      return Pte.huge(pte) ? pfn + ((addr >>> Page.PAGE_SHIFT) & 511) : pfn;
    } finally {
      mm.mmapReadUnlock();
    }
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
