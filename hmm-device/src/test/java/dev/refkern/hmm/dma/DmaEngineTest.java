package dev.refkern.hmm.dma;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.mm.sched.Workqueue;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** The DMA engine over a fixed two-page target, stepped by hand and from a simulated workqueue. */
class DmaEngineTest extends DmaTestBase {
  private final long[] pfn = new long[2];
  private boolean unmapped;

  private final DmaTarget target =
      new DmaTarget() {
        @Override
        public int dmaPages() {
          return 2;
        }

        @Override
        public long dmaPfn(int index, boolean write) {
          return unmapped ? NOT_MAPPED : pfn[index];
        }

        @Override
        public boolean dmaFault(int index, boolean write) {
          return false;
        }
      };

  private void allocTwo() {
    boot("mem=64M");
    pfn[0] = mem.allocator().allocPages(Gfp.KERNEL, 0);
    pfn[1] = mem.allocator().allocPages(Gfp.KERNEL, 0);
  }

  private void freeTwo() {
    mem.allocator().freePages(pfn[0], 0);
    mem.allocator().freePages(pfn[1], 0);
  }

  @Test
  void aWriteMovesBytesPerStepAndStampsEachPageWhole() {
    allocTwo();
    DmaEngine e = new DmaEngine(mem.ram(), 1024);
    DmaTransfer t = e.submitWrite(target, 0, 2, 42);
    for (int i = 0; i < 4; i++) {
      assertEquals(1024, e.step());
    }
    assertEquals(42, DmaEngine.stampOf(mem.ram(), pfn[0]), "page 0 filled in 4 steps");
    assertEquals(-1, DmaEngine.stampOf(mem.ram(), pfn[1]), "page 1 not yet");
    e.step();
    assertEquals(-1, DmaEngine.stampOf(mem.ram(), pfn[1]), "a quarter written: torn");
    assertEquals(3, e.drain());
    assertEquals(DmaTransfer.State.DONE, t.state());
    assertEquals(42, DmaEngine.stampOf(mem.ram(), pfn[1]));
    assertEquals(2L * Page.PAGE_SIZE, e.stats().bytesWritten());
    assertEquals(1, e.stats().transfersCompleted());
    freeTwo();
  }

  @Test
  void aWriteWithItsOwnPatternWritesEveryWordOfIt() {
    allocTwo();
    DmaEngine e = new DmaEngine(mem.ram(), 8192);
    e.submitWrite(target, 1, 1, 3, (seq, page, i) -> seq << 32 | (long) page << 16 | i);
    e.drain();
    assertEquals(3L << 32 | 1L << 16, mem.ram().readLong(pfn[1], 0));
    assertEquals(3L << 32 | 1L << 16 | 511, mem.ram().readLong(pfn[1], 511 * 8));
    assertEquals(-1, DmaEngine.stampOf(mem.ram(), pfn[1]), "not the engine's stamp");
    freeTwo();
  }

  @Test
  void aPatternStartingPastWordZeroLeavesTheHostsHeaderAlone() {
    allocTwo();
    mem.ram().writeLong(pfn[0], 0, 0xABCDL);
    DmaEngine e = new DmaEngine(mem.ram(), 8192);
    e.submitWrite(
        target,
        0,
        1,
        7,
        new DmaPattern() {
          @Override
          public long word(long seq, int page, int i) {
            return seq << 16 | i;
          }

          @Override
          public int firstWord() {
            return 1;
          }
        });
    e.drain();
    assertEquals(0xABCDL, mem.ram().readLong(pfn[0], 0), "word 0 is the host's");
    assertEquals(7L << 16 | 1, mem.ram().readLong(pfn[0], 8));
    assertEquals(7L << 16 | 511, mem.ram().readLong(pfn[0], 511 * 8));
    freeTwo();
  }

  @Test
  void aReadCopiesThePagesIntoTheDeviceBuffer() {
    allocTwo();
    mem.ram().writeLong(pfn[1], 8, 0x1234);
    DmaEngine e = new DmaEngine(mem.ram(), 4096);
    ByteBuffer buf =
        ByteBuffer.allocate(2 * Page.PAGE_SIZE).order(java.nio.ByteOrder.nativeOrder());
    e.submitRead(target, 0, 2, buf);
    e.drain();
    assertEquals(0x1234, buf.getLong(Page.PAGE_SIZE + 8));
    assertEquals(2L * Page.PAGE_SIZE, e.stats().bytesRead());
    freeTwo();
  }

  @Test
  void anUnmappedPageWhoseFaultFailsAbortsTheTransferWithEfault() {
    allocTwo();
    DmaEngine e = new DmaEngine(mem.ram(), 8192);
    unmapped = true;
    DmaTransfer t = e.submitWrite(target, 0, 2, 1);
    assertEquals(0, e.step());
    assertEquals(DmaTransfer.State.ABORTED, t.state());
    assertEquals(Errno.EFAULT, t.error());
    assertEquals(1, e.stats().transfersAborted());
    assertEquals(0, e.pending());
    freeTwo();
  }

  @Test
  void aBadRateOrRangeIsEinval() {
    allocTwo();
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> new DmaEngine(mem.ram(), 12)).errno());
    DmaEngine e = new DmaEngine(mem.ram(), 8);
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> e.submitWrite(target, 1, 2, 0)).errno());
    freeTwo();
  }

  @Test
  void onASimulatedWorkqueueItMovesOneStepPerJiffy() {
    allocTwo();
    try (SimScheduler sim = new SimScheduler(0x5eed)) {
      Workqueue wq = sim.allocWorkqueue("dma");
      DmaEngine e = new DmaEngine(mem.ram(), 2048);
      e.start(wq);
      DmaTransfer t = e.submitWrite(target, 0, 2, 9);
      sim.advance(1); // steps at jiffies 0 and 1
      assertEquals(4096, t.bytesDone());
      assertNull(t.error());
      assertEquals(9, DmaEngine.stampOf(mem.ram(), pfn[0]));
      sim.runUntilIdle();
      assertEquals(DmaTransfer.State.DONE, t.state());
      assertEquals(9, DmaEngine.stampOf(mem.ram(), pfn[1]));
      e.stop();
    }
    freeTwo();
  }
}
