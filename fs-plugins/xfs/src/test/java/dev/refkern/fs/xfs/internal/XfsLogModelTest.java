package dev.refkern.fs.xfs.internal;

import static dev.refkern.fs.xfs.internal.LogDisk.BS;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.FileDisk.TearMode;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random commit/force/checkpoint/unmount sequences with power cuts (now, or at the n-th write of a
 * later call, sectors torn by a seed), against a model: after recovery the home blocks are the
 * state after some prefix of the committed transactions, never shorter than what was forced, and
 * never anything that was not committed. Fixed seeds; a failure names its seed.
 */
class XfsLogModelTest {
  static final long DEV_BLOCKS = 128;
  static final long LOG_START = 64;
  static final int HOME = 24; // home blocks 0..23

  @TempDir Path dir;

  @Test
  void randomSequencesAgainstTheModel() {
    int cuts = 0;
    for (long seed = 1; seed <= 30; seed++) {
      try {
        cuts += run(seed);
      } catch (AssertionError | RuntimeException e) {
        throw new AssertionError("seed " + seed + ": " + e.getMessage(), e);
      }
    }
    assertTrue(cuts > 60, "power cuts in the runs: " + cuts);
  }

  /** One seeded run; returns the power cuts it recovered from. */
  private int run(long seed) {
    Random rnd = new Random(seed);
    long logBlocks = 16 + rnd.nextInt(40);
    try (LogDisk d = new LogDisk(dir.resolve("s" + seed), DEV_BLOCKS)) {
      XfsLog.format(d.mem, d, LOG_START, logBlocks, BS);
      XfsLog log = XfsLog.open(d.mem, d, LOG_START, logBlocks, BS);
      byte[][] base = new byte[HOME][];
      for (int b = 0; b < HOME; b++) {
        base[b] = new byte[BS];
      }
      List<List<LogBuf>> txs = new ArrayList<>();
      int forced = 0;
      boolean armed = false;
      int cuts = 0;
      try {
        for (int step = 0; step < 120; step++) {
          int r = rnd.nextInt(100);
          try {
            if (r < 50) {
              List<LogBuf> t = new ArrayList<>();
              int n = 1 + rnd.nextInt(4);
              for (int i = 0; i < n; i++) {
                byte[] data = new byte[BS];
                rnd.nextBytes(data);
                t.add(new LogBuf(rnd.nextInt(HOME), data));
              }
              log.commit(t);
              txs.add(t);
              LogBuf last = t.get(t.size() - 1);
              assertArrayEquals(last.data(), log.pending(last.blkno()), "pending");
            } else if (r < 65) {
              log.forceAll();
              forced = txs.size();
            } else if (r < 75) {
              log.checkpoint();
              forced = txs.size();
            } else if (r < 80) {
              log.unmount();
              log = XfsLog.open(d.mem, d, LOG_START, logBlocks, BS);
              assertTrue(log.recovery().clean(), "clean after unmount");
              check(d, base, txs, txs.size(), txs.size());
              base = state(base, txs, txs.size());
              txs.clear();
              forced = 0;
            } else if (r < 90 && !armed) {
              d.cutAtWrite(1 + rnd.nextInt(4), TearMode.TORN_SECTORS, rnd.nextLong());
              armed = true;
            } else {
              log.shutdown();
              d.cutAndReopen(TearMode.TORN_SECTORS, rnd.nextLong());
              throw new KernelException(Errno.EIO, "cut now");
            }
          } catch (KernelException e) {
            assertEquals(Errno.EIO, e.errno(), e.getMessage());
            log.shutdown();
            d.reopenAfterCut();
            armed = false;
            cuts++;
            log = XfsLog.open(d.mem, d, LOG_START, logBlocks, BS);
            int k = check(d, base, txs, forced, txs.size());
            base = state(base, txs, k);
            txs.clear();
            forced = 0;
          }
        }
        log.shutdown();
        d.cutAndReopen(TearMode.TORN_SECTORS, seed);
        d.reopenAfterCut();
        log = XfsLog.open(d.mem, d, LOG_START, logBlocks, BS);
        check(d, base, txs, forced, txs.size());
        return cuts + 1;
      } finally {
        log.shutdown();
      }
    }
  }

  /** The home blocks after {@code base} and the first {@code k} transactions. */
  private static byte[][] state(byte[][] base, List<List<LogBuf>> txs, int k) {
    byte[][] s = base.clone();
    for (List<LogBuf> t : txs.subList(0, k)) {
      for (LogBuf b : t) {
        s[(int) b.blkno()] = b.data();
      }
    }
    return s;
  }

  /** Which prefix in {@code [lo, hi]} the disk holds; fails if none. */
  private static int check(LogDisk d, byte[][] base, List<List<LogBuf>> txs, int lo, int hi) {
    byte[][] disk = new byte[HOME][];
    for (int b = 0; b < HOME; b++) {
      disk[b] = d.block(b);
    }
    for (int k = hi; k >= lo; k--) {
      if (Arrays.deepEquals(disk, state(base, txs, k))) {
        return k;
      }
    }
    fail("the home blocks are no prefix of " + lo + ".." + hi + " committed transactions");
    return -1;
  }
}
