package dev.refkern.mm.vm;

import static dev.refkern.mm.vm.Foll.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.TestThreads;
import dev.refkern.notifier.MmuNotifier;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierOps;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What each {@code writeback.pinned=} and {@code truncate.pinned=} proposal claims, at mm level, on
 * a {@link RamBackedAops} file pinned with {@code pin_user_pages(FOLL_WRITE)} (no {@code
 * FOLL_LONGTERM}: {@code gup.longterm_file=refuse} would refuse a writable long-term pin of it).
 */
class PinnedPageCachePoliciesTest extends VmTestBase {
  private RamBackedAops disk;
  private AddressSpace file;
  private Task task;
  private long addr;
  private final long[] pages = new long[1];

  /** Two dirty file pages mapped shared, the first pinned. */
  private void bootPinned(String cmdline) {
    boot("mem=256M " + cmdline);
    disk = new RamBackedAops();
    file = AddressSpace.create(mem, disk);
    file.setSize(2 * 4096);
    task = vm.createTask("t");
    addr = task.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    task.storeLong(addr, 1);
    task.storeLong(addr + 4096, 2);
    assertEquals(1, gup.pinUserPages(task, addr, 1, FOLL_WRITE, pages));
  }

  private void cleanUp() {
    gup.unpinUserPages(pages, 1);
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void ignoreCleansThePinnedFolioInBackgroundWritebackAndLosesALaterDmaWrite() {
    bootPinned("");
    assertInstanceOf(IgnorePinnedWriteback.class, vm.pinnedWriteback(), "mainline by default");
    assertEquals(0, vm.pageWriteback().writeCachePages(file, 0, 1, WbSyncMode.NONE));
    assertEquals(2, disk.writes(), "written while pinned");
    assertEquals(0, file.nrDirty(), "and marked clean");
    mem.ram().writeLong(pages[0], 0, 7); // the device's DMA after writeback
    assertEquals(0, file.nrDirty(), "nothing redirties it");
    assertEquals(0, vm.filemap().filemapFdatawrite(file));
    assertEquals(1, disk.readBlock(0)[0], "fsync does not write the DMA: it is lost on disk");
    assertEquals(1, vm.pinnedWriteback().stats().get("pinned_written"));
    cleanUp();
  }

  @Test
  void skipKeepsThePinnedFolioDirtyInBackgroundWritebackAndFsyncBouncesIt() {
    bootPinned("writeback.pinned=skip");
    assertEquals(0, vm.pageWriteback().writeCachePages(file, 0, 1, WbSyncMode.NONE));
    assertEquals(1, disk.writes(), "only the unpinned folio");
    assertEquals(1, file.nrDirty(), "the pinned one stays dirty");
    assertTrue(new dev.refkern.mm.FolioOps(mem).folioTestDirty(pages[0]));
    assertTrue(Pte.write(task.mm().pte(addr)), "and writable: no folio_mkclean");
    mem.ram().writeLong(pages[0], 0, 7); // the device's DMA, still covered by PG_dirty
    assertEquals(0, vm.filemap().filemapFdatawrite(file), "fsync: WB_SYNC_ALL");
    assertEquals(7, disk.readBlock(0)[0], "data integrity writeback writes a copy, DMA included");
    assertEquals(1, vm.pinnedWriteback().stats().get("folios_bounced"));
    assertEquals(1, file.nrDirty(), "still pinned: the folio stays dirty for the next DMA");
    assertEquals(1, vm.pinnedWriteback().stats().get("skipped"));
    assertEquals(1, vm.pinnedWriteback().stats().get("pinned_written"));
    gup.unpinUserPages(pages, 1);
    assertEquals(0, vm.filemap().filemapFdatawrite(file), "unpinned: written in place");
    assertEquals(0, file.nrDirty());
    assertEquals(1, vm.pinnedWriteback().stats().get("folios_bounced"));
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void waitStallsFsyncUntilTheUnpinAndThenWritesWhatTheDeviceLeft() throws Exception {
    bootPinned("writeback.pinned=wait");
    int[] rc = {-1};
    Thread fsync = new Thread(() -> rc[0] = vm.filemap().filemapFdatawrite(file), "fsync");
    fsync.start();
    TestThreads.awaitBlocked(fsync);
    assertEquals(1, vm.pinnedWriteback().stats().get("waiting"), "fsync stalls on the pin");
    assertEquals(0, disk.writes(), "nothing written while the device may write");
    assertTrue(new dev.refkern.mm.FolioOps(mem).folioTestDirty(pages[0]));
    mem.ram().writeLong(pages[0], 0, 7); // the device's last DMA
    gup.unpinUserPagesDirtyLock(pages, 1, true);
    fsync.join(60_000);
    assertFalse(fsync.isAlive(), "the unpin woke writeback");
    assertEquals(0, rc[0]);
    assertEquals(7, disk.readBlock(0)[0], "written after the DMA: nothing lost");
    assertEquals(0, file.nrDirty());
    assertEquals(1, vm.pinnedWriteback().stats().get("waits"));
    assertEquals(0, vm.pinnedWriteback().stats().get("waiting"));
    task.exit();
    vm.truncate().truncateInodePages(file, 0);
  }

  @Test
  void orphanLeavesTheFolioOutOfTheCacheWithThePinHoldingIt() {
    bootPinned("");
    assertInstanceOf(OrphanPinnedTruncate.class, vm.pinnedTruncate(), "mainline by default");
    file.setSize(0);
    vm.truncate().truncateInodePages(file, 0);
    assertEquals(0, file.nrPages());
    assertEquals(0, mem.memmap().mapping(pages[0]));
    settle();
    assertEquals(GUP_PIN_COUNTING_BIAS, mem.memmap().refcount(pages[0]), "the pin holds it");
    mem.ram().writeLong(pages[0], 0, 7); // the device's write goes nowhere
    assertEquals(0, file.nrPages(), "the file never sees it");
    assertEquals(1, vm.pinnedTruncate().stats().get("orphaned"));
    gup.unpinUserPage(pages[0]);
    assertEquals(0, mem.memmap().refcount(pages[0]));
    task.exit();
  }

  @Test
  void revokeSendsTruncateToTheNotifierOfTheMmMappingThePinnedFolio() {
    bootPinned("truncate.pinned=revoke");
    List<MmuNotifierRange> seen = new ArrayList<>();
    task.mm()
        .notifiers()
        .register(
            new MmuNotifierOps() {
              @Override
              public int invalidateRangeStart(MmuNotifier sub, MmuNotifierRange range) {
                seen.add(range);
                return 0;
              }
            });
    file.setSize(0);
    vm.truncate().truncateInodePages(file, 0);
    assertEquals(2, seen.size(), seen.toString());
    assertEquals(MmuNotifierEvent.TRUNCATE, seen.get(0).event(), "the pinned folio is revoked");
    assertEquals(addr, seen.get(0).start());
    assertEquals(MmuNotifierEvent.CLEAR, seen.get(1).event(), "the unpinned one only unmapped");
    assertEquals(1, vm.pinnedTruncate().stats().get("revoked"));
    assertEquals(0, mem.memmap().mapping(pages[0]));
    gup.unpinUserPage(pages[0]);
    task.exit();
  }

  @Test
  void waitTruncateBlocksUntilTheUnpinAndOrphansNothing() throws Exception {
    bootPinned("truncate.pinned=wait");
    file.setSize(0);
    Thread truncate = new Thread(() -> vm.truncate().truncateInodePages(file, 0), "truncate");
    truncate.start();
    TestThreads.awaitBlocked(truncate);
    assertEquals(1, vm.pinnedTruncate().stats().get("waits"));
    assertEquals(file.id(), mem.memmap().mapping(pages[0]), "still in the cache while pinned");
    assertEquals(0, task.mm().pte(addr), "but unmapped");
    // dirty_lock takes the folio lock on the clean folio: truncate sleeps without it
    gup.unpinUserPagesDirtyLock(pages, 1, true);
    truncate.join(60_000);
    assertFalse(truncate.isAlive(), "the unpin woke truncate");
    assertEquals(0, file.nrPages());
    assertEquals(0, file.nrDirty(), "the unpin's redirty is cancelled");
    settle();
    assertEquals(0, mem.memmap().refcount(pages[0]), "freed with the cache: no orphan");
    assertEquals(0, vm.pinnedTruncate().stats().get("orphaned"));
    task.exit();
  }

  @Test
  void breakLayoutsSleepsKillablyAndAFatalSignalFailsItWithEintrChangingNothing() throws Exception {
    bootPinned("truncate.pinned=wait");
    KernelException[] got = new KernelException[1];
    Thread t =
        new Thread(
            () -> {
              try {
                vm.truncate().breakLayouts(task, file, 0, AddressSpace.MAX_INDEX);
              } catch (KernelException e) {
                got[0] = e;
              }
            },
            "break_layouts");
    t.start();
    TestThreads.awaitBlocked(t);
    assertEquals(1, vm.pinnedTruncate().stats().get("waits"));
    assertEquals(0, task.mm().pte(addr), "unmapped first, so no new pte can be pinned");
    task.kill();
    t.join(60_000);
    assertFalse(t.isAlive(), "the fatal signal woke it");
    assertNotNull(got[0]);
    assertEquals(Errno.EINTR, got[0].errno());
    assertEquals(2, file.nrPages(), "nothing left the cache");
    assertEquals(file.id(), mem.memmap().mapping(pages[0]));
    assertEquals(1, vm.pinnedTruncate().stats().get("interrupted"));
    assertEquals(2, task.loadLong(addr + 4096), "the task lives on, its file as it was");
    cleanUp();
  }

  @Test
  void aMachineWideFatalSignalEndsTruncatesOwnSleepWithEintr() throws Exception {
    bootPinned("truncate.pinned=wait");
    file.setSize(0);
    KernelException[] got = new KernelException[1];
    Thread t =
        new Thread(
            () -> {
              try {
                vm.truncate().truncateInodePages(file, 0);
              } catch (KernelException e) {
                got[0] = e;
              }
            },
            "truncate");
    t.start();
    TestThreads.awaitBlocked(t);
    task.kill();
    TestThreads.awaitBlocked(t);
    assertNull(got[0], "a task's signal does not end a sleep no task owns");
    mem.health().fatalSignal();
    t.join(60_000);
    assertFalse(t.isAlive(), "the machine's fatal signal woke it");
    assertNotNull(got[0]);
    assertEquals(Errno.EINTR, got[0].errno());
    assertEquals(1, vm.pinnedTruncate().stats().get("interrupted"));
  }

  @Test
  void breakLayoutsDoesNothingUnderAPolicyThatDoesNotWait() {
    bootPinned("truncate.pinned=revoke");
    vm.truncate().breakLayouts(task, file, 0, AddressSpace.MAX_INDEX);
    assertNotEquals(0, task.mm().pte(addr), "still mapped");
    assertEquals(0, vm.pinnedTruncate().stats().get("revoked"), "and nothing decided");
    cleanUp();
  }

  @Test
  void anUnknownPolicyNameIsRefusedAtBoot() {
    KernelException e =
        assertThrows(
            KernelException.class, () -> BootParams.parse("mem=64M writeback.pinned=magic"));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(e.getMessage().contains("ignore, skip"), e.getMessage());
  }
}
