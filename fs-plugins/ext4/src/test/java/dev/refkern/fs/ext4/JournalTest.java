package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.fs.ext4.Ext4Machine.pattern;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.Bio;
import dev.refkern.block.BioBatch;
import dev.refkern.block.BioOp;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.block.ForwardingBlockDevice;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Mount;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.fs.ext4.internal.Disk;
import dev.refkern.fs.ext4.internal.Journal;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * ext4's jbd2-like journal against power cuts: replay of what fsync committed, no replay of a torn
 * or lost commit, an idempotent replay, data=ordered and data=journal (with a pinned folio), and a
 * clean kernel and a clean fsck after each.
 */
class JournalTest {
  private static final long SECTORS = (4 << 20) / 512; // 1024 blocks: a 64-block journal
  private static final int BLOCK = 4096;
  private static final int COMMIT_FLAGS = Bio.REQ_PREFLUSH | Bio.REQ_FUA;

  @TempDir Path dir;
  private final List<Machine> machines = new ArrayList<>();

  /**
   * The image as a block device whose next bio matching {@code trigger} goes to {@code action}
   * instead (a power cut at that exact write).
   */
  private static final class Tap extends ForwardingBlockDevice {
    final FileDisk disk;
    Predicate<Bio> trigger;
    Consumer<Bio> action;

    Tap(FileDisk disk) {
      super(disk);
      this.disk = disk;
    }

    @Override
    public void submitBio(Bio bio) {
      Predicate<Bio> t = trigger;
      if (t != null && t.test(bio)) {
        trigger = null;
        action.accept(bio);
        return;
      }
      disk.submitBio(bio);
    }
  }

  /** One booted kernel with a VFS and the image as {@code /dev/sda}. */
  private final class Machine {
    final VirtualMemory vm;
    final PhysicalMemory mem;
    final long freeAtStart;
    final FileDisk disk;
    final Tap tap;
    final Vfs vfs;
    final Task task;
    final long buf;
    boolean down;

    Machine(boolean create) {
      vm =
          VirtualMemory.boot(
              BootParams.parse("mem=64M"), dir.resolve("k" + machines.size()), false);
      mem = vm.physicalMemory();
      freeAtStart = free();
      disk =
          create
              ? FileDisk.create(mem, image(), SECTORS, DiskOptions.defaults())
              : FileDisk.open(mem, image(), DiskOptions.defaults());
      tap = new Tap(disk);
      vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/sda", tap);
      task = vm.createTask("t");
      buf = task.mmapAnon(1 << 20);
      machines.add(this);
    }

    long free() {
      vm.lru().lruAddDrainAll();
      return mem.allocator().nrFreePages();
    }

    void mount(String options) {
      vfs.mount("ext4", "/dev/sda", "/mnt", options);
    }

    Inode root() {
      for (Mount m : vfs.mounts()) {
        if (m.path().equals("/mnt")) {
          return m.sb().root();
        }
      }
      throw new AssertionError("not mounted");
    }

    Map<String, Long> stats() {
      for (Mount m : vfs.mounts()) {
        if (m.path().equals("/mnt")) {
          return ((Ext4) m.sb().type()).journalStats(m.sb());
        }
      }
      throw new AssertionError("not mounted");
    }

    /** Creates {@code path} with {@code data}, fsyncs and closes it. */
    void put(String path, byte[] data) {
      int fd = vfs.open(task, path, O_RDWR | O_CREAT, 0640);
      assertEquals(data.length, write(fd, data, 0));
      vfs.fsync(task, fd);
      vfs.close(task, fd);
    }

    /** Creates {@code path} with {@code data} and closes it, no fsync. */
    void create(String path, byte[] data) {
      int fd = vfs.open(task, path, O_RDWR | O_CREAT, 0640);
      assertEquals(data.length, write(fd, data, 0));
      vfs.close(task, fd);
    }

    long write(int fd, byte[] data, long off) {
      task.store(buf, data, 0, data.length);
      return vfs.pwrite(task, fd, buf, data.length, off);
    }

    byte[] read(String path) {
      int fd = vfs.open(task, path, O_RDONLY, 0);
      int len = (int) vfs.fstat(task, fd).size();
      long n = vfs.pread(task, fd, buf, len, 0);
      byte[] b = new byte[(int) n];
      task.load(buf, b, 0, b.length);
      vfs.close(task, fd);
      return b;
    }

    /**
     * Arms a power cut at the next commit block ({@code REQ_PREFLUSH|REQ_FUA} write): with {@code
     * preflush} the earlier journal writes are made durable first and only the commit block is
     * torn; without, every write since the last flush is torn at sector granularity.
     */
    void cutAtCommit(boolean preflush, long seed) {
      tap.action =
          bio -> {
            if (preflush) {
              assertEquals(
                  0, BioBatch.submitBioWait(mem.scheduler(), disk, new Bio(BioOp.FLUSH, 0, 0)));
            }
            Bio cached = new Bio(BioOp.WRITE, bio.sector(), 0, bio.vecCount());
            for (int i = 0; i < bio.vecCount(); i++) {
              cached.addPage(bio.vecPfn(i), bio.vecOffset(i), bio.vecLen(i));
            }
            assertEquals(0, BioBatch.submitBioWait(mem.scheduler(), disk, cached));
            disk.powerCut(FileDisk.TearMode.TORN_SECTORS, seed);
            bio.setStatus(-Errno.EIO.number());
            bio.endio();
          };
      tap.trigger = b -> b.op() == BioOp.WRITE && (b.flags() & COMMIT_FLAGS) == COMMIT_FLAGS;
    }

    void shutdown() {
      if (down) {
        return;
      }
      down = true;
      vfs.shutdown();
      task.exit();
      disk.close();
      List<String> pins = mem.debugVm().checkNoPinsHeld();
      long free = free();
      mem.close();
      assertTrue(pins.isEmpty(), pins.toString());
      assertEquals(freeAtStart, free, "pages leaked");
    }
  }

  private Path image() {
    return dir.resolve("ext4.img");
  }

  @AfterEach
  void cleanKernels() {
    for (Machine m : machines) {
      m.shutdown();
    }
  }

  private static void assertErrno(Errno e, Executable call) {
    KernelException ex = assertThrows(KernelException.class, call);
    assertEquals(e, ex.errno(), ex.getMessage());
  }

  private List<String> fsck() {
    return new Ext4().check(image().toString());
  }

  @Test
  void aCutAfterFsyncBeforeCheckpointIsReplayedAtMount() {
    Machine a = new Machine(true);
    a.mount("mkfs");
    a.vfs.mkdir("/mnt/d", 0755);
    byte[] f = pattern(3 * BLOCK + 5, 1);
    byte[] g = pattern(20 * BLOCK, 2); // an indirect block too
    a.put("/mnt/d/f", f);
    a.put("/mnt/g", g);
    assertTrue(a.stats().get("commits") >= 2, a.stats().toString());
    a.disk.powerCut(); // the checkpoint writes in place were still in the drive's cache
    a.shutdown();
    assertTrue(fsck().contains("journal needs recovery"), fsck().toString());

    Machine b = new Machine(false);
    b.mount("");
    assertTrue(b.stats().get("transactions_replayed") >= 1, b.stats().toString());
    assertArrayEquals(f, b.read("/mnt/d/f"));
    assertArrayEquals(g, b.read("/mnt/g"));
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(List.of(), fsck());
  }

  @Test
  void aReadOnlyMountReplaysTheJournalLikeExt4() {
    Machine a = new Machine(true);
    a.mount("mkfs");
    a.put("/mnt/f", pattern(100, 3));
    a.disk.powerCut();
    a.shutdown();

    Machine b = new Machine(false);
    b.mount("ro");
    assertEquals(1, b.stats().get("transactions_replayed"));
    assertArrayEquals(pattern(100, 3), b.read("/mnt/f"));
    assertErrno(Errno.EROFS, () -> b.vfs.mkdir("/mnt/x", 0755));
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(List.of(), fsck());
  }

  /** A seed for which TORN_SECTORS keeps the commit block's first sector and loses its last. */
  private static long headKeptTailLost() {
    for (long seed = 0; ; seed++) {
      Random r = new Random(seed);
      boolean[] s = new boolean[8];
      for (int i = 0; i < 8; i++) {
        s[i] = r.nextBoolean();
      }
      if (s[0] && !s[7]) {
        return seed;
      }
    }
  }

  @Test
  void aTornCommitBlockIsNotReplayed() {
    Machine a = new Machine(true);
    a.mount("mkfs");
    byte[] keep = pattern(2 * BLOCK, 4);
    a.put("/mnt/keep", keep);
    long seed = headKeptTailLost();
    a.cutAtCommit(true, seed);
    int fd = a.vfs.open(a.task, "/mnt/new", O_RDWR | O_CREAT, 0600);
    a.write(fd, pattern(BLOCK, 5), 0);
    assertErrno(Errno.EIO, () -> a.vfs.fsync(a.task, fd));
    assertEquals(1, a.disk.writesTornAtPowerCut(), "the commit block was torn");
    a.shutdown();

    Machine b = new Machine(false);
    b.mount("");
    assertEquals(1, b.stats().get("transactions_replayed"), "keep's, not new's");
    assertEquals(List.of("keep"), b.vfs.readdir("/mnt"));
    assertArrayEquals(keep, b.read("/mnt/keep"));
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(List.of(), fsck());
  }

  @Test
  void aCommitTornAnywhereReplaysAllOrNothingOfIt() {
    byte[] keep = pattern(2 * BLOCK, 6);
    byte[] more = pattern(5 * BLOCK, 7);
    int replayedNew = 0;
    for (long seed = 1; seed <= 24; seed++) {
      Machine a = new Machine(true);
      a.mount("mkfs");
      a.put("/mnt/keep", keep);
      a.vfs.sync(); // checkpointed: only the next commit's writes are in the cache
      a.cutAtCommit(false, seed); // descriptor, copies and commit block torn at random
      int fd = a.vfs.open(a.task, "/mnt/new", O_RDWR | O_CREAT, 0600);
      a.write(fd, more, 0);
      assertErrno(Errno.EIO, () -> a.vfs.fsync(a.task, fd));
      a.shutdown();

      Machine b = new Machine(false);
      b.mount("");
      List<String> names = b.vfs.readdir("/mnt");
      assertArrayEquals(keep, b.read("/mnt/keep"), "seed " + seed);
      if (names.contains("new")) {
        assertArrayEquals(more, b.read("/mnt/new"), "seed " + seed + ": all of it or nothing");
        replayedNew++;
      } else {
        assertEquals(List.of("keep"), names, "seed " + seed);
      }
      b.vfs.umount("/mnt");
      b.shutdown();
      assertEquals(List.of(), fsck(), "seed " + seed);
    }
    assertTrue(replayedNew < 24, "some cut must lose the commit: " + replayedNew);
  }

  @Test
  void aReplayCutBeforeTheJournalIsResetReplaysAgainTheSame() throws IOException {
    Machine a = new Machine(true);
    a.mount("mkfs");
    byte[] f = pattern(7 * BLOCK, 8);
    a.put("/mnt/f", f);
    int fd = a.vfs.open(a.task, "/mnt/f", O_RDWR, 0);
    a.write(fd, pattern(BLOCK, 10), 7 * BLOCK); // the same inode, grown, in a later transaction
    a.vfs.fsync(a.task, fd); // (a rewrite in place may change no metadata: nothing to commit)
    a.vfs.close(a.task, fd);
    f = java.util.Arrays.copyOf(f, 8 * BLOCK);
    System.arraycopy(pattern(BLOCK, 10), 0, f, 7 * BLOCK, BLOCK);
    a.vfs.mkdir("/mnt/d", 0755);
    a.put("/mnt/d/g", pattern(100, 9)); // last: its checkpoint writes are all in the cache
    a.disk.powerCut(FileDisk.TearMode.TORN_SECTORS, 3); // cut during checkpoint
    a.shutdown();
    Path dirty = dir.resolve("dirty.img");
    Files.copy(image(), dirty);

    Machine b = new Machine(false); // recovery replays; the power goes at its flush
    b.tap.action =
        bio -> {
          b.disk.powerCut();
          bio.setStatus(-Errno.EIO.number());
          bio.endio();
        };
    b.tap.trigger = bio -> bio.op() == BioOp.FLUSH;
    assertErrno(Errno.EIO, () -> b.mount(""));
    b.shutdown();
    assertTrue(fsck().contains("journal needs recovery"), fsck().toString());

    for (int round = 0; round < 2; round++) {
      Machine c = new Machine(false);
      c.mount("");
      assertEquals(3, c.stats().get("transactions_replayed"));
      assertArrayEquals(f, c.read("/mnt/f"));
      assertArrayEquals(pattern(100, 9), c.read("/mnt/d/g"));
      c.disk.powerCut(); // nothing more: the replay reset the journal durably
      c.shutdown();
      assertEquals(List.of(), fsck(), "round " + round);
      Files.copy(dirty, image(), StandardCopyOption.REPLACE_EXISTING); // the other path: once
    }
  }

  @Test
  void dataOrderedWritesTheDataOfEveryInodeAllocatedInTheTransactionBeforeItsCommit() {
    Machine a = new Machine(true);
    a.mount("mkfs");
    byte[] y = pattern(6 * BLOCK, 11);
    a.create("/mnt/y", y); // delayed allocation: 6 blocks reserved, none allocated
    // the flusher writes y's first page: writeback maps the whole delayed run as one extent in the
    // running transaction (mpage_map_and_submit_extent()) but writes one block of it
    FileOperations.fileWriteAndWaitRange(a.root().lookup("y"), 0, BLOCK - 1);
    a.put("/mnt/x", pattern(10, 12)); // its commit names y's extent too
    a.disk.powerCut();
    a.shutdown();

    Machine b = new Machine(false);
    b.mount("");
    assertEquals(List.of("x", "y"), b.vfs.readdir("/mnt"));
    assertArrayEquals(y, b.read("/mnt/y"), "a committed block pointer never exposes stale blocks");
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(List.of(), fsck());
  }

  @Test
  void dataJournalJournalsAPinnedFolioAndItSurvivesACut() {
    Machine a = new Machine(true);
    a.mount("mkfs,data=journal,pinned_writeback=ignore");
    a.put("/mnt/p", pattern(BLOCK, 13));
    int fd = a.vfs.open(a.task, "/mnt/p", O_RDWR, 0);
    long map =
        a.vfs.mmap(a.task, 0, BLOCK, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, fd, 0);
    long[] pages = new long[1];
    assertEquals(1, a.vm.gup().pinUserPages(a.task, map, 1, Foll.FOLL_WRITE, pages));
    byte[] dma = pattern(BLOCK, 14);
    a.task.store(map, dma, 0, BLOCK); // what the device wrote into the pinned page
    a.vfs.fsync(a.task, fd); // writeback journals the pinned folio; the commit logs it
    assertEquals(1, a.stats().get("pinned_folios_journalled"), a.stats().toString());
    a.disk.powerCut(); // before any checkpoint reached the media
    a.vm.gup().unpinUserPages(pages, 1);
    a.task.munmap(map, BLOCK);
    a.vfs.close(a.task, fd);
    a.shutdown();

    Machine b = new Machine(false);
    b.mount("data=journal");
    assertArrayEquals(dma, b.read("/mnt/p"));
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(List.of(), fsck());
  }

  /**
   * A log filled to its last block and then checkpointed leaves a valid journal superblock ({@code
   * s_start} inside the area: the log restarts at its first block) that replays what comes next.
   */
  @Test
  void aLogFilledToItsLastBlockRestartsAtItsFirst() {
    Machine a = new Machine(true);
    MetaIo io = new MetaIo(a.mem, a.disk, BLOCK, "ext4");
    int len = 16; // blocks 100..115: 13 blocks + a descriptor + a commit fill blocks 1..15
    Journal.format(io, 100, len);
    io.flush(); // as mkfs
    Journal j = Journal.load(io, "sda", 100, len, 1024, Journal.DataMode.ORDERED);
    for (int b = 0; b < 13; b++) {
      j.dirtyMetadata(200 + b, pattern(BLOCK, b));
    }
    j.commit();
    j.checkpoint(); // the tail catches up with a head at the end of the area
    a.disk.powerCut();
    a.disk.reopen();

    Journal r = Journal.load(io, "sda", 100, len, 1024, Journal.DataMode.ORDERED);
    assertEquals(0, r.stats().get("transactions_replayed"));
    r.dirtyMetadata(300, pattern(BLOCK, 40));
    r.commit();
    a.disk.powerCut(); // the in-place write of block 300 was not flushed
    a.disk.reopen();
    r = Journal.load(io, "sda", 100, len, 1024, Journal.DataMode.ORDERED);
    assertEquals(1, r.stats().get("transactions_replayed"));
    assertArrayEquals(pattern(BLOCK, 40), io.read(300));
    assertArrayEquals(pattern(BLOCK, 12), io.read(212));
  }

  /**
   * A transaction is atomic: metadata that does not fit the log is refused ({@code ENOSPC}, as jbd2
   * refuses a handle wanting more credits than a transaction may hold) and the journal aborted,
   * instead of being committed in pieces a crash could separate.
   */
  @Test
  void metadataLargerThanTheLogIsRefusedNotSplit() {
    Machine a = new Machine(true);
    MetaIo io = new MetaIo(a.mem, a.disk, BLOCK, "ext4");
    int len = 16; // at most 13 blocks a transaction
    Journal.format(io, 100, len);
    io.flush(); // as mkfs
    Journal j = Journal.load(io, "sda", 100, len, 1024, Journal.DataMode.ORDERED);
    for (int b = 0; b < 20; b++) {
      j.dirtyMetadata(200 + b, pattern(BLOCK, b));
    }
    assertErrno(Errno.ENOSPC, j::commit);
    assertErrno(Errno.EROFS, j::commit);
    j.destroy();
    a.disk.powerCut();
    a.disk.reopen();
    Journal r = Journal.load(io, "sda", 100, len, 1024, Journal.DataMode.ORDERED);
    assertEquals(0, r.stats().get("transactions_replayed"));
    for (int b = 0; b < 20; b++) {
      assertArrayEquals(new byte[BLOCK], io.read(200 + b), "block " + (200 + b));
    }
  }

  /**
   * {@code data=journal} data past what one transaction holds goes first, in transactions of its
   * own; the metadata commits whole with the rest, and everything replays.
   */
  @Test
  void journalledDataLargerThanTheLogIsCommittedBeforeTheMetadata() {
    Machine a = new Machine(true);
    MetaIo io = new MetaIo(a.mem, a.disk, BLOCK, "ext4");
    int len = 16;
    Journal.format(io, 100, len);
    io.flush(); // as mkfs
    Journal j = Journal.load(io, "sda", 100, len, 1024, Journal.DataMode.JOURNAL);
    for (int b = 0; b < 5; b++) {
      j.dirtyMetadata(300 + b, pattern(BLOCK, 50 + b));
    }
    for (int b = 0; b < 20; b++) {
      j.dirtyData(200 + b, pattern(BLOCK, b), false);
    }
    j.commit();
    assertEquals(2, j.stats().get("commits"));
    a.disk.powerCut();
    a.disk.reopen();
    Journal.load(io, "sda", 100, len, 1024, Journal.DataMode.JOURNAL); // replays the rest
    for (int b = 0; b < 20; b++) {
      assertArrayEquals(pattern(BLOCK, b), io.read(200 + b));
    }
    for (int b = 0; b < 5; b++) {
      assertArrayEquals(pattern(BLOCK, 50 + b), io.read(300 + b));
    }
  }

  /**
   * A block freed in the running transaction is not reused before that transaction commits ({@code
   * ext4_mb_free_metadata()}): a crash before the commit leaves the old owner mapping it, and it
   * must still read its own data, not another file's.
   */
  @Test
  void aBlockFreedInTheRunningTransactionIsNotReusedBeforeItCommits() {
    Machine a = new Machine(true);
    a.mount("mkfs");
    byte[] old = pattern(2 * BLOCK, 21);
    a.put("/mnt/a", old);
    a.vfs.umount("/mnt");
    a.mount(""); // the allocator's goal starts again at block 0: a's blocks are the first free
    int fd = a.vfs.open(a.task, "/mnt/a", O_RDWR, 0);
    a.vfs.ftruncate(a.task, fd, 0); // frees a's blocks in the running transaction
    a.vfs.close(a.task, fd);
    a.create("/mnt/b", pattern(2 * BLOCK, 22));
    FileOperations.fileWriteAndWaitRange(a.root().lookup("b"), 0, Long.MAX_VALUE); // the flusher
    assertEquals(0, BioBatch.submitBioWait(a.mem.scheduler(), a.disk, new Bio(BioOp.FLUSH, 0, 0)));
    a.disk.powerCut(); // the truncate never committed
    a.shutdown();

    Machine b = new Machine(false);
    b.mount("");
    assertArrayEquals(old, b.read("/mnt/a"), "a's committed blocks hold a's data");
    b.vfs.umount("/mnt");
    b.shutdown();
    assertEquals(List.of(), fsck());
  }

  @Test
  void dataModes() {
    Machine a = new Machine(true);
    assertErrno(Errno.EINVAL, () -> a.mount("mkfs,data=bogus"));
    a.mount("mkfs,data=writeback");
    a.put("/mnt/w", pattern(10, 15));
    a.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void aSuperblockTornAtASectorIsTheOldOrTheNewOneNeverAChecksumError() {
    Disk.Geometry geo = Disk.plan(1024, 32768, 256);
    byte[] before = Disk.encodeSuper(geo, 900, 200);
    byte[] after = Disk.encodeSuper(geo, 850, 190);
    for (int keep = 1; keep < Disk.BLOCK / Bio.SECTOR_SIZE; keep++) { // a prefix of sectors landed
      byte[] torn = before.clone();
      System.arraycopy(after, 0, torn, 0, keep * Bio.SECTOR_SIZE);
      Disk.Super s = Disk.decodeSuper(torn, "/dev/sda", 1024);
      assertEquals(850, s.freeBlocks(), keep + " sectors of the new superblock");
    }
  }
}
