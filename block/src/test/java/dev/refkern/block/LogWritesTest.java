package dev.refkern.block;

import static dev.refkern.block.LogWrites.LOG_FLUSH_FLAG;
import static dev.refkern.block.LogWrites.LOG_FUA_FLAG;
import static dev.refkern.block.LogWrites.LOG_MARK_FLAG;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** dm-log-writes: what is logged, in which order, and replay to every point. */
class LogWritesTest {
  static final int SECTOR = Bio.SECTOR_SIZE;
  static final int PAGE = 4096;
  static final long CAPACITY = 64;

  @TempDir Path dir;
  PhysicalMemory mem;
  final List<Long> pages = new ArrayList<>();

  @BeforeEach
  void boot() {
    mem = PhysicalMemory.boot(BootParams.parse("mem=64M"), dir.resolve("state"), false);
  }

  @AfterEach
  void shutdown() {
    for (long pfn : pages) {
      mem.allocator().putPage(pfn);
    }
    assertEquals(List.of(), mem.debugVm().check());
    mem.close();
  }

  static byte[] pattern(int seed, int len) {
    byte[] b = new byte[len];
    for (int i = 0; i < len; i++) {
      b[i] = (byte) (i * 31 + seed * 7 + (i >> 9));
    }
    return b;
  }

  long page(byte[] contents) {
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    assertNotEquals(PageAllocator.NO_PFN, pfn);
    pages.add(pfn);
    mem.ram().write(pfn, 0, contents, 0, contents.length);
    return pfn;
  }

  /** Submits and returns the status, checking the bio completed exactly once. */
  static int submit(BlockDevice dev, Bio bio) {
    int[] status = {Integer.MIN_VALUE};
    int[] calls = {0};
    bio.onEnd(
        b -> {
          status[0] = b.status();
          calls[0]++;
        });
    dev.submitBio(bio);
    assertEquals(1, calls[0], "completed exactly once");
    return status[0];
  }

  /** What the test expects the device to hold: the model replay is checked against. */
  static final class Model {
    final byte[] disk = new byte[(int) CAPACITY * SECTOR];
    final List<byte[]> afterEntry = new ArrayList<>(); // disk after entry i

    void write(long sector, byte[] data, int sectors) {
      System.arraycopy(data, 0, disk, (int) sector * SECTOR, sectors * SECTOR);
    }

    void logged() {
      afterEntry.add(disk.clone());
    }
  }

  int write(LogWrites lw, long sector, int seed, int sectors, int flags) {
    byte[] data = pattern(seed, sectors * SECTOR);
    return submit(lw, new Bio(BioOp.WRITE, sector, flags).addPage(page(data), 0, data.length));
  }

  /**
   * The script: W1 W2 FLUSH, FUA W3, mark, W4 (completed, not yet flushed), PREFLUSH W5, and W6
   * left unflushed until close.
   */
  LogWrites script(LogWrites lw, Model m) {
    assertEquals(0, write(lw, 0, 1, 8, 0));
    assertEquals(0, write(lw, 8, 2, 4, 0));
    assertEquals(0, lw.size(), "plain writes wait for a flush before they are logged");
    assertEquals(0, submit(lw, new Bio(BioOp.FLUSH, 0, 0)));
    m.write(0, pattern(1, 8 * SECTOR), 8);
    m.logged();
    m.write(8, pattern(2, 4 * SECTOR), 4);
    m.logged();
    m.logged(); // the flush
    assertEquals(0, write(lw, 2, 3, 2, Bio.REQ_FUA));
    m.write(2, pattern(3, 2 * SECTOR), 2);
    m.logged();
    assertEquals(4, lw.mark("fsync-done"));
    m.logged();
    assertEquals(0, write(lw, 16, 4, 8, 0));
    assertEquals(0, write(lw, 24, 5, 4, Bio.REQ_PREFLUSH));
    m.write(16, pattern(4, 8 * SECTOR), 8);
    m.logged();
    m.write(24, pattern(5, 4 * SECTOR), 4);
    m.logged();
    assertEquals(0, write(lw, 40, 6, 1, 0));
    lw.close();
    m.write(40, pattern(6, SECTOR), 1);
    m.logged();
    m.logged(); // the end mark
    return lw;
  }

  void assertLogOfScript(LogWrites lw) {
    List<LogWrites.Entry> es = lw.entries();
    long[][] want = { // flags, sector, sectors
      {0, 0, 8},
      {0, 8, 4},
      {LOG_FLUSH_FLAG, 0, 0},
      {LOG_FUA_FLAG, 2, 2},
      {LOG_MARK_FLAG, 0, 0},
      {0, 16, 8},
      {LOG_FLUSH_FLAG, 24, 4},
      {0, 40, 1},
      {LOG_MARK_FLAG, 0, 0},
    };
    assertEquals(want.length, es.size(), () -> "log " + es);
    for (int i = 0; i < want.length; i++) {
      LogWrites.Entry e = es.get(i);
      assertEquals(i, e.seq());
      assertArrayEquals(want[i], new long[] {e.flags(), e.sector(), e.nrSectors()}, e::toString);
    }
    assertArrayEquals(pattern(4, 8 * SECTOR), es.get(5).data());
    assertEquals(List.of(2L, 3L, 6L), lw.flushPoints());
    assertEquals(
        List.of("fsync-done", LogWrites.END_MARK),
        lw.marks().stream().map(LogWrites.Entry::mark).toList());
    assertEquals(4, lw.markEntry("fsync-done"));
  }

  @Test
  void logsInFlushOrderAndReplaysToEveryEntry() {
    RamDisk disk = new RamDisk(mem, CAPACITY);
    Model m = new Model();
    LogWrites lw = script(new LogWrites(mem, disk), m);
    assertLogOfScript(lw);
    assertArrayEquals(m.disk, disk.peek(0, (int) CAPACITY), "passed through to the device");
    assertArrayEquals(new byte[m.disk.length], replayed(lw, -1), "-1 is the initial image");
    for (int i = 0; i < lw.size(); i++) {
      assertArrayEquals(m.afterEntry.get(i), replayed(lw, i), "replay to entry " + i);
    }
  }

  byte[] replayed(LogWrites lw, long upTo) {
    RamDisk target = new RamDisk(mem, CAPACITY);
    lw.replay(upTo, target);
    return target.peek(0, (int) CAPACITY);
  }

  @Test
  void aMarkBeforeTheFlushPrecedesTheUnflushedWrites() {
    LogWrites lw = new LogWrites(mem, new RamDisk(mem, CAPACITY));
    assertEquals(0, write(lw, 0, 1, 1, 0));
    lw.mark("no-fsync-yet");
    assertEquals(0, submit(lw, new Bio(BioOp.FLUSH, 0, 0)));
    assertEquals(
        List.of(LOG_MARK_FLAG, 0L, LOG_FLUSH_FLAG),
        lw.entries().stream().map(LogWrites.Entry::flags).toList());
  }

  @Test
  void aWriteCompletedAfterTheFlushWasSubmittedWaitsForTheNextFlush() {
    RamDisk disk = new RamDisk(mem, CAPACITY, DiskOptions.defaults().manualConsumption());
    LogWrites lw = new LogWrites(mem, disk);
    int[] calls = new int[2];
    byte[] data = pattern(7, SECTOR);
    Bio w = new Bio(BioOp.WRITE, 5, 0).addPage(page(data), 0, SECTOR).onEnd(b -> calls[0]++);
    lw.submitBio(w);
    lw.submitBio(new Bio(BioOp.FLUSH, 0, 0).onEnd(b -> calls[1]++));
    assertEquals(2, disk.consumeAll());
    assertArrayEquals(new int[] {1, 1}, calls, "each completed once, by the device");
    assertEquals(
        List.of(LOG_FLUSH_FLAG), lw.entries().stream().map(LogWrites.Entry::flags).toList());
    lw.submitBio(new Bio(BioOp.FLUSH, 0, 0));
    assertEquals(1, disk.consumeAll());
    assertEquals(
        List.of(LOG_FLUSH_FLAG, 0L, LOG_FLUSH_FLAG),
        lw.entries().stream().map(LogWrites.Entry::flags).toList());
  }

  @Test
  void passesTheDeviceStatusToTheOriginalBio() {
    LogWrites lw = new LogWrites(mem, new RamDisk(mem, CAPACITY));
    assertEquals(-Errno.EIO.number(), write(lw, CAPACITY - 1, 1, 2, Bio.REQ_FUA));
  }

  @Test
  void tornReplayKeepsAPrefixOfTheLastWritesSectors() {
    RamDisk disk = new RamDisk(mem, CAPACITY);
    LogWrites lw = new LogWrites(mem, disk);
    assertEquals(0, write(lw, 0, 1, 8, Bio.REQ_FUA));
    assertEquals(0, write(lw, 0, 2, 8, Bio.REQ_FUA)); // #1 overwrites #0
    byte[] before = pattern(1, 8 * SECTOR);
    byte[] after = pattern(2, 8 * SECTOR);
    assertEquals(1, lw.entries().get(1).seq());
    boolean[] seen = new boolean[8];
    for (long seed = 0; seed < 64; seed++) {
      RamDisk target = new RamDisk(mem, CAPACITY);
      long kept = lw.replayTorn(1, seed, target);
      long s = seed;
      assertTrue(kept >= 0 && kept < 8, () -> "seed " + s + ": kept " + kept);
      seen[(int) kept] = true;
      byte[] want = before.clone();
      System.arraycopy(after, 0, want, 0, (int) kept * SECTOR);
      assertArrayEquals(want, target.peek(0, 8), () -> "seed " + s + ": kept " + kept);
      assertEquals(kept, lw.replayTorn(1, seed, new RamDisk(mem, CAPACITY)), "seed " + s);
    }
    assertTrue(seen[0] && seen[7], () -> "prefixes seen " + Arrays.toString(seen));
  }

  @Test
  void aLogFileReadsBackAndReplaysIdentically() throws IOException {
    Path logFile = dir.resolve("log");
    Model m = new Model();
    LogWrites rec = script(LogWrites.record(mem, new RamDisk(mem, CAPACITY), logFile), m);
    LogWrites back = LogWrites.open(mem, logFile);
    assertEquals(rec.entries(), back.entries());
    assertEquals(CAPACITY, back.capacitySectors());
    assertLogOfScript(back);
    for (int i = -1; i < back.size(); i++) {
      assertArrayEquals(replayed(rec, i), replayed(back, i), "replay to entry " + i);
      Path image = dir.resolve("image" + i);
      back.replayToImage(i, image);
      try (FileDisk d = FileDisk.open(mem, image, DiskOptions.defaults())) {
        byte[] want = i < 0 ? new byte[m.disk.length] : m.afterEntry.get(i);
        assertArrayEquals(want, d.peek(0, (int) CAPACITY), "image replayed to entry " + i);
      }
    }
    long kept = back.replayTornToImage(5, 42, dir.resolve("torn"));
    byte[] want = m.afterEntry.get(4).clone();
    System.arraycopy(pattern(4, 8 * SECTOR), 0, want, 16 * SECTOR, (int) kept * SECTOR);
    try (FileDisk d = FileDisk.open(mem, dir.resolve("torn"), DiskOptions.defaults())) {
      assertArrayEquals(want, d.peek(0, (int) CAPACITY), "seed 42: kept " + kept);
    }
    Bio read = new Bio(BioOp.READ, 0, 0).addPage(page(new byte[PAGE]), 0, SECTOR);
    assertEquals(-Errno.EIO.number(), submit(back, read), "a log read back has no device");
  }

  @Test
  void replayOutsideTheLogIsEinval() {
    LogWrites lw = new LogWrites(mem, new RamDisk(mem, CAPACITY));
    assertEquals(0, write(lw, 0, 1, 1, Bio.REQ_FUA));
    lw.mark("m");
    for (long upTo : new long[] {-2, 2, Long.MAX_VALUE}) {
      KernelException e =
          assertThrows(KernelException.class, () -> lw.replay(upTo, new RamDisk(mem, CAPACITY)));
      assertEquals(Errno.EINVAL, e.errno(), "upTo " + upTo);
    }
    KernelException notWrite =
        assertThrows(KernelException.class, () -> lw.replayTorn(1, 0, new RamDisk(mem, 64)));
    assertEquals(Errno.EINVAL, notWrite.errno(), "a mark cannot be torn");
    KernelException small =
        assertThrows(KernelException.class, () -> lw.replay(0, new RamDisk(mem, CAPACITY - 1)));
    assertEquals(Errno.EINVAL, small.errno());
    KernelException noMark = assertThrows(KernelException.class, () -> lw.markEntry("other"));
    assertEquals(Errno.ENOENT, noMark.errno());
  }

  @Test
  void aLogCutShortIsEioNamingTheEntry() throws IOException {
    Path logFile = dir.resolve("log");
    LogWrites lw = LogWrites.record(mem, new RamDisk(mem, CAPACITY), logFile);
    assertEquals(0, write(lw, 0, 1, 8, Bio.REQ_FUA));
    assertEquals(0, write(lw, 8, 2, 8, Bio.REQ_FUA));
    lw.close();
    long full = Files.size(logFile);
    // super + (header + 8 sectors) + header + 3 of entry 1's 8 sectors
    try (FileChannel ch = FileChannel.open(logFile, StandardOpenOption.WRITE)) {
      ch.truncate(SECTOR + 9 * SECTOR + SECTOR + 3 * SECTOR);
    }
    assertTrue(Files.size(logFile) < full);
    KernelException e = assertThrows(KernelException.class, () -> LogWrites.open(mem, logFile));
    assertEquals(Errno.EIO, e.errno());
    assertTrue(e.getMessage().contains("entry 1 of 3"), e.getMessage());

    Files.write(logFile, new byte[SECTOR]);
    KernelException notLog =
        assertThrows(KernelException.class, () -> LogWrites.open(mem, logFile));
    assertEquals(Errno.EINVAL, notLog.errno());
  }
}
