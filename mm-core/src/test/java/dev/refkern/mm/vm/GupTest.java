package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.MemmapTesting;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.VmItem;
import org.junit.jupiter.api.Test;

/** Every row of the "Pins and references" table, against the kernel's outcomes. */
class GupTest extends VmTestBase {
  private Task task;

  private long populated(int pages) {
    task = vm.createTask("t");
    long a = task.mmapAnon((long) pages * 4096);
    for (int i = 0; i < pages; i++) {
      task.storeLong(a + i * 4096L, i + 1);
    }
    settle();
    return a;
  }

  private long pins() {
    return mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
  }

  @Test
  void pinOfASmallFolioAddsTheBias() {
    boot();
    long a = populated(2);
    long[] pages = new long[2];
    assertEquals(2, gup.pinUserPages(task, a, 2, FOLL_WRITE, pages));
    assertEquals(1 + GUP_PIN_COUNTING_BIAS, mem.memmap().refcount(pages[0]));
    assertTrue(gup.folioMaybeDmaPinned(pages[1]));
    assertEquals(2, pins());
    gup.unpinUserPages(pages, 2);
    assertEquals(1, mem.memmap().refcount(pages[0]));
    assertFalse(gup.folioMaybeDmaPinned(pages[0]));
    assertEquals(2, mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED));
    task.exit();
  }

  @Test
  void fastPinTakesTheSamePins() {
    boot();
    long a = populated(8);
    long[] pages = new long[8];
    assertEquals(8, gup.pinUserPagesFast(task, a, 8, FOLL_WRITE | FOLL_LONGTERM, pages));
    for (int i = 0; i < 8; i++) {
      assertEquals(Pte.pfn(task.mm().pte(a + i * 4096L)), pages[i]);
      assertEquals(1 + GUP_PIN_COUNTING_BIAS, mem.memmap().refcount(pages[i]));
    }
    gup.unpinUserPagesDirtyLock(pages, 8, true);
    assertTrue(mem.memmap().testFlag(pages[3], PageFlags.PG_DIRTY));
    task.exit();
  }

  @Test
  void largeFoliosCountPinsExactly() {
    boot();
    task = vm.createTask("t");
    long a = task.mmapAnon(2L << 20);
    task.madvise(a, 2L << 20, MADV_HUGEPAGE);
    task.storeLong(a, 1);
    settle();
    long head = Pte.pfn(task.mm().pte(a));
    long[] pages = new long[3];
    assertEquals(3, gup.pinUserPagesFast(task, a + 4096, 3, FOLL_WRITE, pages));
    assertEquals(head + 1, pages[0]);
    assertEquals(1 + 3, mem.memmap().refcount(head));
    assertEquals(3, mem.memmap().pincount(head));
    assertTrue(gup.folioMaybeDmaPinned(head + 100));
    gup.unpinUserPages(pages, 3);
    assertEquals(0, mem.memmap().pincount(head));
    assertEquals(1, mem.memmap().refcount(head));
    assertFalse(gup.folioMaybeDmaPinned(head));
    task.exit();
  }

  @Test
  void follGetAddsOneAndPutPageDropsIt() {
    boot();
    long a = populated(1);
    long[] pages = new long[1];
    assertEquals(1, gup.getUserPagesFast(task, a, 1, 0, pages));
    assertEquals(2, mem.memmap().refcount(pages[0]));
    assertEquals(0, pins());
    gup.putPage(pages[0]);
    assertEquals(1, gup.getUserPages(task, a, 1, 0, pages));
    gup.putPage(pages[0]);
    assertEquals(1, mem.memmap().refcount(pages[0]));
    task.exit();
  }

  @Test
  void contradictoryFlagsAreEinvalWithAWarnAndNoPin() {
    boot();
    long a = populated(1);
    long[] pages = new long[1];
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> gup.pinUserPages(task, a, 1, FOLL_PIN, pages))
            .errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> gup.pinUserPages(task, a, 1, FOLL_GET, pages))
            .errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(
                KernelException.class, () -> gup.getUserPages(task, a, 1, FOLL_LONGTERM, pages))
            .errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> gup.getUserPagesFast(task, a, 1, FOLL_PIN, pages))
            .errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> gup.pinUserPagesFast(task, a, 1, 0, null))
            .errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> gup.pinUserPages(task, a, 2, 0, pages)).errno());
    assertEquals(6, mem.health().warnCount());
    assertEquals(0, pins());
    assertEquals(1, mem.memmap().refcount(Pte.pfn(task.mm().pte(a))));
    task.exit();
  }

  @Test
  void theZeroPageIsNeverPinned() {
    boot();
    task = vm.createTask("t");
    long a = task.mmapAnon(4096);
    int zeroRef = mem.memmap().refcount(vm.zeroPfn());
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, a, 1, 0, pages));
    assertEquals(vm.zeroPfn(), pages[0]);
    assertEquals(zeroRef, mem.memmap().refcount(vm.zeroPfn()));
    assertEquals(0, pins());
    gup.unpinUserPage(pages[0]);
    assertEquals(zeroRef, mem.memmap().refcount(vm.zeroPfn()));
    assertEquals(0, mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED));
    task.exit();
  }

  @Test
  void maybeDmaPinnedHasFalsePositivesButNoFalseNegatives() {
    boot();
    long a = populated(1);
    long pfn = Pte.pfn(task.mm().pte(a));
    for (int i = 0; i < GUP_PIN_COUNTING_BIAS; i++) {
      mem.allocator().getPage(pfn);
    }
    assertTrue(gup.folioMaybeDmaPinned(pfn), "1024 plain references look like a pin");
    for (int i = 0; i < GUP_PIN_COUNTING_BIAS; i++) {
      mem.allocator().putPage(pfn);
    }
    assertFalse(gup.folioMaybeDmaPinned(pfn));
    task.exit();
  }

  @Test
  void vmaFlagsAreCheckedAsCheckVmaFlagsDoes() {
    boot();
    long a = populated(1);
    long[] pages = new long[1];
    Vma v = task.mm().vmaContaining(a);
    v.flags |= VmFlags.VM_IO;
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> gup.pinUserPages(task, a, 1, 0, pages)).errno());
    v.flags &= ~VmFlags.VM_IO;
    v.flags |= VmFlags.VM_PFNMAP;
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> gup.getUserPages(task, a, 1, 0, pages)).errno());
    v.flags &= ~VmFlags.VM_PFNMAP;
    v.flags |= VmFlags.VM_SECRETMEM;
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> gup.pinUserPages(task, a, 1, 0, pages)).errno());
    v.flags &= ~VmFlags.VM_SECRETMEM;
    task.mprotect(a, 4096, PROT_READ);
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> gup.pinUserPages(task, a, 1, FOLL_WRITE, pages))
            .errno());
    // FOLL_FORCE may write a private (COW) mapping: ptrace's way
    assertEquals(1, gup.pinUserPages(task, a, 1, FOLL_WRITE | FOLL_FORCE, pages));
    gup.unpinUserPage(pages[0]);
    task.mprotect(a, 4096, PROT_NONE);
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> gup.pinUserPages(task, a, 1, 0, pages)).errno());
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> gup.pinUserPagesFast(task, a, 1, 0, pages))
            .errno());
    long s = task.mmap(0, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, null, 0);
    assertEquals(
        Errno.EFAULT,
        assertThrows(
                KernelException.class,
                () -> gup.pinUserPages(task, s, 1, FOLL_WRITE | FOLL_FORCE, pages))
            .errno(),
        "FOLL_FORCE does not write a shared read-only mapping");
    task.exit();
  }

  @Test
  void longtermPinOfFsdaxIsEopnotsupp() {
    boot();
    long a = populated(1);
    task.mm().vmaContaining(a).flags |= VmFlags.VM_FSDAX;
    long[] pages = new long[1];
    assertEquals(
        Errno.EOPNOTSUPP,
        assertThrows(
                KernelException.class, () -> gup.pinUserPages(task, a, 1, FOLL_LONGTERM, pages))
            .errno());
    assertEquals(1, gup.pinUserPages(task, a, 1, 0, pages), "a short-term pin of fsdax is fine");
    gup.unpinUserPage(pages[0]);
    task.exit();
  }

  @Test
  void swapEntriesEncodeTypeAndOffset() {
    long e = Pte.swapEntry(3, 123456);
    assertTrue(Pte.isSwap(e));
    assertFalse(Pte.present(e));
    assertEquals(3, Pte.swapType(e));
    assertEquals(123456, Pte.swapOffset(e));
    assertFalse(Pte.isSwap(Pte.make(5, Pte.PRESENT)));
  }

  @Test
  void partialSuccessReturnsTheCountAndAnErrorOnlyWhenNothingWasPinned() {
    boot();
    long a = populated(4);
    task.munmap(a + 2 * 4096, 2 * 4096);
    long[] pages = new long[4];
    assertEquals(2, gup.pinUserPages(task, a, 4, 0, pages));
    gup.unpinUserPages(pages, 2);
    assertEquals(2, gup.pinUserPagesFast(task, a, 4, 0, pages));
    gup.unpinUserPages(pages, 2);
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> gup.pinUserPages(task, a + 2 * 4096, 2, 0, pages))
            .errno());
    task.exit();
  }

  @Test
  void rangesAreCheckedLikeGupFast() {
    boot();
    long a = populated(1);
    long[] pages = new long[2];
    assertEquals(
        1, gup.pinUserPagesFast(task, a + 123, 1, 0, pages), "an unaligned start pins its page");
    assertEquals(Pte.pfn(task.mm().pte(a)), pages[0]);
    gup.unpinUserPage(pages[0]);
    assertEquals(
        Errno.EOVERFLOW,
        assertThrows(KernelException.class, () -> gup.pinUserPagesFast(task, -8192L, 2, 0, pages))
            .errno());
    assertEquals(
        Errno.EFAULT,
        assertThrows(
                KernelException.class,
                () -> gup.pinUserPagesFast(task, MmStruct.TASK_SIZE, 1, 0, pages))
            .errno());
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> gup.pinUserPages(task, 0x1000, 1, 0, pages))
            .errno());
    assertEquals(0, gup.pinUserPages(task, a, 0, 0, pages));
    task.exit();
  }

  @Test
  void getUserPagesWithoutAnArrayFaultsPagesInAndTakesNothing() {
    boot();
    task = vm.createTask("t");
    long a = task.mmapAnon(4 * 4096);
    assertEquals(4, gup.getUserPages(task, a, 4, FOLL_WRITE, null));
    settle();
    long pfn = Pte.pfn(task.mm().pte(a + 4096));
    assertEquals(1, mem.memmap().refcount(pfn));
    assertTrue(Pte.write(task.mm().pte(a + 4096)));
    task.exit();
  }

  @Test
  void pinningASharedAnonPageUnsharesItFirst() {
    boot();
    long a = populated(1);
    long shared = Pte.pfn(task.mm().pte(a));
    Task child = task.fork("child");
    assertFalse(mem.memmap().testFlag(shared, PageFlags.PG_ANON_EXCLUSIVE));
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, a, 1, 0, pages), "a read-only pin");
    assertTrue(
        mem.memmap().testFlag(pages[0], PageFlags.PG_ANON_EXCLUSIVE),
        "only exclusive anon pages are pinned");
    assertNotEquals(
        Pte.pfn(child.mm().pte(a)), pages[0], "parent and child no longer share the pinned page");
    // the child's writes never reach the pinned page
    child.storeLong(a, 99);
    byte[] b = new byte[8];
    mem.ram().read(pages[0], 0, b, 0, 8);
    assertEquals(1, b[0]);
    gup.unpinUserPage(pages[0]);
    child.exit();
    task.exit();
  }

  @Test
  void forkCopiesPinnedAnonPagesEagerly() {
    boot();
    long a = populated(2);
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPagesFast(task, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages));
    assertTrue(task.mm().hasPinned());
    Task child = task.fork("child");
    assertEquals(pages[0], Pte.pfn(task.mm().pte(a)), "the parent keeps the pinned page");
    assertTrue(Pte.write(task.mm().pte(a)), "and keeps it writable");
    assertNotEquals(pages[0], Pte.pfn(child.mm().pte(a)), "the child got a copy");
    assertEquals(1, child.loadLong(a));
    // an unpinned page is shared copy-on-write as usual
    assertEquals(Pte.pfn(task.mm().pte(a + 4096)), Pte.pfn(child.mm().pte(a + 4096)));
    // DMA into the pinned page is seen by the parent only
    mem.ram().writeLong(pages[0], 0, 1234);
    assertEquals(1234, task.loadLong(a));
    assertEquals(1, child.loadLong(a));
    gup.unpinUserPage(pages[0]);
    child.exit();
    task.exit();
  }

  @Test
  void gupFastRefusesDuringForkAndOnProtNone() {
    boot();
    long a = populated(2);
    long[] pages = new long[2];
    task.mm().writeProtectSeq.incrementAndGet(); // fork in progress
    assertEquals(2, gup.pinUserPagesFast(task, a, 2, 0, pages), "the slow path still pins");
    gup.unpinUserPages(pages, 2);
    task.mm().writeProtectSeq.incrementAndGet();
    task.mprotect(a, 4096, PROT_NONE);
    assertEquals(
        Errno.EFAULT,
        assertThrows(KernelException.class, () -> gup.pinUserPagesFast(task, a, 1, 0, pages))
            .errno());
    task.exit();
  }

  @Test
  void refcountOverflowIsRefusedNotWrapped() {
    boot();
    long a = populated(1);
    long pfn = Pte.pfn(task.mm().pte(a));
    MemmapTesting.ops(mem).setRefcount(pfn, Integer.MAX_VALUE - 100);
    long[] pages = new long[1];
    assertEquals(
        Errno.ENOMEM,
        assertThrows(KernelException.class, () -> gup.pinUserPagesFast(task, a, 1, 0, pages))
            .errno());
    assertEquals(Integer.MAX_VALUE - 100, mem.memmap().refcount(pfn));
    assertEquals(0, pins());
    MemmapTesting.ops(mem).setRefcount(pfn, 1);
    task.exit();
  }

  @Test
  void longtermPinMigratesZoneMovablePagesOutFirst() {
    boot("mem=256M movablecore=64M");
    long a = populated(2);
    long before = Pte.pfn(task.mm().pte(a));
    assertEquals(dev.refkern.mm.ZoneType.MOVABLE, mem.memmap().zone(before));
    long[] pages = new long[2];
    assertEquals(2, gup.pinUserPagesFast(task, a, 2, FOLL_WRITE | FOLL_LONGTERM, pages));
    for (long pfn : pages) {
      assertEquals(dev.refkern.mm.ZoneType.NORMAL, mem.memmap().zone(pfn));
    }
    assertEquals(pages[0], Pte.pfn(task.mm().pte(a)), "the mapping follows the page");
    assertEquals(1, task.loadLong(a), "contents moved with it");
    assertEquals(2, mem.vmstat().get(VmItem.PGMIGRATE_SUCCESS));
    gup.unpinUserPages(pages, 2);
    task.exit();
  }

  @Test
  void longtermPinFailsWhenAnotherPinHoldsTheMovablePage() {
    boot("mem=256M movablecore=64M");
    long a = populated(2);
    long[] other = new long[1];
    assertEquals(1, gup.pinUserPages(task, a, 1, 0, other), "a short-term pin, e.g. in-flight DIO");
    long[] pages = new long[2];
    assertEquals(
        Errno.ENOMEM,
        assertThrows(
                KernelException.class, () -> gup.pinUserPages(task, a, 2, FOLL_LONGTERM, pages))
            .errno());
    assertEquals(1, mem.vmstat().get(VmItem.PGMIGRATE_FAIL));
    assertEquals(other[0], Pte.pfn(task.mm().pte(a)), "the pinned page was mapped back unchanged");
    assertEquals(
        1 + GUP_PIN_COUNTING_BIAS, mem.memmap().refcount(other[0]), "only the other pin remains");
    gup.unpinUserPage(other[0]);
    task.exit();
  }

  @Test
  void remoteGupNeedsAReferenceOnTheOtherMm() {
    boot();
    long a = populated(1);
    long[] pages = new long[1];
    try (MmRef ref = task.getTaskMm()) {
      assertEquals(1, gup.pinUserPagesRemote(ref, a, 1, FOLL_WRITE, pages));
      assertEquals(1, gup.getUserPagesRemote(ref, a, 1, 0, new long[1]));
    }
    gup.unpinUserPage(pages[0]);
    mem.allocator().putPage(pages[0]);
    MmRef held = task.getTaskMm();
    task.exit();
    assertNotNull(held.mm(), "a held reference keeps the mm alive after exit");
    assertEquals(1, gup.getUserPagesRemote(held, a, 1, 0, null));
    held.close();
    assertNull(task.getTaskMm());
  }

  @Test
  void unpinOfAnUnpinnedPageIsBug() {
    boot();
    long a = populated(1);
    long pfn = Pte.pfn(task.mm().pte(a));
    assertThrows(dev.refkern.mm.KernelBugException.class, () -> gup.unpinUserPage(pfn));
    assertEquals(1, mem.memmap().refcount(pfn));
  }

  @Test
  void nullEntriesAreSkippedOnUnpin() {
    boot();
    long a = populated(2);
    long[] pages = new long[2];
    gup.pinUserPages(task, a, 2, 0, pages);
    long[] withNull = {pages[0], PageAllocator.NO_PFN, pages[1]};
    gup.unpinUserPagesDirtyLock(withNull, 3, false);
    assertEquals(1, mem.memmap().refcount(pages[1]));
    task.exit();
  }

  @Test
  void munmapOfAPinnedPageLeavesItAliveUntilUnpin() {
    boot();
    long a = populated(1);
    long[] pages = new long[1];
    gup.pinUserPages(task, a, 1, FOLL_WRITE, pages);
    long free = mem.allocator().nrFreePages();
    task.munmap(a, 4096);
    assertEquals(free, mem.allocator().nrFreePages(), "the pin keeps the page");
    assertEquals(GUP_PIN_COUNTING_BIAS, mem.memmap().refcount(pages[0]));
    gup.unpinUserPage(pages[0]);
    settle();
    assertEquals(free + 1, mem.allocator().nrFreePages());
    task.exit();
  }

  @Test
  void aCallersFollGetIsFineForTheGetFamilyButNotWithAPin() {
    boot();
    long a = populated(1);
    long pfn = Pte.pfn(task.mm().pte(a));
    long[] pages = new long[1];
    // is_valid_gup_args(): "The caller may or may not have explicitly set FOLL_GET"
    assertEquals(1, gup.getUserPages(task, a, 1, FOLL_GET, pages));
    assertEquals(1, gup.getUserPagesFast(task, a, 1, FOLL_GET | FOLL_WRITE, pages));
    try (MmRef ref = task.getTaskMm()) {
      assertEquals(1, gup.getUserPagesRemote(ref, a, 1, FOLL_GET, pages));
    }
    assertEquals(pfn, pages[0]);
    assertEquals(1 + 3, mem.memmap().refcount(pfn), "three FOLL_GET references");
    for (int i = 0; i < 3; i++) {
      gup.putPage(pfn);
    }
    assertEquals(0, mem.health().warnCount());
    // FOLL_GET with FOLL_PIN stays a WARN and EINVAL
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> gup.pinUserPagesFast(task, a, 1, FOLL_GET, pages))
            .errno());
    try (MmRef ref = task.getTaskMm()) {
      assertEquals(
          Errno.EINVAL,
          assertThrows(
                  KernelException.class, () -> gup.pinUserPagesRemote(ref, a, 1, FOLL_GET, pages))
              .errno());
    }
    assertEquals(2, mem.health().warnCount());
    assertEquals(0, pins());
    assertEquals(1, mem.memmap().refcount(pfn));
    task.exit();
  }

  @Test
  void everyEntryPointRefusesANullPagesArrayBeforeTakingAnything() {
    boot();
    long a = populated(1);
    long pfn = Pte.pfn(task.mm().pte(a));
    assertEquals(1, mem.memmap().refcount(pfn));
    try (MmRef ref = task.getTaskMm()) {
      java.util.List<org.junit.jupiter.api.function.Executable> calls =
          java.util.List.of(
              () -> gup.getUserPagesFast(task, a, 1, 0, null),
              () -> gup.getUserPagesFast(task, a, 1, FOLL_WRITE, null),
              () -> gup.getUserPages(task, a, 1, FOLL_GET, null),
              () -> gup.getUserPagesRemote(ref, a, 1, FOLL_GET, null),
              () -> gup.pinUserPages(task, a, 1, 0, null),
              () -> gup.pinUserPagesFast(task, a, 1, 0, null),
              () -> gup.pinUserPagesRemote(ref, a, 1, 0, null));
      for (var call : calls) {
        KernelException e = assertThrows(KernelException.class, call);
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("Pages input must be given"), e.getMessage());
        assertEquals(1, mem.memmap().refcount(pfn), "nothing taken");
      }
      assertEquals(calls.size(), mem.health().warnCount());
    }
    assertEquals(0, pins());
    task.exit();
  }

  @Test
  void forcedWriteToAnUntouchedReadOnlyPrivateAnonMappingLeavesNoWritablePte() {
    boot();
    task = vm.createTask("t");
    long a = task.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, null, 0);
    long[] pages = new long[1];
    assertEquals(1, gup.getUserPages(task, a, 1, FOLL_WRITE | FOLL_FORCE, pages));
    long pte = task.mm().pte(a);
    assertFalse(Pte.write(pte), "maybe_mkwrite(): no write bit without VM_WRITE");
    assertTrue(Pte.dirty(pte), "GUP follows the dirty read-only pte");
    assertEquals(pages[0], Pte.pfn(pte));
    assertTrue(mem.memmap().testFlag(pages[0], PageFlags.PG_ANON_EXCLUSIVE));
    mem.ram().writeLong(pages[0], 0, 42); // the forced write (ptrace's access_remote_vm)
    assertEquals(42, task.loadLong(a), "it landed in the process's private page");
    KernelException e = assertThrows(KernelException.class, () -> task.storeLong(a, 7));
    assertEquals(Errno.EFAULT, e.errno());
    assertTrue(e.getMessage().contains("SIGSEGV: write"), e.getMessage());
    long[] again = new long[1];
    assertEquals(1, gup.getUserPages(task, a, 1, FOLL_WRITE | FOLL_FORCE, again));
    assertEquals(pages[0], again[0], "a second forced write finds the same page");
    gup.putPage(pages[0]);
    gup.putPage(again[0]);
    assertEquals(42, task.loadLong(a));
    task.exit();
  }

  @Test
  void longtermReadPinOfTheZeroPageUnsharesAndTheProcessWritesGoToThePin() {
    boot();
    task = vm.createTask("t");
    long a = task.mmapAnon(2 * 4096);
    assertEquals(0, task.loadLong(a)); // the zero page, read-only
    assertEquals(0, task.loadLong(a + 4096));
    assertEquals(vm.zeroPfn(), Pte.pfn(task.mm().pte(a)));
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, a, 1, FOLL_LONGTERM, pages));
    long[] fast = new long[1];
    assertEquals(1, gup.pinUserPagesFast(task, a + 4096, 1, FOLL_LONGTERM, fast));
    for (long[] p : new long[][] {pages, fast}) {
      assertNotEquals(vm.zeroPfn(), p[0], "FAULT_FLAG_UNSHARE gave an exclusive anon copy");
      assertTrue(mem.memmap().testFlag(p[0], PageFlags.PG_ANON_EXCLUSIVE));
      assertTrue(gup.folioMaybeDmaPinned(p[0]));
    }
    assertEquals(pages[0], Pte.pfn(task.mm().pte(a)));
    assertFalse(Pte.write(task.mm().pte(a)), "unsharing does not make the pte writable");
    task.storeLong(a, 5);
    task.storeLong(a + 4096, 6);
    assertEquals(pages[0], Pte.pfn(task.mm().pte(a)), "no COW away from the pin");
    assertEquals(5, mem.ram().readLong(pages[0], 0), "the device sees the process's store");
    assertEquals(6, mem.ram().readLong(fast[0], 0));
    gup.unpinUserPage(pages[0]);
    gup.unpinUserPage(fast[0]);
    task.exit();
  }
}
