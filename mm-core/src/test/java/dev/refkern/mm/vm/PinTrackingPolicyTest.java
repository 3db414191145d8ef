package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import org.junit.jupiter.api.Test;

/** The pin-tracking designs of the seeds, each showing the property its thread claims. */
class PinTrackingPolicyTest extends VmTestBase {
  private Task task;

  private long populated(String policy, int pages) {
    boot("mem=256M gup.pin_tracking=" + policy);
    assertEquals(policy, gup.pinTracking().name());
    task = vm.createTask("t");
    long a = task.mmapAnon(pages * 4096L);
    for (int i = 0; i < pages; i++) {
      task.storeLong(a + i * 4096L, i + 1);
    }
    settle();
    return a;
  }

  @Test
  void unknownPolicyIsEinval() {
    assertEquals(
        Errno.EINVAL,
        assertThrows(
                KernelException.class, () -> BootParams.parse("mem=64M gup.pin_tracking=magic"))
            .errno());
  }

  /** Seed 002: one flag cannot count two pins; releasing one makes the page look unpinned. */
  @Test
  void pageFlagLosesTrackWithTwoPins() {
    long a = populated("page_flag", 1);
    long[] first = new long[1];
    long[] second = new long[1];
    gup.pinUserPages(task, a, 1, FOLL_WRITE, first); // e.g. an RDMA registration
    gup.pinUserPages(task, a, 1, FOLL_WRITE, second); // and a direct-I/O read into the same page
    gup.unpinUserPage(second[0]); // the direct I/O completes
    assertFalse(gup.folioMaybeDmaPinned(first[0]), "missed pin: the RDMA pin is still held");
    // the consequence: fork no longer copies the page, so the parent's next write moves it away
    // from the device: DMA keeps writing into a page the parent no longer maps
    Task child = task.fork("child");
    task.storeLong(a + 8, 5);
    assertNotEquals(first[0], Pte.pfn(task.mm().pte(a)), "the parent lost the DMA page");
    mem.ram().writeLong(first[0], 0, 0xdead);
    assertNotEquals(0xdead, task.loadLong(a), "the device's write is invisible to the parent");
    gup.unpinUserPage(first[0]);
    child.exit();
    task.exit();
  }

  /** Mainline: the same sequence keeps the DMA page with the parent. */
  @Test
  void biasKeepsTrackWithTwoPins() {
    long a = populated("bias", 1);
    long[] first = new long[1];
    long[] second = new long[1];
    gup.pinUserPages(task, a, 1, FOLL_WRITE, first);
    gup.pinUserPages(task, a, 1, FOLL_WRITE, second);
    gup.unpinUserPage(second[0]);
    assertTrue(gup.folioMaybeDmaPinned(first[0]));
    Task child = task.fork("child");
    task.storeLong(a + 8, 5);
    assertEquals(first[0], Pte.pfn(task.mm().pte(a)), "the parent keeps the DMA page");
    mem.ram().writeLong(first[0], 0, 0xdead);
    assertEquals(0xdead, task.loadLong(a));
    gup.unpinUserPage(first[0]);
    child.exit();
    task.exit();
  }

  @Test
  void biasHasFalsePositivesButNoFalseNegatives() {
    long a = populated("bias", 1);
    long pfn = Pte.pfn(task.mm().pte(a));
    for (int i = 0; i < GUP_PIN_COUNTING_BIAS; i++) {
      mem.allocator().getPage(pfn);
    }
    assertTrue(gup.folioMaybeDmaPinned(pfn), "false positive");
    for (int i = 0; i < GUP_PIN_COUNTING_BIAS; i++) {
      mem.allocator().putPage(pfn);
    }
    task.exit();
  }

  /** Seed 001: a pin is a fake mapping, which needs a lock and an allocation: no fast path. */
  @Test
  void fakeVmaHasNoFastPathAndCostsAnAllocationPerPin() {
    long a = populated("fake_vma", 4);
    FakeVmaPinTracking policy = (FakeVmaPinTracking) gup.pinTracking();
    assertFalse(policy.fastPathAvailable());
    long[] pages = new long[4];
    assertEquals(
        4, gup.pinUserPagesFast(task, a, 4, FOLL_WRITE, pages), "falls back to the slow path");
    assertEquals(0, gup.fastPathPages(), "nothing was taken without a lock");
    assertEquals(4, policy.allocations());
    assertEquals(4L * FakeVmaPinTracking.FAKE_VMA_BYTES, policy.overheadBytes());
    assertEquals(2, mem.memmap().mapcount(pages[0]), "the pin shows as a second mapping");
    assertEquals(2, mem.memmap().refcount(pages[0]));
    gup.unpinUserPages(pages, 4);
    assertEquals(0, policy.overheadBytes());
    assertEquals(1, mem.memmap().mapcount(pages[0]));
    task.exit();
  }

  /** Seed 002: a pinned page leaves the LRU and stays off; reclaim never sees it. */
  @Test
  void lruIsolateKeepsPinnedPagesOffTheLruAndCountsExactly() {
    long a = populated("lru_isolate", 4);
    long pfn = Pte.pfn(task.mm().pte(a));
    assertNotNull(vm.lru().listOf(pfn), "on an LRU list before the pin");
    long[] first = new long[1];
    long[] second = new long[1];
    gup.pinUserPages(task, a, 1, FOLL_WRITE, first);
    gup.pinUserPages(task, a, 1, FOLL_WRITE, second);
    assertNull(vm.lru().listOf(pfn), "off the LRU");
    assertFalse(vm.lru().onLru(pfn));
    gup.unpinUserPage(second[0]);
    assertTrue(gup.folioMaybeDmaPinned(pfn), "two pins counted: one remains");
    vm.swapon(new dev.refkern.mm.RamSwapDevice(64));
    vm.vmscan().shrinkNode(16);
    assertEquals(pfn, Pte.pfn(task.mm().pte(a)), "reclaim never saw it");
    assertTrue(Pte.isSwap(task.mm().pte(a + 4096)), "its neighbours were swapped out");
    gup.unpinUserPage(first[0]);
    assertTrue(vm.lru().onLru(pfn), "the last unpin puts it back");
    assertFalse(gup.folioMaybeDmaPinned(pfn));
    assertEquals(0, vm.lru().drainAllCalls());
    long b = task.mmapAnon(4096);
    task.storeLong(b, 1); // the new page sits in this thread's lru_add batch
    long[] third = new long[1];
    gup.pinUserPages(task, b, 1, FOLL_WRITE, third);
    assertEquals(1, vm.lru().drainAllCalls(), "a first pin of a batched page drains every batch");
    gup.unpinUserPage(third[0]);
    task.exit();
  }

  @Test
  void biasUsesTheFastPath() {
    long a = populated("bias", 4);
    long[] pages = new long[4];
    gup.pinUserPagesFast(task, a, 4, FOLL_WRITE, pages);
    assertEquals(4, gup.fastPathPages());
    gup.unpinUserPages(pages, 4);
    task.exit();
  }
}
