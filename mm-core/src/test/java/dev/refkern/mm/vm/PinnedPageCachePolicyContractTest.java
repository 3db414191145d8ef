package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.PolicySpec;
import dev.refkern.mm.PolicyStats;
import dev.refkern.mm.RamBackedAops;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What every {@code writeback.pinned=} and {@code truncate.pinned=} policy must do, run over every
 * registered one: boot by name, report its stats, leave unpinned folios alone, let {@code fsync}
 * ({@code WB_SYNC_ALL}) write a pinned folio, take a pinned folio out of the cache on truncate, and
 * keep pins and references balanced. Pins are plain {@code FOLL_WRITE} (no {@code FOLL_LONGTERM}),
 * which {@code gup.longterm_file} does not restrict.
 */
class PinnedPageCachePolicyContractTest extends VmTestBase {
  static List<String> writebackPolicies() {
    return PolicyRegistry.global().names(PinnedWritebackPolicy.PARAM);
  }

  static List<String> truncatePolicies() {
    return PolicyRegistry.global().names(PinnedTruncatePolicy.PARAM);
  }

  private RamBackedAops disk;
  private AddressSpace file;
  private Task task;
  private long addr;

  private void bootWithFile(String cmdline) {
    boot("mem=256M " + cmdline);
    disk = new RamBackedAops();
    file = AddressSpace.create(mem, disk);
    file.setSize(2 * 4096);
    task = vm.createTask("t");
    addr = task.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(addr, 1);
    task.storeLong(addr + 4096, 2);
  }

  private static void assertSpec(PolicySpec s, String param, String name, PolicyStats st) {
    assertEquals(param, s.param());
    assertEquals(name, s.name());
    assertFalse(s.proposal().isBlank(), name + " cites its proposal");
    assertEquals(param, st.param());
    assertEquals(name, st.name());
  }

  @ParameterizedTest
  @MethodSource("writebackPolicies")
  void writebackAsksOnlyForPinnedFoliosAndFsyncWritesThem(String policy)
      throws InterruptedException {
    bootWithFile(PinnedWritebackPolicy.PARAM + "=" + policy);
    PinnedWritebackPolicy p = vm.pinnedWriteback();
    assertEquals(policy, p.name());
    assertSpec(p.spec(), PinnedWritebackPolicy.PARAM, policy, p.stats());

    assertEquals(0, vm.pageWriteback().writeCachePages(file, 0, 0, WbSyncMode.NONE));
    assertEquals(0, p.stats().get("pinned_folios"), policy + ": an unpinned folio is not asked");
    assertEquals(1, disk.writes());

    task.storeLong(addr, 3);
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, addr, 1, FOLL_WRITE, pages));
    int[] rc = {-1};
    Thread fsync = new Thread(() -> rc[0] = vm.filemap().filemapFdatawrite(file), "fsync");
    fsync.start();
    doneOrBlocked(fsync); // a policy may make fsync wait for the pin
    gup.unpinUserPages(pages, 1);
    fsync.join(60_000);
    assertFalse(fsync.isAlive(), policy + ": fsync ends once the pin is gone");
    assertEquals(0, rc[0]);
    assertEquals(3, disk.readBlock(0)[0], policy + ": fsync wrote the pinned folio");
    assertEquals(1, p.stats().get("pinned_folios"));
    assertEquals(1, p.stats().get("pinned_written"));
    // a policy that bounced keeps the folio dirty while it was pinned: the next fsync cleans it
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    assertEquals(0, file.nrDirty(), policy + ": nothing dirty once unpinned and synced");
    assertEquals(1, p.stats().get("pinned_folios"), policy + ": an unpinned folio is not asked");

    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  /** Returns once {@code t} has ended or sleeps; generously bounded, asserting nothing on time. */
  private static void doneOrBlocked(Thread t) throws InterruptedException {
    for (int i = 0; i < 60_000; i++) {
      Thread.State s = t.getState();
      if (s == Thread.State.TERMINATED || s == Thread.State.WAITING) {
        return;
      }
      Thread.sleep(1);
    }
    fail(t.getName() + " neither ended nor slept: " + t.getState());
  }

  @ParameterizedTest
  @MethodSource("truncatePolicies")
  void truncateTakesAPinnedFolioOutOfTheCacheByTheUnpinAtLatest(String policy)
      throws InterruptedException {
    bootWithFile(PinnedTruncatePolicy.PARAM + "=" + policy);
    PinnedTruncatePolicy p = vm.pinnedTruncate();
    assertEquals(policy, p.name());
    assertSpec(p.spec(), PinnedTruncatePolicy.PARAM, policy, p.stats());
    long[] pages = new long[1];
    assertEquals(1, gup.pinUserPages(task, addr, 1, 0, pages));

    file.setSize(0);
    Thread truncate = new Thread(() -> vm.truncate().truncateInodePages(file, 0), "truncate");
    truncate.start();
    doneOrBlocked(truncate); // a policy may make truncate wait for the pin
    assertEquals(0, task.mm().pte(addr), policy + ": unmapped either way");
    gup.unpinUserPage(pages[0]);
    truncate.join(60_000);
    assertFalse(truncate.isAlive(), policy + ": truncate ends once the pin is gone");
    assertEquals(0, file.nrPages(), policy);
    assertEquals(0, mem.memmap().mapping(pages[0]), policy + ": out of the page cache");
    settle();
    assertEquals(0, mem.memmap().refcount(pages[0]), policy + ": freed, nothing leaked");
    task.exit();
  }
}
