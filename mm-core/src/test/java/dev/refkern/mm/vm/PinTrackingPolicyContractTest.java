package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.TestCountingPinTracking;
import dev.refkern.mm.VmItem;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What every {@code gup.pin_tracking=} policy must do, run over every registered one (the way
 * Lucene's {@code BasePostingsFormatTestCase} runs over every postings format), including the
 * test's own {@link TestCountingPinTracking}.
 */
class PinTrackingPolicyContractTest extends VmTestBase {
  static List<String> policies() {
    PolicyRegistry.global().register(TestCountingPinTracking.class);
    return PolicyRegistry.global().names(PinTrackingPolicy.PARAM);
  }

  private Task boot(String policy, int pages, long[] addr) {
    boot("mem=256M gup.pin_tracking=" + policy);
    assertEquals(policy, gup.pinTracking().name());
    Task t = vm.createTask("t");
    addr[0] = t.mmapAnon(pages * 4096L);
    for (int i = 0; i < pages; i++) {
      t.storeLong(addr[0] + i * 4096L, i + 1);
    }
    settle();
    return t;
  }

  @ParameterizedTest
  @MethodSource("policies")
  void pinsAreSeenAndReleasedInBalance(String policy) {
    long[] a = new long[1];
    Task task = boot(policy, 8, a);
    long[] pages = new long[8];
    assertEquals(4, gup.pinUserPagesFast(task, a[0], 4, FOLL_WRITE, pages));
    long[] rest = new long[4];
    assertEquals(4, gup.pinUserPages(task, a[0] + 4 * 4096L, 4, FOLL_WRITE, rest));
    System.arraycopy(rest, 0, pages, 4, 4);
    for (long pfn : pages) {
      assertTrue(gup.folioMaybeDmaPinned(pfn), policy + ": no false negative after a pin");
    }
    assertEquals(
        -Errno.EAGAIN.number(), vm.migrateFolio(pages[0], true), "a pinned page never moves");
    gup.unpinUserPagesDirtyLock(pages, 8, true);
    for (long pfn : pages) {
      assertFalse(gup.folioMaybeDmaPinned(pfn), policy);
      assertEquals(1, mem.memmap().refcount(pfn), policy + ": every reference a pin took is back");
      assertEquals(1, mem.memmap().mapcount(pfn), policy);
    }
    assertEquals(
        mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED),
        mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED));
    task.exit();
  }

  @ParameterizedTest
  @MethodSource("policies")
  void twoPinsOnOnePageBalance(String policy) {
    long[] a = new long[1];
    Task task = boot(policy, 1, a);
    long[] first = new long[1];
    long[] second = new long[1];
    assertEquals(1, gup.pinUserPages(task, a[0], 1, FOLL_WRITE, first));
    assertEquals(1, gup.pinUserPages(task, a[0], 1, FOLL_WRITE, second));
    assertEquals(first[0], second[0]);
    assertTrue(gup.folioMaybeDmaPinned(first[0]), policy);
    gup.unpinUserPage(second[0]);
    gup.unpinUserPage(first[0]);
    assertFalse(gup.folioMaybeDmaPinned(first[0]), policy);
    assertEquals(1, mem.memmap().refcount(first[0]), policy);
    task.exit();
  }

  @ParameterizedTest
  @MethodSource("policies")
  void reportsTheCommonStatistics(String policy) {
    long[] a = new long[1];
    Task task = boot(policy, 1, a);
    PolicyStats s = gup.pinTracking().stats();
    assertEquals(PinTrackingPolicy.PARAM, s.param());
    assertEquals(policy, s.name());
    assertEquals(0, s.get("overhead_bytes"), "nothing is pinned");
    task.exit();
  }

  @ParameterizedTest
  @MethodSource("policies")
  void badPfnIsEinval(String policy) {
    long[] a = new long[1];
    Task task = boot(policy, 1, a);
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> gup.pinTracking().maybeDmaPinned(-1)).errno());
    task.exit();
  }
}
