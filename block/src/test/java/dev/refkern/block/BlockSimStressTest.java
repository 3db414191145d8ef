package dev.refkern.block;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.RamSwapDevice;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.sched.Completion;
import dev.refkern.mm.sched.SimScheduler;
import dev.refkern.mm.sched.Workqueue;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code O_DIRECT} writes and reads from several tasks, on a disk that consumes and completes its
 * bios in a kblockd-like workqueue, interleaved by the deterministic scheduler with memory churn
 * that meets the pins: {@code fork()} of a task with a direct I/O in flight followed by a store to
 * the pinned page (the fork vs. {@code O_DIRECT} race), reclaim, migration, {@code munmap}. Every
 * failure names the seed that replays it.
 *
 * <p>Checks what the kernel guarantees: every write reads back byte for byte, the device holds
 * exactly what was written, every pin is released, the memmap is consistent, and on a disk with a
 * volatile write cache every write completed before a {@code REQ_OP_FLUSH} survives a power cut.
 */
class BlockSimStressTest {
  enum Kind {
    RAM,
    FILE
  }

  private static final int WRITERS = 3;
  private static final int OPS = 8;
  private static final int CHURN_OPS = 40;
  private static final int PAGE = 4096;
  private static final int SECTOR = Bio.SECTOR_SIZE;
  private static final int SECTORS_PER_PAGE = PAGE / SECTOR;

  /** Largest I/O in pages: more than {@link DirectIo#MAX_BIO_PAGES}, so several bios. */
  private static final int MAX_IO_PAGES = 96;

  /** A user buffer: the largest I/O plus the page a sector-aligned start may spill into. */
  private static final int BUF_PAGES = MAX_IO_PAGES + 1;

  /** Each writer owns a disjoint region of the device. */
  private static final int REGION_SECTORS = 128 * SECTORS_PER_PAGE;

  private static final int CHURN_PAGES = 32;

  @TempDir Path dir;

  /** One writer: its task, its buffers, its region and what the region must hold. */
  private static final class Writer {
    final int id;
    final Task task;
    final long src;
    final long dst; // sector 0 of its first page is never read into: the churn stores there
    final long base; // first sector of the region
    final byte[] model = new byte[REGION_SECTORS * SECTOR];
    byte[] durable; // the model when its last flush completed
    final List<long[]> afterFlush = new ArrayList<>(); // {sector, count} written since then
    final List<byte[]> afterFlushData = new ArrayList<>();
    long scratch; // last value the churn stored at dst
    boolean scratchSet;

    Writer(int id, Task task, long src, long dst) {
      this.id = id;
      this.task = task;
      this.src = src;
      this.dst = dst;
      this.base = (long) id * REGION_SECTORS;
    }
  }

  /** What one run produced, for the replay test. */
  private record Outcome(List<String> trace, long dataHash) {}

  static Stream<Arguments> cases() {
    return Stream.of(Kind.values())
        .flatMap(k -> LongStream.rangeClosed(1, 20).mapToObj(s -> Arguments.of(k, s)));
  }

  @ParameterizedTest(name = "{0} seed {1}")
  @MethodSource("cases")
  void everyWriteReadsBackAndEveryPinIsReleased(Kind kind, long seed) {
    simulate(kind, seed, "");
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void aSeedReplaysItsInterleaving(Kind kind) {
    long seed = 0x5eed;
    Outcome first = simulate(kind, seed, "a");
    Outcome again = simulate(kind, seed, "b");
    List<String> a = first.trace();
    List<String> b = again.trace();
    int at = 0;
    while (at < Math.min(a.size(), b.size()) && a.get(at).equals(b.get(at))) {
      at++;
    }
    assertEquals(
        a,
        b,
        SimScheduler.seedTag(seed)
            + " "
            + kind
            + " did not replay; first difference at step "
            + at
            + ": "
            + a.subList(Math.max(0, at - 3), Math.min(a.size(), at + 2))
            + " vs "
            + b.subList(Math.max(0, at - 3), Math.min(b.size(), at + 2)));
    assertEquals(
        first.dataHash(), again.dataHash(), SimScheduler.seedTag(seed) + " " + kind + " data");
    assertEquals(
        WRITERS * (OPS + 2) + CHURN_OPS,
        a.stream().filter(s -> s.startsWith("op ")).count(),
        SimScheduler.seedTag(seed) + " " + kind + ": every operation ran: " + a);
  }

  private Outcome simulate(Kind kind, long seed, String run) {
    String tag = SimScheduler.seedTag(seed) + " " + kind;
    SimScheduler sched = new SimScheduler(seed);
    List<String> trace = new ArrayList<>();
    VirtualMemory vm =
        VirtualMemory.boot(
            BootParams.parse("mem=64M zone_device=0"),
            dir.resolve("mm-" + kind + "-" + seed + run),
            true,
            sched);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      vm.swapon(new RamSwapDevice(4096));
      DirectIo dio = new DirectIo(vm);
      Workqueue kblockd = sched.allocWorkqueue("kblockd");
      DiskOptions opts = DiskOptions.defaults().asyncCompletion(kblockd);
      long sectors = (long) WRITERS * REGION_SECTORS;
      FileDisk fileDisk =
          kind == Kind.FILE
              ? FileDisk.create(mem, dir.resolve("disk-" + seed + run + ".img"), sectors, opts)
              : null;
      BlockDevice dev = fileDisk != null ? fileDisk : new RamDisk(mem, sectors, opts);
      boolean ok = false;
      try {
        Outcome outcome = stress(tag, seed, sched, mem, vm, dio, dev, fileDisk, trace);
        ok = true;
        return outcome;
      } finally {
        if (fileDisk != null) {
          try {
            fileDisk.close(); // before the machine goes: it consumes what is still queued
          } catch (RuntimeException | Error e) {
            if (ok) {
              throw e;
            }
            // the run already failed; that failure is the one to report
          }
        }
      }
    } catch (RuntimeException | Error e) {
      throw new AssertionError(SimScheduler.seedTag(seed) + " " + kind + ": " + e, e);
    } finally {
      sched.shutdown();
    }
  }

  private static Outcome stress(
      String tag,
      long seed,
      SimScheduler sched,
      PhysicalMemory mem,
      VirtualMemory vm,
      DirectIo dio,
      BlockDevice dev,
      FileDisk fileDisk,
      List<String> trace) {
    List<Writer> writers = new ArrayList<>();
    for (int w = 0; w < WRITERS; w++) {
      Task t = vm.createTask("dio-" + w);
      writers.add(
          new Writer(
              w, t, t.mmapAnon(BUF_PAGES * (long) PAGE), t.mmapAnon(BUF_PAGES * (long) PAGE)));
    }
    Task churn = vm.createTask("churn");
    long churnBuf = churn.mmapAnon(CHURN_PAGES * (long) PAGE);

    for (Writer w : writers) {
      SplittableRandom rnd = new SplittableRandom(seed * 31 + w.id);
      sched.kthreadRun(
          "dio-" + w.id,
          () -> {
            for (int i = 0; i < OPS; i++) {
              int op = rnd.nextInt(8);
              if (op == 0) {
                trace.add("op " + flush(tag, dev, sched, w));
              } else if (op == 1) {
                trace.add("op " + verifyRange(tag, dio, dev, w, rnd));
              } else {
                trace.add("op " + writeAndReadBack(tag, dio, dev, w, rnd));
              }
              sched.condResched();
            }
            // end with a flush and a write after it, which a power cut may or may not keep
            trace.add("op " + flush(tag, dev, sched, w));
            trace.add("op " + writeAndReadBack(tag, dio, dev, w, rnd));
          });
    }
    SplittableRandom churnRnd = new SplittableRandom(seed * 31 + WRITERS);
    sched.kthreadRun(
        "churn",
        () -> {
          for (int i = 0; i < CHURN_OPS; i++) {
            trace.add("op churn " + churnStep(churnRnd, vm, churn, churnBuf, writers));
            sched.condResched();
          }
        });
    sched.runUntilIdle();

    // the device holds exactly what each writer wrote to its region
    long hash = 17;
    for (Writer w : writers) {
      byte[] now = peek(dev, w.base, REGION_SECTORS);
      assertBytes(tag + ": device region of writer " + w.id, w.model, 0, now, 0, now.length);
      hash = hash * 31 + Arrays.hashCode(now);
      if (w.scratchSet) {
        assertEquals(
            w.scratch,
            w.task.loadLong(w.dst),
            tag + ": writer " + w.id + " lost a store next to its direct I/O");
      }
    }

    if (fileDisk != null) {
      powerCutKeepsFlushedWrites(tag, seed, sched, fileDisk, dio, writers, trace);
    }

    for (Writer w : writers) {
      w.task.exit();
    }
    churn.exit();
    vm.lru().lruAddDrainAll();
    long acquired = mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED);
    assertTrue(acquired > 0, tag + ": direct I/O pinned nothing");
    assertEquals(
        acquired,
        mem.vmstat().get(VmItem.NR_FOLL_PIN_RELEASED),
        tag + ": nr_foll_pin_acquired != nr_foll_pin_released");
    List<String> problems = mem.debugVm().checkNoPinsHeld();
    assertTrue(problems.isEmpty(), tag + ": CONFIG_DEBUG_VM: " + problems);
    assertFalse(mem.health().isDead(), tag + ": kernel BUG: " + mem.health().bugMessage());
    assertEquals(0, mem.health().badPageCount(), tag + ": bad pages " + mem.health().warnings());
    assertEquals(0, mem.health().warnCount(), tag + ": WARNs " + mem.health().warnings());
    trace.add("pins " + acquired + " redirtied " + dio.deferredRedirty());
    return new Outcome(trace, hash);
  }

  // ---- the writers ------------------------------------------------------------------------------

  /**
   * Writes random data of a random size (sometimes several bios) to a random place of the writer's
   * region from a random sector offset in its buffer, then reads it back into the other buffer.
   */
  private static String writeAndReadBack(
      String tag, DirectIo dio, BlockDevice dev, Writer w, SplittableRandom rnd) {
    int sectors =
        rnd.nextInt(4) == 0
            ? (DirectIo.MAX_BIO_PAGES - 4) * SECTORS_PER_PAGE
                + rnd.nextInt((MAX_IO_PAGES - DirectIo.MAX_BIO_PAGES + 4) * SECTORS_PER_PAGE - 6)
            : 1 + rnd.nextInt(16 * SECTORS_PER_PAGE);
    int at = rnd.nextInt(REGION_SECTORS - sectors + 1);
    int len = sectors * SECTOR;
    long from = w.src + rnd.nextInt(SECTORS_PER_PAGE) * (long) SECTOR;
    long into = w.dst + (1 + rnd.nextInt(SECTORS_PER_PAGE - 1)) * (long) SECTOR;
    byte[] data = new byte[len];
    rnd.nextBytes(data);
    w.task.store(from, data, 0, len);
    long pos = (w.base + at) * SECTOR;
    assertEquals(len, dio.write(w.task, dev, from, len, pos), tag + ": short write");
    System.arraycopy(data, 0, w.model, at * SECTOR, len);
    if (w.durable != null) {
      w.afterFlush.add(new long[] {at, sectors});
      w.afterFlushData.add(data);
    }
    assertEquals(len, dio.read(w.task, dev, into, len, pos), tag + ": short read");
    byte[] stored = new byte[len];
    w.task.load(from, stored, 0, len);
    byte[] back = new byte[len];
    w.task.load(into, back, 0, len);
    String what =
        tag + ": writer " + w.id + " read back its write of " + sectors + " sectors at " + pos;
    assertBytes(what + " (against its data)", data, 0, stored, 0, len);
    assertBytes(what, stored, 0, back, 0, len);
    return "w" + w.id + " write " + at + "+" + sectors;
  }

  /** Reads a random range of the region and checks it against everything written there. */
  private static String verifyRange(
      String tag, DirectIo dio, BlockDevice dev, Writer w, SplittableRandom rnd) {
    int sectors = 1 + rnd.nextInt(MAX_IO_PAGES * SECTORS_PER_PAGE - SECTORS_PER_PAGE);
    int at = rnd.nextInt(REGION_SECTORS - sectors + 1);
    int len = sectors * SECTOR;
    long into = w.dst + (1 + rnd.nextInt(SECTORS_PER_PAGE - 1)) * (long) SECTOR;
    long pos = (w.base + at) * SECTOR;
    assertEquals(len, dio.read(w.task, dev, into, len, pos), tag + ": short read");
    byte[] back = new byte[len];
    w.task.load(into, back, 0, len);
    assertBytes(
        tag + ": writer " + w.id + " read " + sectors + " sectors at " + pos,
        w.model,
        at * SECTOR,
        back,
        0,
        len);
    return "w" + w.id + " read " + at + "+" + sectors;
  }

  /** {@code blkdev_issue_flush()}: every write this writer completed is durable afterwards. */
  private static String flush(String tag, BlockDevice dev, SimScheduler sched, Writer w) {
    Completion done = sched.newCompletion();
    int[] status = {1};
    dev.submitBio(
        new Bio(BioOp.FLUSH, 0, 0)
            .onEnd(
                b -> {
                  status[0] = b.status();
                  done.complete();
                }));
    done.waitForCompletion();
    assertEquals(0, status[0], tag + ": writer " + w.id + " flush failed");
    w.durable = w.model.clone();
    w.afterFlush.clear();
    w.afterFlushData.clear();
    return "w" + w.id + " flush";
  }

  // ---- the churn --------------------------------------------------------------------------------

  /**
   * One step of memory churn meeting the writers' pins: fork a writer and store into its page
   * (copy-on-write either side), reclaim, migrate a writer's page, fault, zap and remap.
   */
  private static String churnStep(
      SplittableRandom rnd, VirtualMemory vm, Task churn, long churnBuf, List<Writer> writers) {
    Writer w = writers.get(rnd.nextInt(writers.size()));
    int op = rnd.nextInt(7);
    try {
      switch (op) {
        case 0 -> {
          // fork while a direct I/O may be in flight, then the parent stores next to it: a pinned
          // page must stay the parent's, or the device's data lands in the child's copy
          int pinned = pinnedPages(vm, w);
          Task child = w.task.fork("fork-" + w.id);
          try {
            child.storeLong(w.src + rnd.nextInt(BUF_PAGES) * (long) PAGE, rnd.nextLong());
            child.storeLong(w.dst + rnd.nextInt(BUF_PAGES) * (long) PAGE, rnd.nextLong());
            w.scratch = rnd.nextLong();
            w.scratchSet = true;
            w.task.storeLong(w.dst, w.scratch);
          } finally {
            child.exit();
          }
          return "fork w" + w.id + " with " + pinned + " pages under direct I/O";
        }
        case 1 -> {
          w.scratch = rnd.nextLong();
          w.scratchSet = true;
          w.task.storeLong(w.dst, w.scratch);
        }
        case 2 -> {
          for (int i = 0; i < 8; i++) {
            churn.storeLong(churnBuf + rnd.nextInt(CHURN_PAGES) * (long) PAGE, rnd.nextLong());
          }
        }
        case 3 -> {
          long addr = churnBuf + rnd.nextInt(CHURN_PAGES - 4) * (long) PAGE;
          if (rnd.nextBoolean()) {
            churn.madvise(addr, 4L * PAGE, Mman.MADV_DONTNEED);
          } else {
            churn.munmap(addr, 4L * PAGE);
            churn.mmap(
                addr,
                4L * PAGE,
                Mman.PROT_READ | Mman.PROT_WRITE,
                Mman.MAP_PRIVATE | Mman.MAP_ANONYMOUS | Mman.MAP_FIXED,
                null,
                0);
          }
        }
        case 4 -> {
          return "reclaim " + vm.vmscan().shrinkNode(16).reclaimed();
        }
        default -> {
          long addr = (rnd.nextBoolean() ? w.src : w.dst) + rnd.nextInt(BUF_PAGES) * (long) PAGE;
          long pte = w.task.mm().pte(addr);
          if (Pte.present(pte) && !Pte.special(pte)) {
            return "migrate " + vm.migrateFolio(Pte.pfn(pte), rnd.nextBoolean());
          }
          return "migrate none";
        }
      }
      return "op" + op + " w" + w.id;
    } catch (KernelException e) {
      if (e.errno() != Errno.ENOMEM) {
        throw e;
      }
      return "op" + op + " " + e.errno();
    }
  }

  /** Pages of the writer's buffers pinned now, by a direct I/O in flight. */
  private static int pinnedPages(VirtualMemory vm, Writer w) {
    int n = 0;
    for (long buf : new long[] {w.src, w.dst}) {
      for (int p = 0; p < BUF_PAGES; p++) {
        long pte = w.task.mm().pte(buf + (long) p * PAGE);
        if (Pte.present(pte) && !Pte.special(pte) && vm.gup().folioMaybeDmaPinned(Pte.pfn(pte))) {
          n++;
        }
      }
    }
    return n;
  }

  // ---- power cut --------------------------------------------------------------------------------

  /**
   * Cuts the power (unflushed sectors torn at random) and reopens: every sector a writer did not
   * write after its last flush must hold what it held at that flush; a sector written since holds
   * the flushed value or one of the later ones. Then reads every region back through the reopened
   * disk.
   */
  private static void powerCutKeepsFlushedWrites(
      String tag,
      long seed,
      SimScheduler sched,
      FileDisk disk,
      DirectIo dio,
      List<Writer> writers,
      List<String> trace) {
    FileDisk.PowerCut cut = disk.powerCut(FileDisk.TearMode.TORN_SECTORS, seed);
    assertEquals(0, cut.biosFailed(), tag + ": bios still queued at the power cut: " + cut);
    disk.reopen();
    trace.add("cut " + cut);
    for (Writer w : writers) {
      assertNotNull(w.durable, tag + ": writer " + w.id + " never flushed");
      byte[] after = disk.peek(w.base, REGION_SECTORS);
      for (int s = 0; s < REGION_SECTORS; s++) {
        int off = s * SECTOR;
        if (Arrays.equals(after, off, off + SECTOR, w.durable, off, off + SECTOR)) {
          continue;
        }
        boolean later = false;
        for (int i = 0; i < w.afterFlush.size() && !later; i++) {
          long[] r = w.afterFlush.get(i);
          if (s >= r[0] && s < r[0] + r[1]) {
            int in = (int) (s - r[0]) * SECTOR;
            later =
                Arrays.equals(after, off, off + SECTOR, w.afterFlushData.get(i), in, in + SECTOR);
          }
        }
        assertTrue(
            later,
            tag
                + ": after the power cut, sector "
                + (w.base + s)
                + " of writer "
                + w.id
                + " holds neither what its flush made durable nor a later write"
                + (w.afterFlush.isEmpty() ? " (none after the flush)" : "")
                + "; "
                + cut);
      }
      System.arraycopy(after, 0, w.model, 0, after.length); // what the disk now holds
    }
    // the reopened disk serves direct I/O again, still completing in the workqueue
    sched.kthreadRun(
        "verify",
        () -> {
          for (Writer w : writers) {
            for (int at = 0; at < REGION_SECTORS; at += 64 * SECTORS_PER_PAGE) {
              int sectors = Math.min(64 * SECTORS_PER_PAGE, REGION_SECTORS - at);
              long into = w.dst + SECTOR;
              long pos = (w.base + at) * SECTOR;
              int len = sectors * SECTOR;
              assertEquals(len, dio.read(w.task, disk, into, len, pos), tag + ": short read");
              byte[] back = new byte[len];
              w.task.load(into, back, 0, len);
              assertBytes(
                  tag + ": writer " + w.id + " read after reopen at " + pos,
                  w.model,
                  at * SECTOR,
                  back,
                  0,
                  len);
            }
          }
        });
    sched.runUntilIdle();
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private static byte[] peek(BlockDevice dev, long sector, int count) {
    return dev instanceof RamDisk r ? r.peek(sector, count) : ((FileDisk) dev).peek(sector, count);
  }

  private static void assertBytes(
      String what, byte[] want, int wantOff, byte[] got, int gotOff, int len) {
    if (Arrays.equals(want, wantOff, wantOff + len, got, gotOff, gotOff + len)) {
      return;
    }
    int i =
        Arrays.mismatch(
            Arrays.copyOfRange(want, wantOff, wantOff + len),
            Arrays.copyOfRange(got, gotOff, gotOff + len));
    int bad = 0;
    for (int j = i; j < len; j++) {
      if (want[wantOff + j] != got[gotOff + j]) {
        bad++;
      }
    }
    fail(
        what
            + ": first wrong byte at offset "
            + i
            + " (sector "
            + i / SECTOR
            + "), want "
            + want[wantOff + i]
            + " got "
            + got[gotOff + i]
            + ", "
            + bad
            + " of "
            + len
            + " bytes wrong");
  }
}
