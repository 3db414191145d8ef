package dev.refkern.fs.xfs.internal;

import static dev.refkern.fs.xfs.internal.LogDisk.BS;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.Bio;
import dev.refkern.block.BioBatch;
import dev.refkern.block.BioOp;
import dev.refkern.block.FileDisk.TearMode;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The XFS log on a {@code FileDisk} against power cuts: a forced commit is replayed, a torn or
 * unforced one is not, replay is idempotent, the log wraps, and a block that looks like a record
 * header survives.
 */
class XfsLogTest {
  static final long DEV_BLOCKS = 256;
  static final long LOG_START = 128;
  static final long LOG_BLOCKS = 64;

  @TempDir Path dir;
  LogDisk d;
  XfsLog log;

  LogDisk disk() {
    d = new LogDisk(dir, DEV_BLOCKS);
    return d;
  }

  XfsLog format(long logBlocks) {
    XfsLog.format(d.mem, d, LOG_START, logBlocks, BS);
    return open(logBlocks);
  }

  XfsLog open(long logBlocks) {
    log = XfsLog.open(d.mem, d, LOG_START, logBlocks, BS);
    return log;
  }

  /** The log dropped as by the power cut it just saw, then the disk back and the log recovered. */
  XfsLog cutAndRecover(TearMode mode, long seed, long logBlocks) {
    log.shutdown();
    d.cutAndReopen(mode, seed);
    return open(logBlocks);
  }

  @AfterEach
  void tearDown() {
    if (log != null) {
      log.shutdown();
    }
    if (d != null) {
      d.close();
    }
  }

  static byte[] pattern(long blk, int version) {
    byte[] b = new byte[BS];
    ByteBuffer w = ByteBuffer.wrap(b);
    for (int i = 0; i < BS; i += 8) {
      w.putLong(i, blk * 1_000_003L + version * 7919L + i);
    }
    return b;
  }

  static List<LogBuf> tx(int version, long... blks) {
    List<LogBuf> l = new ArrayList<>();
    for (long b : blks) {
      l.add(new LogBuf(b, pattern(b, version)));
    }
    return l;
  }

  void assertHome(long blk, byte[] want) {
    assertArrayEquals(want, d.block(blk), "home block " + blk);
  }

  @Test
  void aForcedCommitIsReplayedAfterAPowerCutBeforeCheckpoint() {
    disk();
    format(LOG_BLOCKS);
    long lsn = log.commit(tx(1, 3, 4, 5));
    assertArrayEquals(pattern(4, 1), log.pending(4));
    int fua = d.fuaPreflushWrites;
    log.force(lsn);
    assertEquals(fua + 1, d.fuaPreflushWrites, "the force's last write is PREFLUSH|FUA");
    log.shutdown();
    d.cutAndReopen(TearMode.DROP_ALL, 0);
    assertHome(4, new byte[BS]); // not home yet: only the log has it
    assertTrue(XfsLog.needsRecovery(d.mem, d, LOG_START, LOG_BLOCKS, BS));
    open(LOG_BLOCKS);
    XfsLog.Recovery r = log.recovery();
    assertFalse(r.clean());
    assertEquals(1, r.transactionsReplayed());
    assertEquals(1, log.stats().transactionsReplayed());
    for (long b = 3; b <= 5; b++) {
      assertHome(b, pattern(b, 1));
    }
    assertFalse(XfsLog.needsRecovery(d.mem, d, LOG_START, LOG_BLOCKS, BS), "clean after recovery");
  }

  /** File data written in place at {@code blk} with FUA, as writeback does, not through the log. */
  void writeInPlace(long blk, byte[] data) {
    long pfn = d.mem.allocator().allocPages(Gfp.KERNEL, 0);
    try {
      d.mem.ram().write(pfn, 0, data, 0, BS);
      Bio bio = new Bio(BioOp.WRITE, blk * (BS / 512), Bio.REQ_FUA, 1);
      bio.addPage(pfn, 0, BS);
      assertEquals(0, BioBatch.submitBioWait(d.mem.scheduler(), d, bio));
    } finally {
      d.mem.allocator().putPage(pfn);
    }
  }

  /**
   * {@code XFS_BLF_CANCEL}: a block logged, then freed by a later transaction that cancels it and
   * reused for file data in place, keeps the data after a power cut: recovery does not replay the
   * older logged copy over it ({@code xlog_recover_buf_commit_pass2()}), while a copy logged after
   * the cancel is replayed.
   */
  @Test
  void aCancelledBlockIsNotReplayedOverItsNewData() {
    disk();
    format(LOG_BLOCKS);
    log.force(log.commit(tx(1, 5, 6)));
    List<LogBuf> free = new ArrayList<>(tx(2, 3));
    free.add(LogBuf.cancel(5));
    free.add(LogBuf.cancel(6));
    log.force(log.commit(free));
    assertNull(log.pending(5), "a cancelled block leaves the AIL");
    byte[] data = pattern(99, 99);
    writeInPlace(5, data);
    log.force(log.commit(tx(3, 6))); // 6 is metadata again, after its cancel
    log = cutAndRecover(TearMode.DROP_ALL, 0, LOG_BLOCKS);
    assertEquals(3, log.recovery().transactionsReplayed());
    assertHome(5, data);
    assertHome(6, pattern(6, 3));
    assertHome(3, pattern(3, 2));
    log.checkpoint();
    assertHome(5, data);
  }

  @Test
  void aCleanUnmountReplaysNothingAndNeedsNoRecovery() {
    disk();
    format(LOG_BLOCKS);
    log.commit(tx(1, 7));
    log.unmount();
    assertHome(7, pattern(7, 1));
    assertFalse(XfsLog.needsRecovery(d.mem, d, LOG_START, LOG_BLOCKS, BS));
    d.cutAndReopen(TearMode.DROP_ALL, 0);
    open(LOG_BLOCKS);
    assertTrue(log.recovery().clean());
    assertEquals(0, log.recovery().transactionsReplayed());
  }

  @Test
  void aCommitNeverForcedIsNotReplayedNorHalfApplied() {
    disk();
    format(LOG_BLOCKS);
    log.force(log.commit(tx(1, 1, 2)));
    log.commit(tx(2, 2, 3)); // never forced
    assertArrayEquals(pattern(3, 2), log.pending(3));
    cutAndRecover(TearMode.TORN_SECTORS, 42, LOG_BLOCKS);
    assertEquals(1, log.recovery().transactionsReplayed());
    assertHome(1, pattern(1, 1));
    assertHome(2, pattern(2, 1));
    assertHome(3, new byte[BS]);
  }

  /**
   * The second transaction spans three records; the power goes at its last record's write (the one
   * with PREFLUSH|FUA), the two before are torn sector by sector as each seed says: it is never
   * replayed, the first always is.
   */
  @Test
  void aTornTransactionIsNotReplayedAndTheOlderOneIs() {
    long torn = 0;
    for (long seed = 1; seed <= 12; seed++) {
      Path sub = dir.resolve("s" + seed);
      d = new LogDisk(sub, DEV_BLOCKS);
      format(LOG_BLOCKS);
      log.force(log.commit(tx(1, 1, 2)));
      long[] big = new long[16];
      for (int i = 0; i < 16; i++) {
        big[i] = 10 + i;
      }
      log.commit(tx(2, big));
      long writesBefore = d.writes;
      d.cutAtWrite(3, TearMode.TORN_SECTORS, seed);
      long s = seed;
      KernelException e = assertThrows(KernelException.class, log::forceAll, "seed " + s);
      assertEquals(Errno.EIO, e.errno());
      assertEquals(writesBefore + 3, d.writes, "three records: the cut is at the last");
      torn += d.lastCut.writesTorn();
      log.shutdown();
      d.reopenAfterCut();
      open(LOG_BLOCKS);
      assertEquals(1, log.recovery().transactionsReplayed(), "seed " + seed);
      assertHome(1, pattern(1, 1));
      assertHome(2, pattern(2, 1));
      for (long b : big) {
        assertHome(b, new byte[BS]);
      }
      log.shutdown();
      log = null;
      d.close();
      d = null;
    }
    assertTrue(torn > 0, "some seed tore a record");
  }

  /** Data whose sectors start with the record magic and a cycle, or with a later cycle. */
  @Test
  void aBlockThatLooksLikeARecordHeaderSurvives() {
    disk();
    format(LOG_BLOCKS);
    byte[] fake = new byte[BS];
    byte[] cycles = new byte[BS];
    ByteBuffer f = ByteBuffer.wrap(fake);
    ByteBuffer c = ByteBuffer.wrap(cycles);
    for (int i = 0; i < BS; i += 8) {
      f.putInt(i, XfsLog.MAGIC).putInt(i + 4, 7); // a header of cycle 7 at every sector
      c.putInt(i, 2).putInt(i + 4, 2); // the next lap's cycle everywhere
    }
    log.commit(List.of(new LogBuf(5, fake), new LogBuf(6, cycles)));
    log.forceAll();
    log.force(log.commit(tx(3, 7)));
    cutAndRecover(TearMode.DROP_ALL, 0, LOG_BLOCKS);
    assertEquals(2, log.recovery().transactionsReplayed());
    assertHome(5, fake);
    assertHome(6, cycles);
    assertHome(7, pattern(7, 3));
  }

  /**
   * Many commits through a small log: it wraps several times, checkpointing when full; what was
   * forced last is there after a cut.
   */
  @Test
  void theLogWrapsWithCheckpointsAndRecoversAfterACut() {
    disk();
    long small = 24;
    format(small);
    byte[][] want = new byte[32][];
    for (int i = 0; i < 300; i++) {
      long b1 = i % 32;
      long b2 = (i * 7 + 3) % 32;
      long lsn = log.commit(tx(i, b1, b2));
      want[(int) b1] = pattern(b1, i);
      want[(int) b2] = pattern(b2, i);
      if (i % 3 == 0) {
        log.force(lsn);
      }
    }
    log.forceAll();
    long cycle = log.headAndTail()[0] >>> 32;
    assertTrue(cycle >= 5, "the log wrapped, cycle " + cycle);
    assertTrue(log.stats().checkpoints() > 10);
    cutAndRecover(TearMode.TORN_SECTORS, 7, small);
    assertTrue(log.recovery().transactionsReplayed() > 0);
    for (int b = 0; b < 32; b++) {
      if (want[b] != null) {
        assertHome(b, want[b]);
      }
    }
  }

  /**
   * A cut at each write of recovery (home blocks, stale-block clearing, unmount record): the next
   * recovery ends in the same blocks.
   */
  @Test
  void replayIsIdempotentUnderACutDuringRecovery() {
    for (int k = 1; k <= 16; k++) {
      d = new LogDisk(dir.resolve("k" + k), DEV_BLOCKS);
      format(LOG_BLOCKS);
      log.force(log.commit(tx(1, 1, 2, 3)));
      log.force(log.commit(tx(2, 3, 4)));
      log.shutdown();
      d.cutAndReopen(TearMode.DROP_ALL, 0);
      d.cutAtWrite(k, TearMode.TORN_SECTORS, k);
      try {
        open(LOG_BLOCKS);
        log.shutdown(); // recovery ended before the k-th write: the cut never came
        d.cutAndReopen(TearMode.TORN_SECTORS, k);
      } catch (KernelException e) {
        assertEquals(Errno.EIO, e.errno());
      }
      d.reopenAfterCut();
      open(LOG_BLOCKS);
      assertHome(1, pattern(1, 1));
      assertHome(2, pattern(2, 1));
      assertHome(3, pattern(3, 2));
      assertHome(4, pattern(4, 2));
      log.shutdown();
      log = null;
      d.close();
      d = null;
    }
  }

  @Test
  void aTransactionLargerThanTheLogIsEnospcAndLogsNothing() {
    disk();
    format(16);
    log.force(log.commit(tx(1, 1)));
    long records = log.stats().recordsWritten();
    long[] blks = new long[16];
    for (int i = 0; i < 16; i++) {
      blks[i] = 20 + i;
    }
    KernelException e = assertThrows(KernelException.class, () -> log.commit(tx(2, blks)));
    assertEquals(Errno.ENOSPC, e.errno());
    assertNull(log.pending(20));
    log.forceAll();
    assertEquals(records, log.stats().recordsWritten(), "nothing logged");
    cutAndRecover(TearMode.DROP_ALL, 0, 16);
    assertEquals(1, log.recovery().transactionsReplayed());
    assertHome(1, pattern(1, 1));
    assertHome(20, new byte[BS]);
  }

  /** One flipped payload bit: that record fails its CRC and replay stops before it. */
  @Test
  void aRecordFailingItsChecksumEndsReplayThere() throws IOException {
    disk();
    format(LOG_BLOCKS);
    log.force(log.commit(tx(1, 1)));
    long at = log.headAndTail()[0] & 0xffffffffL;
    log.force(log.commit(tx(2, 2)));
    log.force(log.commit(tx(3, 3)));
    log.shutdown();
    d.disk.powerCut();
    try (FileChannel ch =
        FileChannel.open(d.disk.path(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long off = (LOG_START + at + 1) * BS + 100;
      ByteBuffer b = ByteBuffer.allocate(1);
      ch.read(b, off);
      b.put(0, (byte) (b.get(0) ^ 0x40));
      ch.write(b.rewind(), off);
    }
    d.disk.reopen();
    open(LOG_BLOCKS);
    XfsLog.Recovery r = log.recovery();
    assertEquals(1, r.transactionsReplayed());
    assertTrue(r.stoppedBecause().contains(XfsLog.lsnString(1L << 32 | at)), r.stoppedBecause());
    assertHome(1, pattern(1, 1));
    assertHome(2, new byte[BS]);
    assertHome(3, new byte[BS]);
  }

  /**
   * A force of three records whose middle one is lost (the last, with PREFLUSH|FUA, lands): its
   * transaction is dropped; then a new commit exactly fills the lost record's space up to the stale
   * third one. Recovery must not chain into that stale record ({@code xlog_clear_stale_blocks()}),
   * or the new commit would be read as part of the dropped one.
   */
  @Test
  void aStaleRecordBeyondALostOneIsNeverChainedInto() {
    disk();
    format(LOG_BLOCKS);
    log.commit(tx(1, 1));
    long[] big = new long[15];
    for (int i = 0; i < 15; i++) {
      big[i] = 10 + i;
    }
    log.commit(tx(2, big)); // with the first: two full records and a third of one block
    d.loseWrite(2);
    log.forceAll();
    log.shutdown();
    d.cutAndReopen(TearMode.DROP_ALL, 0);
    open(LOG_BLOCKS);
    assertEquals(1, log.recovery().transactionsReplayed());
    assertEquals(1, log.recovery().incompleteDropped());
    log.force(log.commit(tx(3, 30, 31, 32, 33, 34))); // six payload blocks: up to the stale one
    cutAndRecover(TearMode.DROP_ALL, 0, LOG_BLOCKS);
    assertEquals(1, log.recovery().transactionsReplayed(), log.recovery().toString());
    assertHome(1, pattern(1, 1));
    assertHome(30, pattern(30, 3));
    assertHome(34, pattern(34, 3));
    assertHome(10, new byte[BS]);
  }

  @Test
  void aZeroedLogIsEuclean() {
    disk();
    KernelException e =
        assertThrows(KernelException.class, () -> XfsLog.open(d.mem, d, LOG_START, 16, BS));
    assertEquals(Errno.EUCLEAN, e.errno());
    assertArrayEquals(new byte[BS], d.block(LOG_START));
    assertTrue(Arrays.equals(new byte[BS], d.block(0)));
  }
}
