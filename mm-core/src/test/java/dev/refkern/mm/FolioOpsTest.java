package dev.refkern.mm;

import static dev.refkern.mm.PageFlags.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.sched.Completion;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.mm.spi.AddressSpaceOperations;
import dev.refkern.mm.vm.Filemap;
import dev.refkern.mm.vm.PageWriteback;
import dev.refkern.mm.vm.PinnedTruncateDecision;
import dev.refkern.mm.vm.PinnedWritebackDecision;
import dev.refkern.mm.vm.Truncate;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code folio_lock}, the dirty bit and the writeback bit. */
class FolioOpsTest {
  @TempDir Path dir;
  private PhysicalMemory mem;
  private MemmapOps memmap;
  private PageAllocator alloc;
  private FolioOps folios;
  // The page cache's vm-package code, without a VirtualMemory: nothing is mapped or pinned here.
  private PageWriteback writeback;
  private Filemap filemap;
  private Truncate truncate;

  @BeforeEach
  void boot() {
    mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir, false);
    memmap = MemmapTesting.ops(mem);
    alloc = mem.allocator();
    folios = new FolioOps(mem);
    writeback = new PageWriteback(mem, folios, null, pfn -> false, PinnedWritebackDecision.IGNORE);
    filemap = new Filemap(mem, folios, writeback);
    truncate =
        new Truncate(mem, folios, filemap, null, pfn -> false, PinnedTruncateDecision.ORPHAN);
  }

  @AfterEach
  void close() {
    mem.close();
  }

  private void assertClean() {
    assertEquals(List.of(), mem.debugVm().check());
  }

  @Test
  void folioLockExcludesASecondThread() throws Exception {
    long head = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE, 1);
    int rounds = 2_000;
    int[] counter = {0}; // plain field: only the lock makes the increments safe
    AtomicBoolean inside = new AtomicBoolean();
    AtomicBoolean overlap = new AtomicBoolean();
    CountDownLatch go = new CountDownLatch(1);
    Thread[] threads = new Thread[2];
    for (int t = 0; t < 2; t++) {
      long pfn = head + t; // one thread locks through the tail page
      threads[t] =
          new Thread(
              () -> {
                try {
                  go.await();
                } catch (InterruptedException e) {
                  return;
                }
                for (int i = 0; i < rounds; i++) {
                  folios.folioLock(pfn);
                  if (!inside.compareAndSet(false, true)) {
                    overlap.set(true);
                  }
                  counter[0]++;
                  if (i % 64 == 0) {
                    Thread.yield(); // hold the lock across a reschedule now and then
                  }
                  inside.set(false);
                  folios.folioUnlock(pfn);
                }
              });
      threads[t].start();
    }
    go.countDown();
    for (Thread t : threads) {
      t.join(30_000);
      assertFalse(t.isAlive(), "a locker is stuck");
    }
    assertFalse(overlap.get(), "two threads held the folio lock at once");
    assertEquals(2 * rounds, counter[0]);
    assertFalse(folios.folioTestLocked(head));
    assertFalse(memmap.testFlag(head, PG_WAITERS), "no waiter left behind");
    alloc.putPage(head);
    assertClean();
  }

  @Test
  void folioLockUnderTheSimulationIsMutuallyExclusive() {
    for (long seed = 1; seed <= 4; seed++) {
      SimScheduler sim = new SimScheduler(seed);
      Path d = dir.resolve("sim" + seed);
      try (PhysicalMemory m = PhysicalMemory.boot(BootParams.parse("mem=64M"), d, false, sim)) {
        FolioOps f = new FolioOps(m);
        long pfn = m.allocator().allocPages(Gfp.HIGHUSER_MOVABLE, 0);
        int[] counter = {0};
        boolean[] overlap = {false};
        boolean[] inside = {false};
        for (int t = 0; t < 3; t++) {
          sim.kthreadRun(
              "locker" + t,
              () -> {
                for (int i = 0; i < 50; i++) {
                  f.folioLock(pfn);
                  overlap[0] |= inside[0];
                  inside[0] = true;
                  sim.condResched(); // let the others contend while we hold it
                  counter[0]++;
                  inside[0] = false;
                  f.folioUnlock(pfn);
                  sim.condResched();
                }
              });
        }
        sim.runUntilIdle();
        assertFalse(overlap[0], "seed " + seed);
        assertEquals(150, counter[0], "seed " + seed);
        assertFalse(f.folioTestLocked(pfn));
        m.allocator().putPage(pfn);
        assertEquals(List.of(), m.debugVm().check());
      } finally {
        sim.shutdown();
      }
    }
  }

  @Test
  void aLongHeldFolioLockPutsTheWaiterToSleepUntilUnlock() {
    SimScheduler sim = new SimScheduler(7);
    try (PhysicalMemory m =
        PhysicalMemory.boot(BootParams.parse("mem=64M"), dir.resolve("sim"), false, sim)) {
      FolioOps f = new FolioOps(m);
      long pfn = m.allocator().allocPages(Gfp.HIGHUSER_MOVABLE, 0);
      Completion io = sim.newCompletion();
      boolean[] sawWaiters = {false};
      boolean[] got = {false};
      f.folioLock(pfn); // the boot CPU holds it, as a reader waiting for I/O would
      sim.kthreadRun(
          "waiter",
          () -> {
            f.folioLock(pfn);
            got[0] = true;
            f.folioUnlock(pfn);
          });
      sim.kthreadRun(
          "io",
          () -> {
            for (int i = 0; i < 200; i++) {
              sim.condResched(); // long enough for the waiter to stop spinning and sleep
            }
            sawWaiters[0] = m.memmap().testFlag(pfn, PG_WAITERS);
            io.complete();
          });
      io.waitForCompletion();
      assertTrue(sawWaiters[0], "the waiter slept with PG_waiters set");
      assertFalse(got[0]);
      f.folioUnlock(pfn);
      sim.runUntilIdle();
      assertTrue(got[0], "folio_unlock() woke the sleeper");
      assertFalse(m.memmap().testFlag(pfn, PG_WAITERS));
      m.allocator().putPage(pfn);
      assertEquals(List.of(), m.debugVm().check());
    } finally {
      sim.shutdown();
    }
  }

  @Test
  void trylockTakesTheHeadAndFailsWhileHeld() {
    long head = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE, 2);
    assertTrue(folios.folioTrylock(head + 3));
    assertTrue(memmap.testFlag(head, PG_LOCKED), "the lock bit lives on the head");
    assertTrue(folios.folioTestLocked(head + 1));
    assertFalse(folios.folioTrylock(head));
    folios.folioUnlock(head + 2);
    assertFalse(folios.folioTestLocked(head));
    alloc.putPage(head);
    assertClean();
  }

  @Test
  void unlockOfAnUnlockedFolioIsBug() {
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    KernelBugException e = assertThrows(KernelBugException.class, () -> folios.folioUnlock(pfn));
    assertTrue(e.getMessage().contains("VM_BUG_ON_FOLIO"), e.getMessage());
    assertTrue(mem.health().isDead());
    assertClean();
  }

  @Test
  void markDirtyOfAnAnonFolioSetsPgDirty() {
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    memmap.setFlag(pfn, PG_ANON);
    memmap.setMapping(pfn, 1); // an anon_vma id: must not be taken for a page cache
    AddressSpace file = AddressSpace.create(mem, new RamBackedAops());
    assertEquals(1, file.id());
    assertTrue(folios.folioMarkDirty(pfn));
    assertFalse(folios.folioMarkDirty(pfn));
    assertTrue(folios.folioTestDirty(pfn));
    assertEquals(0, file.nrDirty());
    assertNull(folios.folioMapping(pfn));
    folios.folioLock(pfn);
    assertTrue(writeback.folioClearDirtyForIo(pfn));
    assertFalse(writeback.folioClearDirtyForIo(pfn));
    folios.folioUnlock(pfn);
    memmap.setMapping(pfn, 0);
    memmap.clearFlag(pfn, PG_ANON);
    alloc.putPage(pfn);
    assertClean();
  }

  @Test
  void clearDirtyForIoOfAnUnlockedFolioIsBug() {
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    folios.folioMarkDirty(pfn);
    assertThrows(KernelBugException.class, () -> writeback.folioClearDirtyForIo(pfn));
    assertClean();
  }

  @Test
  void writebackWaitersWakeWhenWritebackEnds() throws Exception {
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    folios.folioLock(pfn);
    folios.folioStartWriteback(pfn);
    folios.folioUnlock(pfn);
    assertTrue(folios.folioTestWriteback(pfn));
    CountDownLatch done = new CountDownLatch(1);
    Thread waiter =
        new Thread(
            () -> {
              folios.folioWaitWriteback(pfn);
              done.countDown();
            });
    waiter.start();
    TestThreads.awaitBlocked(waiter);
    assertEquals(1, done.getCount(), "waits while PG_writeback");
    folios.folioEndWriteback(pfn);
    assertTrue(done.await(10, TimeUnit.SECONDS), "woken at folio_end_writeback()");
    waiter.join(10_000);
    assertFalse(folios.folioTestWriteback(pfn));
    assertEquals(1, memmap.refcount(pfn), "end_writeback's own reference is dropped");
    writeback.folioWaitStable(pfn); // no mapping: never waits
    alloc.putPage(pfn);
    assertClean();
  }

  @Test
  void startingWritebackTwiceIsBug() {
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    folios.folioStartWriteback(pfn);
    assertThrows(KernelBugException.class, () -> folios.folioStartWriteback(pfn));
    assertClean();
  }

  @Test
  void endingWritebackThatNeverStartedIsBug() {
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE, 0);
    assertThrows(KernelBugException.class, () -> folios.folioEndWriteback(pfn));
    assertClean();
  }

  @Test
  void privateDataHoldsAReference() {
    AddressSpace file = AddressSpace.create(mem, new RamBackedAops());
    long pfn = filemap.readMappingFolio(file, 0);
    folios.folioAttachPrivate(pfn, 0xb4L);
    assertEquals(3, memmap.refcount(pfn));
    assertEquals(3, folios.expectedRefcount(pfn), "caller + page cache + private");
    alloc.putPage(pfn);
    // truncation calls ->invalidate_folio, whose default detaches the private data
    truncate.truncateInodePages(file, 0);
    assertEquals(0, file.nrPages());
    assertFalse(memmap.testFlag(pfn, PG_PRIVATE));
    assertEquals(0, memmap.refcount(pfn), "freed");
    assertClean();
  }

  @Test
  void folioMarkDirtyLockUnlocksEvenWhenDirtyFolioFails() {
    RamBackedAops inner = new RamBackedAops();
    AddressSpace failing =
        AddressSpace.create(
            mem,
            new AddressSpaceOperations() {
              @Override
              public int readFolio(AddressSpace m, long pfn) {
                return inner.readFolio(m, pfn);
              }

              @Override
              public boolean dirtyFolio(AddressSpace m, long pfn) {
                throw new KernelException(Errno.EIO, "dirty_folio failed");
              }
            });
    long pfn = filemap.readMappingFolio(failing, 0);
    KernelException e = assertThrows(KernelException.class, () -> folios.folioMarkDirtyLock(pfn));
    assertEquals(Errno.EIO, e.errno());
    assertFalse(folios.folioTestLocked(pfn), "folio_mark_dirty_lock() left PG_locked set");
    alloc.putPage(pfn);
    truncate.truncateInodePagesFinal(failing);
    assertClean();
  }

  @Test
  void folioMarkDirtyLockDirtiesOnceAndUnlocks() {
    long head = alloc.folioAlloc(Gfp.HIGHUSER_MOVABLE, 1);
    assertTrue(folios.folioMarkDirtyLock(head + 1));
    assertFalse(folios.folioMarkDirtyLock(head));
    assertTrue(folios.folioTestDirty(head));
    assertFalse(folios.folioTestLocked(head));
    alloc.putPage(head);
  }
}
