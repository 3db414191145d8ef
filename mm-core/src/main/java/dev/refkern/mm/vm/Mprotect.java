package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.vm.Pte.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.List;

/** {@code mprotect()} ({@code mm/mprotect.c}): new VMA flags and {@code change_protection()}. */
final class Mprotect {
  private final Mmap mmap;
  private final PageWalk pageWalk;

  /** {@code change_pte_range()} for PROT_NONE ({@code priv} true) or any other protection. */
  private static final MmWalkOps CHANGE_PTE =
      new MmWalkOps(
          (h, addr, next, walk) -> {
            // change_pmd_range(): a THP the range covers whole keeps its PMD (change_huge_pmd());
            // refkern still splits it for PROT_NONE, having no PROT_NONE huge PMD
            if (h != 0 && next - addr == PageTable.PMD_SIZE && !(Boolean) walk.priv()) {
              walk.setPte(newProt(h, false));
              walk.setAction(PageWalk.ACTION_CONTINUE);
            }
            return 0;
          },
          (e, addr, next, walk) -> {
            if (isDevicePrivateWrite(e)) {
              walk.setPte(devicePrivateEntry(entryPfn(e), false)); // change_pte_range()
              return 0;
            }
            if (Migrate.isMigrationEntry(e) && swapType(e) == Migrate.SWP_MIGRATION_WRITE) {
              walk.setPte(swapEntry(Migrate.SWP_MIGRATION_READ, entryPfn(e)));
              return 0;
            }
            if (e == 0 || Pte.isSwap(e)) {
              return 0; // swap entries carry no permissions
            }
            walk.setPte(newProt(e, (Boolean) walk.priv()));
            return 0;
          },
          null);

  /** The entry without write access, or hidden for PROT_NONE ({@code protNone}). */
  private static long newProt(long e, boolean protNone) {
    e &= ~WRITE;
    if (protNone) {
      e = (e & ~PRESENT) | PROTNONE;
    } else if (protnone(e)) {
      e = (e & ~PROTNONE) | PRESENT;
    }
    return e;
  }

  Mprotect(Mmap mmap, PageWalk pageWalk) {
    this.mmap = mmap;
    this.pageWalk = pageWalk;
  }

  /** {@code mprotect()}: {@code PROTECTION_VMA} notifiers; ptes lose write or become PROT_NONE. */
  void mprotect(MmStruct m, long addr, long len, int prot) {
    if ((addr & ~PAGE_MASK) != 0) {
      throw new KernelException(Errno.EINVAL, "mprotect: address not page aligned");
    }
    if (len == 0) {
      return;
    }
    Mmap.checkRange(addr, len);
    long end = addr + ((len + PAGE_SIZE - 1) & PAGE_MASK);
    m.mmapLock.writeLock();
    try {
      for (long a = addr; a < end; ) {
        Vma v = m.vmaContaining(a);
        if (v == null) {
          throw new KernelException(
              Errno.ENOMEM, "mprotect: range not fully mapped at " + Long.toHexString(a));
        }
        if ((prot & Mman.PROT_WRITE) != 0 && (v.flags & VmFlags.VM_MAYWRITE) == 0) {
          throw new KernelException(
              Errno.EACCES, "mprotect: PROT_WRITE on a mapping that may not be written");
        }
        a = v.end;
      }
      List<Vma> hit = mmap.splitAround(m, addr, end);
      MmuNotifierRange r =
          MmuNotifierRange.init(
              MmuNotifierEvent.PROTECTION_VMA,
              MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
              m,
              addr,
              end);
      m.notifiers.invalidateRangeStart(r);
      try {
        for (Vma v : hit) {
          v.flags =
              (v.flags & ~(VmFlags.VM_READ | VmFlags.VM_WRITE | VmFlags.VM_EXEC))
                  | VmFlags.fromProt(prot);
          // change_protection(): write access is regained by a fault; PROT_NONE hides the pte
          pageWalk.walkPageRange(m, v.start, v.end, CHANGE_PTE, prot == Mman.PROT_NONE);
        }
      } finally {
        m.notifiers.invalidateRangeEnd(r);
      }
    } finally {
      m.mmapLock.writeUnlock();
    }
  }
}
