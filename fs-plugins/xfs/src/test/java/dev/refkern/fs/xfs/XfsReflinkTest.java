package dev.refkern.fs.xfs;

import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.mm.vm.Foll.FOLL_LONGTERM;
import static dev.refkern.mm.vm.Foll.FOLL_WRITE;
import static dev.refkern.mm.vm.Mman.MAP_SHARED;
import static dev.refkern.mm.vm.Mman.PROT_READ;
import static dev.refkern.mm.vm.Mman.PROT_WRITE;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.Falloc;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.xfs.internal.Fmt;
import dev.refkern.fs.xfs.internal.XfsMount;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Reflink on the XFS-like filesystem ({@code xfs_reflink.c}, {@code xfs_refcount.c}): clones share
 * blocks with refcounts, writes copy on write, unshare, crash recovery of COW staging extents, fsck
 * of refcounts, and a long-term pinned page of a cloned file.
 */
class XfsReflinkTest {
  private static final int B = Fmt.BLOCK;
  private static final long SECTORS = (8L << 20) / 512;

  @TempDir Path dir;
  private final List<XfsMachine> machines = new ArrayList<>();

  private XfsMachine boot(String name, long sectors) {
    return boot(name, sectors, "mem=64M");
  }

  private XfsMachine boot(String name, long sectors, String params) {
    XfsMachine m = new XfsMachine(dir.resolve(name), dir.resolve("xfs.img"), sectors, params);
    machines.add(m);
    return m;
  }

  @AfterEach
  void down() {
    for (XfsMachine m : machines) {
      m.shutdown();
    }
  }

  private List<String> fsck() {
    return new Xfs().check(dir.resolve("xfs.img").toString());
  }

  private static void clone(XfsMachine m, String src, String dst) {
    int s = m.vfs.open(m.task, src, O_RDONLY, 0);
    int d = m.vfs.open(m.task, dst, O_RDWR | O_CREAT, 0644);
    try {
      m.vfs.ficlone(m.task, s, d);
    } finally {
      m.vfs.close(m.task, d);
      m.vfs.close(m.task, s);
    }
  }

  private static void fsync(XfsMachine m, String path) {
    int fd = m.vfs.open(m.task, path, O_RDWR, 0);
    m.vfs.fsync(m.task, fd);
    m.vfs.close(m.task, fd);
  }

  private static byte[] fill(int len, char c) {
    byte[] b = new byte[len];
    Arrays.fill(b, (byte) c);
    return b;
  }

  /** Free blocks as a fresh mount sees them (nothing busy, nothing delayed). */
  private static long freeAfterRemount(XfsMachine m) {
    m.vfs.umount("/mnt");
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    return m.counts().freeBlocks();
  }

  @Test
  void aWriteToACloneCopiesOnWriteAndLeavesTheOtherFileUnchanged() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    byte[] a = XfsMachine.pattern(3 * B, 1);
    m.put("/mnt/a", a);
    clone(m, "/mnt/a", "/mnt/b");
    Inode ia = m.inode("/mnt/a");
    Inode ib = m.inode("/mnt/b");
    for (int i = 0; i < 3; i++) {
      assertEquals(m.xfs().bmap(ia, i), m.xfs().bmap(ib, i), "block " + i + " shared");
      assertEquals(2, m.xfs().refcount(ia, i));
    }
    assertEquals(1, m.xfs().sharedRecords(m.mount().sb()), "one record for the shared extent");
    assertEquals(3L * B, ib.size());

    int fd = m.vfs.open(m.task, "/mnt/b", O_RDWR, 0);
    m.write(fd, fill(100, 'x'), B + 10); // a partial block: read-modify-write of the old data
    assertEquals(1, m.xfs().cowBlocks(ib), "reserved in b's COW fork");
    m.vfs.fsync(m.task, fd);
    m.vfs.close(m.task, fd);
    assertEquals(0, m.xfs().cowBlocks(ib), "remapped at I/O completion");
    assertNotEquals(m.xfs().bmap(ia, 1), m.xfs().bmap(ib, 1));
    assertEquals(1, m.xfs().refcount(ia, 1));
    assertEquals(2, m.xfs().refcount(ia, 0));
    assertEquals(2, m.xfs().refcount(ia, 2));
    assertEquals(2, m.xfs().sharedRecords(m.mount().sb()), "the record split around block 1");
    byte[] want = a.clone();
    System.arraycopy(fill(100, 'x'), 0, want, B + 10, 100);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(a, m.read("/mnt/a"), "the source is unchanged");
    assertArrayEquals(want, m.read("/mnt/b"));
  }

  @Test
  void aDirectWriteToASharedBlockCopiesOnWriteToo() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    byte[] a = XfsMachine.pattern(3 * B, 9);
    m.put("/mnt/a", a);
    clone(m, "/mnt/a", "/mnt/b");
    int fd = m.vfs.open(m.task, "/mnt/b", O_RDWR | O_DIRECT, 0);
    assertEquals(2 * B, m.write(fd, fill(2 * B, 'd'), B)); // xfs_reflink_allocate_cow(convert_now)
    m.vfs.fsync(m.task, fd);
    m.vfs.close(m.task, fd);
    Inode ia = m.inode("/mnt/a");
    Inode ib = m.inode("/mnt/b");
    assertEquals(2, m.xfs().refcount(ia, 0));
    assertEquals(1, m.xfs().refcount(ia, 1));
    assertNotEquals(m.xfs().bmap(ia, 2), m.xfs().bmap(ib, 2));
    assertEquals(0, m.xfs().stagingBlocks(m.mount().sb()), "remapped at dio completion");
    byte[] want = a.clone();
    System.arraycopy(fill(2 * B, 'd'), 0, want, B, 2 * B);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(a, m.read("/mnt/a"));
    assertArrayEquals(want, m.read("/mnt/b"));
  }

  @Test
  void cloneRangePartialAndToEndOfFile() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    byte[] a = XfsMachine.pattern(4 * B + 100, 2);
    byte[] b = XfsMachine.pattern(6 * B, 3);
    m.put("/mnt/a", a);
    m.put("/mnt/b", b);
    int s = m.vfs.open(m.task, "/mnt/a", O_RDONLY, 0);
    int d = m.vfs.open(m.task, "/mnt/b", O_RDWR, 0);
    assertEquals(2L * B, m.vfs.ficloneRange(m.task, s, B, 2L * B, d, 3L * B));
    KernelException inside =
        assertThrows(KernelException.class, () -> m.vfs.ficloneRange(m.task, s, 4L * B, 0, d, B));
    assertEquals(Errno.EINVAL, inside.errno(), "a partial EOF block inside the destination");
    assertEquals(B + 100L, m.vfs.ficloneRange(m.task, s, 3L * B, 0, d, 6L * B)); // to EOF
    m.vfs.fsync(m.task, d);
    m.vfs.close(m.task, d);
    m.vfs.close(m.task, s);

    byte[] want = Arrays.copyOf(b, 7 * B + 100);
    System.arraycopy(a, B, want, 3 * B, 2 * B);
    System.arraycopy(a, 3 * B, want, 6 * B, B + 100);
    assertArrayEquals(want, m.read("/mnt/b"));
    Inode ia = m.inode("/mnt/a");
    assertEquals(1, m.xfs().refcount(ia, 0));
    assertEquals(2, m.xfs().refcount(ia, 1));
    assertEquals(2, m.xfs().refcount(ia, 3));
    assertEquals(2, m.xfs().refcount(ia, 4), "the partial EOF block is shared too");
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(want, m.read("/mnt/b"));
    assertArrayEquals(a, m.read("/mnt/a"));
  }

  @Test
  void refcountsAndFreeSpaceFollowCloneCowAndUnlinkOfOneThenBoth() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    long empty = freeAfterRemount(m);
    m.put("/mnt/a", XfsMachine.pattern(8 * B, 4));
    long withA = freeAfterRemount(m);
    assertEquals(empty - 8, withA);
    clone(m, "/mnt/a", "/mnt/b");
    assertEquals(withA, freeAfterRemount(m), "a clone allocates no data block");
    assertEquals(List.of(), fsckWhileMounted(m));
    int fd = m.vfs.open(m.task, "/mnt/b", O_RDWR, 0);
    m.write(fd, fill(2 * B, 'c'), 2L * B);
    m.vfs.fsync(m.task, fd);
    m.vfs.close(m.task, fd);
    assertEquals(withA - 2, freeAfterRemount(m), "two blocks copied on write");
    assertEquals(List.of(), fsckWhileMounted(m));
    m.vfs.unlink("/mnt/a");
    assertEquals(withA, freeAfterRemount(m), "a's two own blocks freed, b keeps its eight");
    assertEquals(0, m.xfs().sharedRecords(m.mount().sb()));
    assertEquals(List.of(), fsckWhileMounted(m));
    m.vfs.unlink("/mnt/b");
    assertEquals(empty, freeAfterRemount(m), "all back");
    assertEquals(List.of(), fsckWhileMounted(m));
  }

  private List<String> fsckWhileMounted(XfsMachine m) {
    m.vfs.umount("/mnt");
    List<String> p = fsck();
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    return p;
  }

  @Test
  void reflinkZeroRefusesClonesWithEopnotsupp() throws IOException {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs,reflink=0");
    m.put("/mnt/a", XfsMachine.pattern(B, 5));
    KernelException e = assertThrows(KernelException.class, () -> clone(m, "/mnt/a", "/mnt/b"));
    assertEquals(Errno.EOPNOTSUPP, e.errno());
    m.vfs.umount("/mnt");
    try (RandomAccessFile f = new RandomAccessFile(dir.resolve("xfs.img").toFile(), "r")) {
      byte[] sb = new byte[B];
      f.readFully(sb);
      assertEquals(0, Fmt.features(sb) & Fmt.FEAT_REFLINK, "formatted without reflink");
    }
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    m.put("/mnt/a", XfsMachine.pattern(B, 5));
    m.vfs.umount("/mnt");
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "reflink=0");
    KernelException off = assertThrows(KernelException.class, () -> clone(m, "/mnt/a", "/mnt/c"));
    assertEquals(Errno.EOPNOTSUPP, off.errno(), "reflink=0 at mount");
  }

  @Test
  void unshareCopiesEverySharedBlockInTheRange() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    byte[] a = XfsMachine.pattern(4 * B, 6);
    m.put("/mnt/a", a);
    clone(m, "/mnt/a", "/mnt/b");
    long free = m.counts().freeBlocks();
    int fd = m.vfs.open(m.task, "/mnt/b", O_RDWR, 0);
    m.vfs.fallocate(
        m.task, fd, Falloc.FALLOC_FL_UNSHARE_RANGE | Falloc.FALLOC_FL_KEEP_SIZE, B, 2L * B);
    Inode ia = m.inode("/mnt/a");
    Inode ib = m.inode("/mnt/b");
    assertEquals(2, m.xfs().refcount(ia, 0));
    assertEquals(1, m.xfs().refcount(ia, 1));
    assertEquals(1, m.xfs().refcount(ib, 2));
    assertEquals(2, m.xfs().refcount(ia, 3));
    assertNotEquals(m.xfs().bmap(ia, 1), m.xfs().bmap(ib, 1));
    assertEquals(free - 2, m.counts().freeBlocks());
    m.vfs.fallocate(m.task, fd, Falloc.FALLOC_FL_UNSHARE_RANGE, 0, 4L * B);
    m.vfs.close(m.task, fd);
    assertEquals(0, m.xfs().sharedRecords(m.mount().sb()));
    assertEquals(4L * B, ib.size());
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(a, m.read("/mnt/a"));
    assertArrayEquals(a, m.read("/mnt/b"));
  }

  @Test
  void aPowerCutAfterCloneAndFsyncKeepsBothFiles() {
    XfsMachine k1 = boot("k1", SECTORS);
    k1.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    byte[] a = XfsMachine.pattern(5 * B + 17, 7);
    k1.put("/mnt/a", a);
    clone(k1, "/mnt/a", "/mnt/b");
    fsync(k1, "/mnt/b");
    k1.disk.powerCut();
    k1.shutdown();

    XfsMachine k2 = boot("k2", 0);
    k2.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(a, k2.read("/mnt/a"));
    assertArrayEquals(a, k2.read("/mnt/b"));
    assertEquals(2, k2.xfs().refcount(k2.inode("/mnt/b"), 5));
    k2.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void aPowerCutBetweenCowAllocationAndRemapLeaksNoStagingBlock() {
    XfsMachine k1 = boot("k1", SECTORS);
    k1.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    byte[] a = XfsMachine.pattern(2 * B, 8);
    k1.put("/mnt/a", a);
    clone(k1, "/mnt/a", "/mnt/b");
    fsync(k1, "/mnt/b");
    long free = k1.counts().freeBlocks() + k1.counts().busyBlocks();
    int fd = k1.vfs.open(k1.task, "/mnt/a", O_RDWR, 0);
    k1.write(fd, fill(B, 'n'), 0);
    Inode ia = k1.inode("/mnt/a");
    // writeback has started: map_blocks allocated the COW staging extent; a log force from
    // elsewhere made its record durable before the data's I/O completed
    XfsMount fs = (XfsMount) k1.mount().sb().iomapOps();
    fs.mapBlocks(ia, 0, B, new Iomap());
    assertEquals(1, k1.xfs().stagingBlocks(k1.mount().sb()));
    fs.syncFs();
    k1.disk.powerCut();
    k1.shutdown();
    List<String> before = fsck(); // the staging record is home, or still in a log to replay
    assertTrue(
        before.stream()
            .anyMatch(p -> p.contains("leftover COW staging extent") || p.contains("recovery")),
        "fsck before recovery: " + before);

    XfsMachine k2 = boot("k2", 0);
    k2.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertEquals(0, k2.xfs().stagingBlocks(k2.mount().sb()), "xfs_reflink_recover_cow()");
    assertEquals(free, k2.counts().freeBlocks(), "the staging block is free again");
    assertArrayEquals(a, k2.read("/mnt/a"), "the old content");
    assertArrayEquals(a, k2.read("/mnt/b"));
    k2.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  /**
   * The device writes a {@code FOLL_LONGTERM} pinned page of {@code a} after {@code a} was cloned:
   * no fault, so no COW reservation; writeback still must not write into the block {@code b}
   * shares. With {@code wait} the pin is taken after the clone (its write fault reserves the COW)
   * and dropped before fsync, as writeback would wait for it.
   */
  @ParameterizedTest
  @ValueSource(strings = {"bounce", "ignore", "skip", "wait"})
  void aPinnedPageOfAClonedFileIsWrittenToNewBlocks(String policy) {
    XfsMachine m = boot("k", SECTORS, "mem=64M gup.longterm_file=allow");
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs,pinned_writeback=" + policy);
    byte[] app = fill(B, 'A');
    m.put("/mnt/a", app);
    boolean wait = policy.equals("wait");
    int fd = m.vfs.open(m.task, "/mnt/a", O_RDWR, 0);
    long addr = m.vfs.mmap(m.task, 0, B, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    long[] pages = new long[1];
    if (!wait) {
      assertEquals(1, m.vm.gup().pinUserPages(m.task, addr, 1, FOLL_WRITE | FOLL_LONGTERM, pages));
      m.vfs.fsync(m.task, fd);
    }
    clone(m, "/mnt/a", "/mnt/b");
    fsync(m, "/mnt/b");
    Inode ia = m.inode("/mnt/a");
    Inode ib = m.inode("/mnt/b");
    long shared = m.xfs().bmap(ib, 0);
    assertEquals(shared, m.xfs().bmap(ia, 0));
    if (wait) {
      assertEquals(1, m.vm.gup().pinUserPages(m.task, addr, 1, FOLL_WRITE | FOLL_LONGTERM, pages));
    }
    m.mem.ram().write(pages[0], 0, fill(B, 'D'), 0, B); // the device writes
    if (wait) {
      m.vm.gup().unpinUserPagesDirtyLock(pages, 1, true);
    } else {
      ia.mapping().folios().folioMarkDirty(pages[0]); // the driver's set_page_dirty_lock()
    }
    m.vfs.fsync(m.task, fd);
    if (!wait) {
      m.vm.gup().unpinUserPagesDirtyLock(pages, 1, true);
    }
    assertNotEquals(shared, m.xfs().bmap(ia, 0), "a's block was copied on write");
    assertEquals(shared, m.xfs().bmap(ib, 0));
    assertEquals(1, m.xfs().refcount(ib, 0));
    m.vfs.munmap(m.task, addr, B);
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(app, m.read("/mnt/b"), "b never sees the device's data");
    assertArrayEquals(fill(B, 'D'), m.read("/mnt/a"), "a's new block holds it");
  }

  @Test
  void cloningA64MibFileCostsItsExtentsNotItsBlocks() {
    XfsMachine m = boot("k", (96L << 20) / 512);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    int fd = m.vfs.open(m.task, "/mnt/a", O_RDWR | O_CREAT, 0644);
    m.vfs.fallocate(m.task, fd, 0, 0, 64L << 20);
    m.vfs.close(m.task, fd);
    m.vfs.sync();
    Inode ia = m.inode("/mnt/a");
    int extents = m.xfs().extents(ia);
    assertTrue(extents >= 1 && extents <= 8, extents + " extents");
    long free = m.counts().freeBlocks();
    clone(m, "/mnt/a", "/mnt/b");
    Inode ib = m.inode("/mnt/b");
    assertEquals(extents, m.xfs().extents(ib), "one mapping per source extent");
    assertEquals(extents, m.xfs().sharedRecords(m.mount().sb()), "one refcount record each");
    assertEquals(free, m.counts().freeBlocks());
    assertEquals(64L << 20, ib.size());
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }
}
