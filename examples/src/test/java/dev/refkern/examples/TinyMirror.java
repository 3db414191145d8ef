package dev.refkern.examples;

import dev.refkern.hmm.Hmm;
import dev.refkern.hmm.HmmPfn;
import dev.refkern.hmm.HmmRange;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.vm.MmStruct;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.notifier.MmuIntervalNotifier;
import dev.refkern.notifier.MmuNotifierRange;

/**
 * A device page table mirrored with {@code hmm_range_fault()} and an {@code mmu_interval_notifier}
 * (Documentation/mm/hmm.rst's driver loop): the device maps user pages and pins none.
 */
public final class TinyMirror implements AutoCloseable {
  private final VirtualMemory vm;
  private final MmStruct mm;
  private final long start;
  private final long[] devicePt; // the device's page table: a pfn per page, 0 = not mapped
  private final MmuIntervalNotifier notifier;

  public TinyMirror(VirtualMemory vm, MmStruct mm, long start, int npages) {
    this.vm = vm;
    this.mm = mm;
    this.start = start;
    this.devicePt = new long[npages];
    long length = (long) npages << Page.PAGE_SHIFT;
    this.notifier = mm.notifiers().intervalInsert(start, length, this::invalidate);
  }

  /** The CPU is about to change [r.start(), r.end()): the device lets go of it first. */
  private synchronized boolean invalidate(MmuIntervalNotifier mni, MmuNotifierRange r, long seq) {
    mni.setSeq(seq);
    for (int i = 0; i < devicePt.length; i++) {
      long a = start + ((long) i << Page.PAGE_SHIFT);
      if (a >= r.start() && a < r.end()) {
        devicePt[i] = 0;
      }
    }
    return true;
  }

  /** The device touched page {@code i}: fault it in and map it, unless an invalidation raced. */
  public long deviceFault(int i, boolean write) {
    HmmRange range = new HmmRange();
    range.notifier = notifier;
    range.start = start + ((long) i << Page.PAGE_SHIFT);
    range.end = range.start + Page.PAGE_SIZE;
    range.hmmPfns = new long[1];
    range.defaultFlags = HmmPfn.REQ_FAULT | (write ? HmmPfn.REQ_WRITE : 0);
    while (true) {
      range.notifierSeq = notifier.readBegin();
      mm.mmapReadLock();
      try {
        Hmm.rangeFault(vm, range); // EFAULT, EPERM, EINVAL go to the caller
      } catch (KernelException e) {
        if (e.errno() == Errno.EBUSY) {
          continue; // invalidated while it walked: again
        }
        throw e;
      } finally {
        mm.mmapReadUnlock();
      }
      synchronized (this) { // the lock invalidate() takes
        if (!notifier.readRetry(range.notifierSeq)) {
          return devicePt[i] = HmmPfn.pfn(range.hmmPfns[0]);
        }
      }
    }
  }

  /** The pfn the device maps page {@code i} to, 0 if none. */
  public synchronized long mapped(int i) {
    return devicePt[i];
  }

  @Override
  public void close() {
    notifier.remove();
  }
}
