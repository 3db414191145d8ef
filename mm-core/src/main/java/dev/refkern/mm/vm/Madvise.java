package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;

/**
 * {@code madvise()} ({@code mm/madvise.c}): {@code MADV_DONTNEED} and {@code MADV_[NO]HUGEPAGE}.
 */
final class Madvise {
  private final Mmap mmap;
  private final Memory memory;

  Madvise(Mmap mmap, Memory memory) {
    this.mmap = mmap;
    this.memory = memory;
  }

  /** {@code madvise()}: {@code MADV_DONTNEED} zaps ({@code CLEAR}); {@code MADV_[NO]HUGEPAGE}. */
  void madvise(MmStruct m, long addr, long len, int advice) {
    if ((addr & ~PAGE_MASK) != 0 || len < 0) {
      throw new KernelException(Errno.EINVAL, "madvise: address not page aligned");
    }
    if (advice != Mman.MADV_DONTNEED
        && advice != Mman.MADV_HUGEPAGE
        && advice != Mman.MADV_NOHUGEPAGE) {
      throw new KernelException(Errno.EINVAL, "madvise: unknown advice " + advice);
    }
    if (len == 0) {
      return;
    }
    long end = addr + ((len + PAGE_SIZE - 1) & PAGE_MASK);
    boolean hole = false;
    m.mmapLock.writeLock();
    try {
      for (long a = addr; a < end; ) {
        Vma v = m.vmaContaining(a);
        if (v == null) {
          hole = true;
          Long next = m.vmas.ceilingKey(a);
          if (next == null || next >= end) {
            break;
          }
          a = next;
          continue;
        }
        long s = Math.max(a, v.start);
        long e = Math.min(end, v.end);
        if (advice == Mman.MADV_DONTNEED) {
          if ((v.flags & (VmFlags.VM_LOCKED | VmFlags.VM_PFNMAP)) != 0) {
            throw new KernelException(
                Errno.EINVAL, "madvise(MADV_DONTNEED) on a locked or PFNMAP VMA");
          }
          MmuNotifierRange r =
              MmuNotifierRange.init(
                  MmuNotifierEvent.CLEAR, MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE, m, s, e);
          m.notifiers.invalidateRangeStart(r);
          try {
            memory.zapRange(m, s, e);
          } finally {
            m.notifiers.invalidateRangeEnd(r);
          }
        } else {
          for (Vma part : mmap.splitAround(m, s, e)) {
            if (advice == Mman.MADV_HUGEPAGE) {
              part.flags = (part.flags | VmFlags.VM_HUGEPAGE) & ~VmFlags.VM_NOHUGEPAGE;
            } else {
              part.flags = (part.flags | VmFlags.VM_NOHUGEPAGE) & ~VmFlags.VM_HUGEPAGE;
            }
          }
        }
        a = v.end;
      }
    } finally {
      m.mmapLock.writeUnlock();
    }
    if (hole) {
      throw new KernelException(Errno.ENOMEM, "madvise: range not fully mapped");
    }
  }
}
