package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageFlags;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierOps;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class VirtualMemoryTest extends VmTestBase {
  @BeforeEach
  void setUp() {
    boot();
  }

  private List<MmuNotifierEvent> recordEvents(MmStruct mm) {
    List<MmuNotifierEvent> events = new ArrayList<>();
    mm.notifiers()
        .register(
            new MmuNotifierOps() {
              @Override
              public int invalidateRangeStart(
                  dev.refkern.notifier.MmuNotifier sub, MmuNotifierRange range) {
                events.add(range.event());
                return 0;
              }
            });
    return events;
  }

  @Test
  void anonReadMapsTheZeroPageAndWriteAllocates() {
    Task t = vm.createTask("t");
    long a = t.mmapAnon(3 * 4096);
    assertEquals(0, t.loadLong(a));
    assertEquals(vm.zeroPfn(), Pte.pfn(t.mm().pte(a)));
    assertTrue(Pte.special(t.mm().pte(a)));
    t.storeLong(a, 42);
    settle();
    long pfn = Pte.pfn(t.mm().pte(a));
    assertNotEquals(vm.zeroPfn(), pfn);
    assertEquals(42, t.loadLong(a));
    assertEquals(1, mem.memmap().refcount(pfn));
    assertEquals(1, mem.memmap().mapcount(pfn));
    assertTrue(mem.memmap().testFlag(pfn, PageFlags.PG_ANON_EXCLUSIVE));
    assertEquals(1, t.mm().rssAnon());
    t.exit();
  }

  @Test
  void forkSharesCopyOnWriteAndWritesDiverge() {
    Task p = vm.createTask("parent");
    long a = p.mmapAnon(4096);
    p.storeLong(a, 1);
    settle();
    long pfn = Pte.pfn(p.mm().pte(a));
    Task c = p.fork("child");
    assertEquals(pfn, Pte.pfn(c.mm().pte(a)));
    assertEquals(2, mem.memmap().mapcount(pfn));
    assertEquals(2, mem.memmap().refcount(pfn));
    assertFalse(Pte.write(p.mm().pte(a)), "parent write-protected");
    assertFalse(mem.memmap().testFlag(pfn, PageFlags.PG_ANON_EXCLUSIVE));
    c.storeLong(a, 2);
    assertEquals(1, p.loadLong(a));
    assertEquals(2, c.loadLong(a));
    assertNotEquals(pfn, Pte.pfn(c.mm().pte(a)));
    // the parent is now the only user: its write reuses the page
    p.storeLong(a, 3);
    assertEquals(pfn, Pte.pfn(p.mm().pte(a)));
    assertEquals(2, c.loadLong(a));
    List<String> seen = new ArrayList<>();
    vm.rmap().rmapWalk(pfn, (v, addr) -> seen.add(v.mm().id() + "@" + addr));
    assertEquals(1, seen.size());
    c.exit();
    p.exit();
  }

  @Test
  void rmapFindsEveryMappingOfASharedAnonPage() {
    Task p = vm.createTask("parent");
    long a = p.mmapAnon(4096);
    p.storeLong(a, 1);
    long pfn = Pte.pfn(p.mm().pte(a));
    Task c = p.fork("child");
    List<Long> mms = new ArrayList<>();
    vm.rmap().rmapWalk(pfn, (v, addr) -> mms.add(v.mm().id()));
    assertEquals(List.of(p.mm().id(), c.mm().id()), mms.stream().sorted().toList());
    c.exit();
    p.exit();
  }

  @Test
  void notifiersSeeMainlinesEvents() {
    Task t = vm.createTask("t");
    List<MmuNotifierEvent> events = recordEvents(t.mm());
    long a = t.mmapAnon(4 * 4096);
    t.storeLong(a, 1);
    t.mprotect(a, 4096, PROT_READ);
    t.madvise(a + 4096, 4096, MADV_DONTNEED);
    Task c = t.fork("child");
    t.munmap(a + 2 * 4096, 4096);
    c.exit();
    assertEquals(
        List.of(
            MmuNotifierEvent.PROTECTION_VMA,
            MmuNotifierEvent.CLEAR,
            MmuNotifierEvent.PROTECTION_PAGE, // one per COW VMA: mprotect split the mapping in two
            MmuNotifierEvent.PROTECTION_PAGE,
            MmuNotifierEvent.UNMAP),
        events);
    t.exit();
  }

  @Test
  void munmapAndExitFreeEverything() {
    long free = mem.allocator().nrFreePages();
    Task t = vm.createTask("t");
    long a = t.mmapAnon(64 * 4096);
    for (int i = 0; i < 64; i++) {
      t.storeLong(a + i * 4096L, i);
    }
    settle();
    assertEquals(free - 64, mem.allocator().nrFreePages());
    t.munmap(a, 32 * 4096);
    assertEquals(free - 32, mem.allocator().nrFreePages());
    assertThrows(KernelException.class, () -> t.loadLong(a));
    assertEquals(33, t.loadLong(a + 33 * 4096L));
    t.exit();
    settle();
    assertEquals(free, mem.allocator().nrFreePages());
    assertNull(t.mm());
  }

  @Test
  void mprotectNoneFaultsAndRestores() {
    Task t = vm.createTask("t");
    long a = t.mmapAnon(4096);
    t.storeLong(a, 7);
    t.mprotect(a, 4096, PROT_NONE);
    assertTrue(Pte.protnone(t.mm().pte(a)));
    assertEquals(Errno.EFAULT, assertThrows(KernelException.class, () -> t.loadLong(a)).errno());
    t.mprotect(a, 4096, PROT_READ | PROT_WRITE);
    assertEquals(7, t.loadLong(a));
    t.storeLong(a, 8);
    assertEquals(8, t.loadLong(a));
    t.exit();
  }

  @Test
  void mapFixedReplacesAndPopulateFaultsIn() {
    Task t = vm.createTask("t");
    long a = t.mmapAnon(8 * 4096);
    t.storeLong(a, 5);
    long b =
        t.mmap(a, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, null, 0);
    assertEquals(a, b);
    assertEquals(0, t.loadLong(a), "MAP_FIXED replaced the old mapping");
    long c =
        t.mmap(
            0,
            4 * 4096,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
            null,
            0);
    for (int i = 0; i < 4; i++) {
      assertTrue(Pte.present(t.mm().pte(c + i * 4096L)));
    }
    t.exit();
  }

  @Test
  void sharedAnonymousMemoryIsSharedAcrossFork() {
    Task p = vm.createTask("p");
    long a = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, null, 0);
    p.storeLong(a, 1);
    Task c = p.fork("c");
    c.storeLong(a, 2);
    assertEquals(2, p.loadLong(a));
    c.exit();
    p.exit();
  }

  @Test
  void thpMapsAPmdAndPartialUnmapSplitsIt() {
    Task t = vm.createTask("t");
    long a = t.mmapAnon(4L << 20);
    t.madvise(a, 4L << 20, MADV_HUGEPAGE);
    t.storeLong(a + 4096, 9);
    settle();
    long pmd = t.mm().pte(a);
    assertTrue(Pte.huge(pmd));
    long head = Pte.pfn(pmd);
    assertEquals(9, mem.memmap().folioOrder(head));
    assertEquals(1, mem.memmap().entireMapcount(head));
    assertEquals(1, vm.rmap().folioMapcount(head), "one PMD mapping");
    t.munmap(a, 4096);
    assertFalse(Pte.huge(t.mm().pte(a + 4096)));
    assertEquals(9, t.loadLong(a + 4096));
    assertEquals(511, vm.rmap().folioMapcount(head));
    assertEquals(511, mem.memmap().refcount(head));
    t.exit();
  }

  /** {@code __handle_mm_fault()}: a write fault on a writable THP only marks it young and dirty. */
  @Test
  void aWriteFaultOnAWritableThpKeepsItWhole() {
    Task t = vm.createTask("t");
    long a = t.mmapAnon(4L << 20);
    t.madvise(a, 4L << 20, MADV_HUGEPAGE);
    long base = (a + (2L << 20) - 1) & -(2L << 20);
    t.storeLong(base, 9);
    assertTrue(Pte.huge(t.mm().pte(base)));
    assertTrue(Pte.write(t.mm().pte(base)));
    t.mm().mmapReadLock();
    try {
      assertEquals(0, vm.handleMmFault(t.mm(), base + 8192, VirtualMemory.FAULT_FLAG_WRITE));
    } finally {
      t.mm().mmapReadUnlock();
    }
    long pmd = t.mm().pte(base + 8192);
    assertTrue(Pte.huge(pmd), "the THP is still mapped by its PMD");
    assertTrue(Pte.dirty(pmd));
    assertEquals(9, t.loadLong(base));
    t.exit();
  }

  /** {@code change_pmd_range()}: mprotect over a whole THP changes its PMD, not splitting it. */
  @Test
  void mprotectOverAWholeThpKeepsItsPmd() {
    Task t = vm.createTask("t");
    long a = t.mmapAnon(4L << 20);
    t.madvise(a, 4L << 20, MADV_HUGEPAGE);
    long base = (a + (2L << 20) - 1) & -(2L << 20);
    t.storeLong(base + 4096, 5);
    t.mprotect(base, 2L << 20, PROT_READ);
    long pmd = t.mm().pte(base);
    assertTrue(Pte.huge(pmd), "still one PMD");
    assertFalse(Pte.write(pmd));
    assertEquals(5, t.loadLong(base + 4096));
    t.mprotect(base, 4096, PROT_READ | PROT_WRITE);
    assertFalse(Pte.huge(t.mm().pte(base)), "a part of the PMD splits it");
    t.exit();
  }

  @Test
  void badArgumentsGetTheKernelsErrno() {
    Task t = vm.createTask("t");
    assertEquals(Errno.EINVAL, assertThrows(KernelException.class, () -> t.mmapAnon(0)).errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(
                KernelException.class, () -> t.mmap(0, 4096, PROT_READ, MAP_ANONYMOUS, null, 0))
            .errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(
                KernelException.class,
                () ->
                    t.mmap(
                        0x1001, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, null, 0))
            .errno());
    assertEquals(
        Errno.EBADF,
        assertThrows(KernelException.class, () -> t.mmap(0, 4096, PROT_READ, MAP_PRIVATE, null, 0))
            .errno());
    assertEquals(
        Errno.EINVAL, assertThrows(KernelException.class, () -> t.munmap(0x1001, 4096)).errno());
    long a = t.mmapAnon(4096);
    assertEquals(
        Errno.ENOMEM,
        assertThrows(KernelException.class, () -> t.mprotect(a, 8192, PROT_READ)).errno());
    assertEquals(
        Errno.EINVAL, assertThrows(KernelException.class, () -> t.madvise(a, 4096, 999)).errno());
    assertEquals(
        Errno.EFAULT, assertThrows(KernelException.class, () -> t.loadLong(0x1000)).errno());
    t.mprotect(a, 4096, PROT_READ);
    assertEquals(
        Errno.EFAULT, assertThrows(KernelException.class, () -> t.storeLong(a, 1)).errno());
    t.exit();
  }
}
