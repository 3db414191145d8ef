package dev.refkern.hmm;

import static dev.refkern.mm.Page.PAGE_MASK;
import static dev.refkern.mm.Page.PAGE_SHIFT;
import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.VmFault;
import dev.refkern.mm.vm.MmStruct;
import dev.refkern.mm.vm.MmWalkOps;
import dev.refkern.mm.vm.PageWalk;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.VmFlags;
import dev.refkern.mm.vm.Vma;
import org.apiguardian.api.API;

/**
 * {@code hmm_range_fault()} ({@code mm/hmm.c}, read in torvalds/linux at 4dd845b5a3e5 and checked
 * against 6.x for device-exclusive entries): snapshots the CPU page table of a range into an {@code
 * HMM_PFN_*} array for a device mirror, faulting pages in where the request flags ask, and never
 * taking a page reference.
 *
 * <p>Deviation: mm-core's walker calls the callbacks under the page-table lock, where {@code
 * handle_mm_fault()} cannot run; a callback that needs a fault records it and ends the walk, and
 * the fault runs here, after the walk, before it restarts at the faulting address, as the kernel's
 * {@code -EBUSY} loop does.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class Hmm {
  private static final int NEED_FAULT = 1;
  private static final int NEED_WRITE_FAULT = 2;
  private static final int NEED_ALL_BITS = NEED_FAULT | NEED_WRITE_FAULT;

  /** A callback's "fault [faultAddr, faultEnd) then restart" return; not an errno. */
  private static final int WALK_FAULT = 1;

  /** {@link #testVma}'s "walk this VMA". */
  private static final int VMA_OK = Integer.MIN_VALUE;

  private static final long PMD_SIZE = 1L << 21;
  private static final int PMD_ORDER = 21 - PAGE_SHIFT;
  private static final int VM_FAULT_ERROR =
      VmFault.VM_FAULT_OOM | VmFault.VM_FAULT_SIGBUS | VmFault.VM_FAULT_SIGSEGV;

  private static final MmWalkOps OPS = new MmWalkOps(Hmm::walkPmd, Hmm::walkPte, Hmm::walkHole);

  private Hmm() {}

  /** {@code struct hmm_vma_walk}: one per call, so the walk itself allocates nothing. */
  private static final class VmaWalk {
    final HmmRange range;
    final VirtualMemory vm;
    long last;
    long faultAddr;
    long faultEnd;
    int requiredFault;
    Vma faultVma;

    VmaWalk(VirtualMemory vm, HmmRange range) {
      this.vm = vm;
      this.range = range;
      this.last = range.start;
    }
  }

  /**
   * {@code hmm_range_fault()}: fills {@code range.hmmPfns}. The caller holds the mm's {@code
   * mmap_lock} for reading and took {@code range.notifierSeq} from {@code readBegin()} before.
   *
   * @throws KernelException {@code EBUSY} if an invalidation ran since {@code readBegin()} (retry
   *     with a fresh sequence); {@code EFAULT} if a page asked for is not covered by a VMA, is in a
   *     VMA without {@code VM_READ} or with {@code VM_IO}/{@code VM_PFNMAP}, or its fault failed;
   *     {@code EPERM} for a write fault in a VMA without {@code VM_WRITE}; {@code EINVAL} for an
   *     unaligned, empty or reversed range, or a pfn array shorter than it
   */
  public static void rangeFault(VirtualMemory vm, HmmRange range) {
    if (range.notifier == null
        || (range.start & ~PAGE_MASK) != 0
        || (range.end & ~PAGE_MASK) != 0
        || Long.compareUnsigned(range.start, range.end) >= 0
        || range.hmmPfns == null
        || range.hmmPfns.length < range.npages()) {
      throw new KernelException(Errno.EINVAL, "hmm_range_fault: bad range");
    }
    MmStruct mm = (MmStruct) range.notifier.mm();
    VmaWalk w = new VmaWalk(vm, range);
    int ret;
    do {
      // If the range is no longer valid, force the caller to retry.
      if (range.notifier.checkRetry(range.notifierSeq)) {
        throw new KernelException(Errno.EBUSY, "hmm_range_fault: range invalidated");
      }
      ret = vm.pageWalk().walkPageRange(mm, w.last, range.end, OPS, w);
      if (ret == WALK_FAULT) {
        ret = vmaFault(w, mm);
      }
    } while (ret == -Errno.EBUSY.number());
    if (ret != 0) {
      throw new KernelException(Errno.of(-ret), "hmm_range_fault at 0x" + Long.toHexString(w.last));
    }
  }

  /** {@code hmm_vma_fault()}, outside the page-table lock: -EBUSY to restart, or an error. */
  private static int vmaFault(VmaWalk w, MmStruct mm) {
    w.last = w.faultAddr;
    int flags = VirtualMemory.FAULT_FLAG_REMOTE;
    if ((w.requiredFault & NEED_WRITE_FAULT) != 0) {
      if ((w.faultVma.flags() & VmFlags.VM_WRITE) == 0) {
        return -Errno.EPERM.number();
      }
      flags |= VirtualMemory.FAULT_FLAG_WRITE;
    }
    for (long a = w.faultAddr; a < w.faultEnd; a += PAGE_SIZE) {
      if ((w.vm.handleMmFault(mm, a, flags) & VM_FAULT_ERROR) != 0) {
        return -Errno.EFAULT.number();
      }
    }
    return -Errno.EBUSY.number();
  }

  private static int fault(VmaWalk w, PageWalk.MmWalk walk, long addr, long end, int required) {
    w.faultAddr = addr;
    w.faultEnd = end;
    w.requiredFault = required;
    w.faultVma = walk.vma();
    return WALK_FAULT;
  }

  /** {@code hmm_pte_need_fault()}. */
  private static int pteNeedFault(HmmRange range, long pfnReqFlags, long cpuFlags) {
    // Per-entry requests count only through the mask; default flags apply to every page.
    pfnReqFlags &= range.pfnFlagsMask;
    pfnReqFlags |= range.defaultFlags;
    if ((pfnReqFlags & HmmPfn.REQ_FAULT) == 0) {
      return 0;
    }
    if ((pfnReqFlags & HmmPfn.REQ_WRITE) != 0 && (cpuFlags & HmmPfn.WRITE) == 0) {
      return NEED_FAULT | NEED_WRITE_FAULT;
    }
    return (cpuFlags & HmmPfn.VALID) == 0 ? NEED_FAULT : 0;
  }

  /** {@code hmm_range_need_fault()} over the entries of {@code [addr, end)}. */
  private static int rangeNeedFault(HmmRange range, long addr, long end, long cpuFlags) {
    if (((range.defaultFlags | range.pfnFlagsMask) & HmmPfn.REQ_FAULT) == 0) {
      return 0;
    }
    int required = 0;
    int i = index(range, addr);
    for (long a = addr; a < end; a += PAGE_SIZE, i++) {
      required |= pteNeedFault(range, range.hmmPfns[i], cpuFlags);
      if (required == NEED_ALL_BITS) {
        break;
      }
    }
    return required;
  }

  private static int index(HmmRange range, long addr) {
    return (int) ((addr - range.start) >>> PAGE_SHIFT);
  }

  /** {@code hmm_pfns_fill()}. */
  private static int fill(HmmRange range, long addr, long end, long value) {
    int i = index(range, addr);
    for (long a = addr; a < end; a += PAGE_SIZE, i++) {
      range.hmmPfns[i] = value;
    }
    return 0;
  }

  /**
   * {@code hmm_vma_walk_test()}, checked by each callback since mm-core's walker has no {@code
   * test_walk}: a VMA without struct pages or without {@code VM_READ} reports errors, and a fault
   * requested there fails. Returns {@link #VMA_OK} when the VMA is fine.
   */
  private static int testVma(HmmRange range, Vma vma, long addr, long end) {
    long f = vma.flags();
    if ((f & (VmFlags.VM_IO | VmFlags.VM_PFNMAP)) == 0 && (f & VmFlags.VM_READ) != 0) {
      return VMA_OK;
    }
    if (rangeNeedFault(range, addr, end, 0) != 0) {
      return -Errno.EFAULT.number();
    }
    return fill(range, addr, end, HmmPfn.ERROR);
  }

  /** {@code hmm_vma_walk_hole()}. */
  private static int walkHole(long addr, long end, int depth, PageWalk.MmWalk walk) {
    VmaWalk w = (VmaWalk) walk.priv();
    HmmRange range = w.range;
    if (walk.vma() == null) {
      if (rangeNeedFault(range, addr, end, 0) != 0) {
        return -Errno.EFAULT.number();
      }
      return fill(range, addr, end, HmmPfn.ERROR);
    }
    int t = testVma(range, walk.vma(), addr, end);
    if (t != VMA_OK) {
      return t;
    }
    int required = rangeNeedFault(range, addr, end, 0);
    if (required != 0) {
      return fault(w, walk, addr, end, required);
    }
    return fill(range, addr, end, 0);
  }

  /** {@code hmm_vma_walk_pmd()} for a huge PMD ({@code hmm_vma_handle_pmd()}). */
  private static int walkPmd(long pmd, long addr, long end, PageWalk.MmWalk walk) {
    if (pmd == 0) {
      return 0; // a pte table: walkPte visits it
    }
    walk.setAction(PageWalk.ACTION_CONTINUE); // never split a THP to report it
    VmaWalk w = (VmaWalk) walk.priv();
    HmmRange range = w.range;
    int t = testVma(range, walk.vma(), addr, end);
    if (t != VMA_OK) {
      return t;
    }
    if (!Pte.present(pmd)) {
      // a PMD migration entry: a fault waits for it
      int required = rangeNeedFault(range, addr, end, 0);
      return required != 0 ? fault(w, walk, addr, end, required) : fill(range, addr, end, 0);
    }
    // pmd_to_hmm_pfn_flags(): the entries also carry the PMD's order
    long cpuFlags =
        Pte.protnone(pmd)
            ? 0
            : (Pte.write(pmd) ? HmmPfn.VALID | HmmPfn.WRITE : HmmPfn.VALID)
                | HmmPfn.flagsOrder(PMD_ORDER);
    int required = rangeNeedFault(range, addr, end, cpuFlags);
    if (required != 0) {
      return fault(w, walk, addr, end, required);
    }
    long pfn = Pte.pfn(pmd) + ((addr & (PMD_SIZE - 1)) >>> PAGE_SHIFT);
    int i = index(range, addr);
    for (long a = addr; a < end; a += PAGE_SIZE, i++, pfn++) {
      range.hmmPfns[i] = pfn | cpuFlags;
    }
    return 0;
  }

  /** {@code hmm_vma_handle_pte()}. */
  private static int walkPte(long pte, long addr, long next, PageWalk.MmWalk walk) {
    VmaWalk w = (VmaWalk) walk.priv();
    HmmRange range = w.range;
    Vma vma = walk.vma();
    int t = testVma(range, vma, addr, next);
    if (t != VMA_OK) {
      return t;
    }
    int i = index(range, addr);
    long reqFlags = range.hmmPfns[i];
    int required;
    if (Pte.none(pte)) {
      required = pteNeedFault(range, reqFlags, 0);
      if (required != 0) {
        return fault(w, walk, addr, pmdEnd(range, vma, addr), required);
      }
      range.hmmPfns[i] = 0;
      return 0;
    }
    if (!Pte.present(pte)) {
      // Device-private pages of the caller are reported, never faulted home.
      if (Pte.isDevicePrivate(pte) && ownedBy(w, Pte.entryPfn(pte), range.devPrivateOwner)) {
        long cpuFlags = HmmPfn.VALID | (Pte.isDevicePrivateWrite(pte) ? HmmPfn.WRITE : 0);
        range.hmmPfns[i] = Pte.entryPfn(pte) | cpuFlags;
        return 0;
      }
      required = pteNeedFault(range, reqFlags, 0);
      if (required == 0) {
        range.hmmPfns[i] = 0;
        return 0;
      }
      // Swap, another device's private page, a device-exclusive or a migration entry: the
      // fault swaps in, migrates home, restores or waits.
      return fault(w, walk, addr, pmdEnd(range, vma, addr), required);
    }
    long cpuFlags =
        Pte.protnone(pte) ? 0 : Pte.write(pte) ? HmmPfn.VALID | HmmPfn.WRITE : HmmPfn.VALID;
    required = pteNeedFault(range, reqFlags, cpuFlags);
    if (required != 0) {
      return fault(w, walk, addr, pmdEnd(range, vma, addr), required);
    }
    if (Pte.special(pte) && Pte.pfn(pte) != w.vm.zeroPfn()) {
      if (pteNeedFault(range, reqFlags, 0) != 0) {
        return -Errno.EFAULT.number();
      }
      range.hmmPfns[i] = HmmPfn.ERROR;
      return 0;
    }
    range.hmmPfns[i] = Pte.pfn(pte) | cpuFlags;
    return 0;
  }

  private static boolean ownedBy(VmaWalk w, long pfn, Object owner) {
    DevPagemap pgmap = w.vm.physicalMemory().pagemapOf(pfn);
    return pgmap != null && pgmap.owner() == owner;
  }

  /** The end of the PMD walk the pte lies in: the kernel's {@code hmm_vma_fault()} faults to it. */
  private static long pmdEnd(HmmRange range, Vma vma, long addr) {
    long end = (addr & -PMD_SIZE) + PMD_SIZE;
    return Math.min(end, Math.min(range.end, vma.end()));
  }
}
