package dev.refkern.hmm;

import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.MmStruct;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.notifier.MmuIntervalNotifier;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code hmm_range_fault()}'s outcomes for a driver calling it directly. */
class HmmRangeFaultTest {
  private static final int PAGE = 4096;

  @TempDir Path dir;
  private VirtualMemory vm;
  private PhysicalMemory mem;
  private Task task;
  private MmStruct mm;
  private MmuIntervalNotifier sub;

  @BeforeEach
  void boot() {
    vm = VirtualMemory.boot(BootParams.parse("mem=256M"), dir, false);
    mem = vm.physicalMemory();
    task = vm.createTask("t");
    mm = task.mm();
    sub =
        mm.notifiers()
            .intervalInsert(
                0,
                dev.refkern.mm.Page.PAGE_MASK,
                (s, r, seq) -> {
                  s.setSeq(seq);
                  return true;
                });
  }

  @AfterEach
  void check() {
    try {
      sub.remove();
      task.exit();
      vm.lru().lruAddDrainAll();
      List<String> p = mem.debugVm().checkNoPinsHeld();
      assertTrue(p.isEmpty(), "CONFIG_DEBUG_VM: " + p);
    } finally {
      mem.close();
    }
  }

  private HmmRange range(long start, long end, long defaultFlags) {
    HmmRange r = new HmmRange();
    r.notifier = sub;
    r.start = start;
    r.end = end;
    r.hmmPfns = new long[(int) Math.max(0, (end - start) / PAGE)];
    r.defaultFlags = defaultFlags;
    return r;
  }

  private void fault(HmmRange r) {
    r.notifierSeq = sub.readBegin();
    mm.mmapReadLock();
    try {
      Hmm.rangeFault(vm, r);
    } finally {
      mm.mmapReadUnlock();
    }
  }

  /** The driver's loop: a fault that itself invalidates (COW of the zero page) gives EBUSY. */
  private void faultRetrying(HmmRange r) {
    for (int tries = 0; ; tries++) {
      try {
        fault(r);
        return;
      } catch (KernelException e) {
        if (e.errno() != Errno.EBUSY || tries > 100) {
          throw e;
        }
      }
    }
  }

  private Errno errno(HmmRange r) {
    return assertThrows(KernelException.class, () -> fault(r)).errno();
  }

  @Test
  void unalignedOrReversedRangeIsEinval() {
    long a = task.mmapAnon(4 * PAGE);
    assertEquals(Errno.EINVAL, errno(range(a + 1, a + 2 * PAGE, 0)));
    assertEquals(Errno.EINVAL, errno(range(a + 2 * PAGE, a, 0)));
    assertEquals(Errno.EINVAL, errno(range(a, a, 0)));
  }

  @Test
  void holesAreZeroAndPresentPagesValidWithoutFaulting() {
    long a = task.mmapAnon(4 * PAGE);
    task.storeLong(a + PAGE, 1);
    HmmRange r = range(a, a + 4 * PAGE, 0);
    java.util.Arrays.fill(r.hmmPfns, HmmPfn.REQ_FAULT); // ignored: pfn_flags_mask is 0
    fault(r);
    assertEquals(0, r.hmmPfns[0]);
    assertEquals(Pte.pfn(mm.pte(a + PAGE)) | HmmPfn.VALID | HmmPfn.WRITE, r.hmmPfns[1]);
    assertEquals(0, r.hmmPfns[2]);
    assertEquals(0, mm.pte(a), "nothing was faulted in");
  }

  @Test
  void requestedFaultsPopulateTheRange() {
    long a = task.mmapAnon(4 * PAGE);
    HmmRange r = range(a, a + 4 * PAGE, HmmPfn.REQ_FAULT);
    fault(r);
    for (int i = 0; i < 4; i++) {
      assertEquals(HmmPfn.VALID, r.hmmPfns[i] & HmmPfn.FLAGS, "read fault: the zero page");
      assertEquals(vm.zeroPfn(), HmmPfn.pfn(r.hmmPfns[i]));
    }
    HmmRange w = range(a, a + 4 * PAGE, HmmPfn.REQ_FAULT | HmmPfn.REQ_WRITE);
    HmmRange first = range(a, a + 4 * PAGE, HmmPfn.REQ_FAULT | HmmPfn.REQ_WRITE);
    assertEquals(Errno.EBUSY, errno(first), "the COW of the zero page invalidated the range");
    faultRetrying(w);
    for (int i = 0; i < 4; i++) {
      assertEquals(HmmPfn.VALID | HmmPfn.WRITE, w.hmmPfns[i] & HmmPfn.FLAGS);
      assertEquals(Pte.pfn(mm.pte(a + (long) i * PAGE)), HmmPfn.pfn(w.hmmPfns[i]));
    }
  }

  @Test
  void noVmaIsErrorOrEfaultWhenAFaultIsAsked() {
    long a = task.mmapAnon(3 * PAGE);
    task.munmap(a + PAGE, PAGE);
    HmmRange r = range(a, a + 3 * PAGE, 0);
    fault(r);
    assertEquals(HmmPfn.ERROR, r.hmmPfns[1]);
    assertEquals(Errno.EFAULT, errno(range(a, a + 3 * PAGE, HmmPfn.REQ_FAULT)));
  }

  @Test
  void protNoneIsErrorOrEfaultAndWriteToReadOnlyIsEperm() {
    long a = task.mmapAnon(2 * PAGE);
    task.storeLong(a, 1);
    task.mprotect(a, 2 * PAGE, PROT_NONE);
    HmmRange r = range(a, a + 2 * PAGE, 0);
    fault(r);
    assertEquals(HmmPfn.ERROR, r.hmmPfns[0]);
    assertEquals(Errno.EFAULT, errno(range(a, a + 2 * PAGE, HmmPfn.REQ_FAULT)));
    task.mprotect(a, 2 * PAGE, PROT_READ);
    assertEquals(Errno.EPERM, errno(range(a, a + 2 * PAGE, HmmPfn.REQ_FAULT | HmmPfn.REQ_WRITE)));
  }

  @Test
  void anInvalidationSinceReadBeginIsEbusy() {
    long a = task.mmapAnon(2 * PAGE);
    task.storeLong(a, 1);
    HmmRange r = range(a, a + 2 * PAGE, 0);
    r.notifierSeq = sub.readBegin();
    task.madvise(a, 2 * PAGE, MADV_DONTNEED); // invalidates the range
    mm.mmapReadLock();
    try {
      assertEquals(
          Errno.EBUSY, assertThrows(KernelException.class, () -> Hmm.rangeFault(vm, r)).errno());
    } finally {
      mm.mmapReadUnlock();
    }
    fault(r); // a fresh read_begin succeeds
    assertEquals(0, r.hmmPfns[0]);
  }

  @Test
  void aHugePmdIsReportedPerSubpageWithoutSplitting() {
    long len = 4L << 20;
    long base = task.mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    long a = (base + (2L << 20) - 1) & -(2L << 20);
    task.madvise(a, 2L << 20, MADV_HUGEPAGE);
    task.storeLong(a, 7);
    assertTrue(Pte.huge(mm.pte(a)), "setup: a THP");
    long head = Pte.pfn(mm.pte(a));
    HmmRange r = range(a + 8 * PAGE, a + 24 * PAGE, HmmPfn.REQ_FAULT | HmmPfn.REQ_WRITE);
    fault(r);
    for (int i = 0; i < 16; i++) {
      assertEquals(head + 8 + i | HmmPfn.VALID | HmmPfn.WRITE | HmmPfn.flagsOrder(9), r.hmmPfns[i]);
      assertEquals(9, HmmPfn.mapOrder(r.hmmPfns[i]), "hmm_pfn_to_map_order(): a PMD");
    }
    assertTrue(Pte.huge(mm.pte(a)), "still one PMD");
  }
}
