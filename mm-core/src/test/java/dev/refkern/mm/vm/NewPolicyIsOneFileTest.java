package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.FOLL_WRITE;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.TestCountingPinTracking;
import org.junit.jupiter.api.Test;

/**
 * A fifth {@code gup.pin_tracking=} policy is one file ({@link TestCountingPinTracking}) and one
 * registration: the command line then accepts it and GUP pins through it.
 */
class NewPolicyIsOneFileTest extends VmTestBase {
  @Test
  void aRegisteredPolicyIsBootedAndPinsThroughIt() {
    PolicyRegistry.global().register(TestCountingPinTracking.class);
    assertTrue(PolicyRegistry.global().names(PinTrackingPolicy.PARAM).contains("test_counting"));
    assertEquals("bias", PolicyRegistry.global().mainline(PinTrackingPolicy.PARAM));
    boot("mem=256M gup.pin_tracking=test_counting");
    assertInstanceOf(TestCountingPinTracking.class, gup.pinTracking());
    Task t = vm.createTask("t");
    long a = t.mmapAnon(2 * 4096L);
    t.storeLong(a, 1);
    t.storeLong(a + 4096, 2);
    settle();
    long[] pages = new long[2];
    assertEquals(2, gup.pinUserPagesFast(t, a, 2, FOLL_WRITE, pages));
    assertTrue(gup.folioMaybeDmaPinned(pages[0]));
    gup.unpinUserPages(pages, 2);
    assertFalse(gup.folioMaybeDmaPinned(pages[0]));
    assertEquals(1, mem.memmap().refcount(pages[0]));
    PolicyStats s = gup.pinTracking().stats();
    assertEquals("test_counting", s.name());
    assertEquals(2, s.get("pins"));
    assertEquals(2, s.get("unpins"));
    t.exit();
  }

  @Test
  void thePinnedPageCacheParametersAreRegisteredWithMainlineFirst() {
    PolicyRegistry r = PolicyRegistry.global();
    assertEquals("ignore", r.mainline(PinnedWritebackPolicy.PARAM));
    assertEquals("orphan", r.mainline(PinnedTruncatePolicy.PARAM));
    assertTrue(
        r.names(PinnedWritebackPolicy.PARAM)
            .containsAll(java.util.List.of("skip", "wait", "bounce")));
    assertTrue(
        r.names(PinnedTruncatePolicy.PARAM).containsAll(java.util.List.of("revoke", "wait")));
    boot("mem=64M writeback.pinned=skip truncate.pinned=revoke");
    assertInstanceOf(SkipPinnedWriteback.class, vm.pinnedWriteback());
    assertInstanceOf(RevokePinnedTruncate.class, vm.pinnedTruncate());
  }

  @Test
  void anUnknownNameListsWhatExists() {
    KernelException e =
        assertThrows(
            KernelException.class, () -> BootParams.parse("mem=64M gup.pin_tracking=magic"));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(e.getMessage().contains("bias, page_flag, lru_isolate, fake_vma"), e.getMessage());
    KernelException p =
        assertThrows(
            KernelException.class, () -> PolicyRegistry.global().names("gup.pin_trakcing"));
    assertEquals(Errno.EINVAL, p.errno());
    assertTrue(p.getMessage().contains("gup.pin_tracking"), p.getMessage());
  }

  @Test
  void aSecondClassUnderTheSameNameIsRefused() {
    PolicyRegistry r = new PolicyRegistry();
    r.register(BiasPinTracking.class);
    r.register(BiasPinTracking.class); // again: nothing changes
    assertEquals(java.util.List.of("bias"), r.names(PinTrackingPolicy.PARAM));
    r.register(TestCountingPinTracking.class);
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> r.register(String.class)).errno(),
        "no @PolicySpec");
  }
}
