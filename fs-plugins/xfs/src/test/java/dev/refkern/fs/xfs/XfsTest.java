package dev.refkern.fs.xfs;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.DiskOptions;
import dev.refkern.fs.Falloc;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.xfs.internal.Fmt;
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

/** The XFS-like filesystem on a FileDisk: format, namespace, delalloc, extents, fsck, errors. */
class XfsTest {
  private static final int B = Fmt.BLOCK;
  private static final long SECTORS = (8L << 20) / 512;

  @TempDir Path dir;
  private final List<XfsMachine> machines = new ArrayList<>();

  private XfsMachine boot(String name, long sectors) {
    XfsMachine m = new XfsMachine(dir.resolve(name), dir.resolve("xfs.img"), sectors);
    machines.add(m);
    return m;
  }

  private String image() {
    return dir.resolve("xfs.img").toString();
  }

  @AfterEach
  void down() {
    for (XfsMachine m : machines) {
      m.shutdown();
    }
  }

  private List<String> fsck() {
    return new Xfs().check(image());
  }

  @Test
  void mkfsMountWriteAndAFreshKernelSeesEveryFile() {
    XfsMachine m = boot("k1", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    m.vfs.mkdir("/mnt/d", 0755);
    m.vfs.mkdir("/mnt/d/e", 0700);
    byte[] a = XfsMachine.pattern(10_000, 1);
    byte[] big = XfsMachine.pattern(300 * 1024, 2);
    m.put("/mnt/d/a", a);
    m.put("/mnt/big", big);
    int fd = m.vfs.open(m.task, "/mnt/d/e/empty", O_RDWR | O_CREAT, 0600);
    m.vfs.close(m.task, fd);
    for (int i = 0; i < 40; i++) { // more entries than one directory block holds
      m.put("/mnt/d/e/file-with-a-long-name-" + "x".repeat(80) + i, XfsMachine.pattern(10, i));
    }
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.shutdown();

    XfsMachine k2 = boot("k2", 0);
    k2.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(a, k2.read("/mnt/d/a"));
    assertArrayEquals(big, k2.read("/mnt/big"));
    assertEquals(0, k2.read("/mnt/d/e/empty").length);
    assertEquals(41, k2.vfs.readdir("/mnt/d/e").size());
    assertArrayEquals(
        XfsMachine.pattern(10, 39),
        k2.read("/mnt/d/e/file-with-a-long-name-" + "x".repeat(80) + 39));
    assertTrue(k2.inode("/mnt/d/e").isDir());
    k2.vfs.unlink("/mnt/big");
    k2.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void aFragmentedFileKeepsItsExtentsInExtentBlocks() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    int fd = m.vfs.open(m.task, "/mnt/frag", O_RDWR | O_CREAT, 0644);
    int n = 3 * Fmt.INLINE_EXTENTS;
    for (int i = 0; i < n; i++) { // every other block: one extent each, more than the inode holds
      m.write(fd, XfsMachine.pattern(B, i), 2L * i * B);
    }
    m.vfs.fsync(m.task, fd);
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    Inode f = m.inode("/mnt/frag");
    assertEquals(n, m.xfs().allocatedBlocks(f));
    byte[] got = m.read("/mnt/frag");
    for (int i = 0; i < n; i++) {
      assertArrayEquals(
          XfsMachine.pattern(B, i),
          Arrays.copyOfRange(got, 2 * i * B, (2 * i + 1) * B),
          "block " + i);
    }
    m.vfs.ftruncate(m.task, fd = m.vfs.open(m.task, "/mnt/frag", O_RDWR, 0), B);
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck(), "back to an inline fork, its extent block freed");
  }

  @Test
  void delallocReservesAtWriteAndAllocatesAtWriteback() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    XfsCounts before = m.counts();
    int fd = m.vfs.open(m.task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    assertEquals(3 * B, m.write(fd, XfsMachine.pattern(3 * B, 3), 0));
    Inode f = m.inode("/mnt/f");
    XfsCounts written = m.counts();
    assertEquals(3, m.xfs().delallocBlocks(f));
    assertEquals(0, m.xfs().allocatedBlocks(f));
    assertEquals(-1, m.xfs().bmap(f, 0), "a delayed block");
    assertEquals(before.freeBlocks(), written.freeBlocks(), "nothing allocated yet");
    assertEquals(before.availableBlocks() - 3, written.availableBlocks(), "but reserved");
    assertEquals(3, written.delallocBlocks());
    m.vfs.fsync(m.task, fd);
    XfsCounts synced = m.counts();
    assertEquals(0, m.xfs().delallocBlocks(f));
    assertEquals(3, m.xfs().allocatedBlocks(f));
    assertTrue(m.xfs().bmap(f, 0) > 0 && m.xfs().bmap(f, 1) == m.xfs().bmap(f, 0) + 1);
    assertEquals(before.freeBlocks() - 3, synced.freeBlocks());
    assertEquals(written.availableBlocks(), synced.availableBlocks());
    assertEquals(0, synced.delallocBlocks());
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void writebackSkipsAHoleInTheMiddle() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    int fd = m.vfs.open(m.task, "/mnt/sparse", O_RDWR | O_CREAT, 0644);
    m.write(fd, XfsMachine.pattern(B, 1), 0);
    m.write(fd, XfsMachine.pattern(B, 2), 10L * B);
    m.vfs.fsync(m.task, fd);
    Inode f = m.inode("/mnt/sparse");
    assertEquals(2, m.xfs().allocatedBlocks(f));
    for (int b = 1; b < 10; b++) {
      assertEquals(0, m.xfs().bmap(f, b), "block " + b + " is a hole");
    }
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    byte[] got = m.read("/mnt/sparse");
    assertEquals(11 * B, got.length);
    assertArrayEquals(XfsMachine.pattern(B, 1), Arrays.copyOfRange(got, 0, B));
    assertArrayEquals(new byte[9 * B], Arrays.copyOfRange(got, B, 10 * B));
    assertArrayEquals(XfsMachine.pattern(B, 2), Arrays.copyOfRange(got, 10 * B, 11 * B));
  }

  @Test
  void truncateAndPunchHoleFreeBlocks() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    long free0 = m.counts().freeBlocks();
    byte[] data = XfsMachine.pattern(16 * B, 5);
    int fd = m.vfs.open(m.task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    m.write(fd, data, 0);
    m.vfs.fsync(m.task, fd);
    Inode f = m.inode("/mnt/f");
    assertEquals(16, m.xfs().allocatedBlocks(f));
    m.vfs.fallocate(
        m.task, fd, Falloc.FALLOC_FL_PUNCH_HOLE | Falloc.FALLOC_FL_KEEP_SIZE, 4L * B + 100, 4L * B);
    assertEquals(13, m.xfs().allocatedBlocks(f), "blocks 5, 6, 7 are whole in the hole");
    assertEquals(0, m.xfs().bmap(f, 5));
    byte[] got = m.read("/mnt/f");
    Arrays.fill(data, 4 * B + 100, 8 * B + 100, (byte) 0);
    assertArrayEquals(data, got);
    m.vfs.ftruncate(m.task, fd, 2L * B);
    m.vfs.fsync(m.task, fd);
    assertEquals(2, m.xfs().allocatedBlocks(f));
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertEquals(free0 - 2, m.counts().freeBlocks(), "every freed block is free again");
    assertArrayEquals(Arrays.copyOf(data, 2 * B), m.read("/mnt/f"));
  }

  @Test
  void fallocatedBlocksReadZerosAndBecomeWrittenAfterWriteAndFsync() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    int fd = m.vfs.open(m.task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    m.vfs.fallocate(m.task, fd, 0, 0, 4L * B);
    m.vfs.fallocate(m.task, fd, Falloc.FALLOC_FL_KEEP_SIZE, 4L * B, 2L * B);
    Inode f = m.inode("/mnt/f");
    assertEquals(4L * B, m.vfs.fstat(m.task, fd).size(), "mode 0 sets the size, KEEP_SIZE not");
    assertEquals(6, m.xfs().allocatedBlocks(f));
    for (int b = 0; b < 6; b++) {
      assertTrue(m.xfs().bmap(f, b) < -1, "block " + b + " unwritten");
    }
    assertArrayEquals(new byte[4 * B], m.read("/mnt/f"));
    m.write(fd, XfsMachine.pattern(B, 9), B);
    assertTrue(m.xfs().bmap(f, 1) < -1, "unwritten until the data is on disk");
    m.vfs.fsync(m.task, fd);
    assertTrue(m.xfs().bmap(f, 1) > 0, "written at I/O completion");
    assertTrue(m.xfs().bmap(f, 0) < -1 && m.xfs().bmap(f, 2) < -1);
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.shutdown();
    XfsMachine k2 = boot("k2", 0);
    k2.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    byte[] want = new byte[4 * B];
    System.arraycopy(XfsMachine.pattern(B, 9), 0, want, B, B);
    assertArrayEquals(want, k2.read("/mnt/f"));
    Inode f2 = k2.inode("/mnt/f");
    assertTrue(k2.xfs().bmap(f2, 0) < -1 && k2.xfs().bmap(f2, 1) > 0 && k2.xfs().bmap(f2, 5) < -1);
  }

  @Test
  void enospcLosesNothingAlreadyWritten() {
    XfsMachine m = boot("k", (2L << 20) / 512);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    byte[] a = XfsMachine.pattern(64 * 1024, 7);
    m.put("/mnt/a", a);
    int fd = m.vfs.open(m.task, "/mnt/b", O_RDWR | O_CREAT, 0644);
    byte[] chunk = XfsMachine.pattern(16 * B, 8);
    long off = 0;
    KernelException full = null;
    while (full == null) {
      try {
        off += m.write(fd, chunk, off);
      } catch (KernelException e) {
        full = e;
      }
      assertTrue(off < (2L << 20), "the disk never filled");
    }
    assertEquals(Errno.ENOSPC, full.errno());
    m.vfs.fsync(m.task, fd);
    assertEquals(off, m.vfs.fstat(m.task, fd).size());
    m.vfs.close(m.task, fd);
    assertArrayEquals(a, m.read("/mnt/a"));
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(a, m.read("/mnt/a"));
    int rfd = m.vfs.open(m.task, "/mnt/b", O_RDONLY, 0);
    assertEquals(off, m.vfs.fstat(m.task, rfd).size());
    byte[] got = new byte[chunk.length];
    for (long p = 0; p + chunk.length <= off; p += chunk.length) {
      assertEquals(chunk.length, m.vfs.pread(m.task, rfd, m.buf, chunk.length, p));
      m.task.load(m.buf, got, 0, got.length);
      assertArrayEquals(chunk, got, "at " + p);
    }
    m.vfs.close(m.task, rfd);
    m.vfs.unlink("/mnt/b");
    m.put("/mnt/c", a); // the space came back
    assertArrayEquals(a, m.read("/mnt/c"));
  }

  @Test
  void fsckFindsABlockMarkedFreeAndUsed() throws IOException {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    m.put("/mnt/f", XfsMachine.pattern(2 * B, 1));
    long blk = m.xfs().bmap(m.inode("/mnt/f"), 1);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.shutdown();
    try (RandomAccessFile img = new RandomAccessFile(image(), "rw")) {
      Fmt.Geo g = Fmt.decodeSuper(read(img, 0), "img", img.length() / B);
      int ag = g.agOf(blk);
      List<byte[]> bno = new ArrayList<>();
      for (int i = 0; i < g.idxBlocks(); i++) {
        bno.add(read(img, g.bno(ag) + i));
      }
      List<Fmt.Free> recs = new ArrayList<>(Fmt.decodeRecs(g, ag, Fmt.BNO_MAGIC, bno, "img"));
      recs.add(new Fmt.Free(blk, 1));
      recs.sort((x, y) -> Long.compare(x.start(), y.start()));
      List<byte[]> fs = Fmt.encodeFreeSpace(g, ag, recs);
      write(img, g.agf(ag), fs.get(0));
      for (int i = 0; i < g.idxBlocks(); i++) {
        write(img, g.bno(ag) + i, fs.get(1 + i));
        write(img, g.cnt(ag) + i, fs.get(1 + g.idxBlocks() + i));
      }
    }
    List<String> problems = fsck();
    assertTrue(
        problems.stream()
            .anyMatch(p -> p.contains("block " + blk + " is free in the bnobt but used")),
        problems.toString());
  }

  @Test
  void aCorruptSuperblockFailsTheMountWithEuclean() throws IOException {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    m.vfs.umount("/mnt");
    m.shutdown();
    try (RandomAccessFile img = new RandomAccessFile(image(), "rw")) {
      byte[] sb = read(img, 0);
      sb[20] ^= 1; // sb_agcount
      write(img, 0, sb);
    }
    XfsMachine k2 = boot("k2", 0);
    KernelException e =
        assertThrows(KernelException.class, () -> k2.vfs.mount("xfs", "/dev/sda", "/mnt", ""));
    assertEquals(Errno.EUCLEAN, e.errno());
    assertTrue(e.getMessage().contains("superblock"), e.getMessage());
    assertTrue(fsck().get(0).contains("superblock"));
  }

  @Test
  void aCorruptAgfFailsTheMountNamingIt() throws IOException {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    m.vfs.umount("/mnt");
    m.shutdown();
    try (RandomAccessFile img = new RandomAccessFile(image(), "rw")) {
      byte[] agf = read(img, 1);
      agf[13] ^= 4; // agf_freeblks
      write(img, 1, agf);
    }
    XfsMachine k2 = boot("k2", 0);
    KernelException e =
        assertThrows(KernelException.class, () -> k2.vfs.mount("xfs", "/dev/sda", "/mnt", ""));
    assertEquals(Errno.EUCLEAN, e.errno());
    assertTrue(e.getMessage().contains("AGF of AG 0"), e.getMessage());
  }

  @Test
  void fsyncForcesTheLogAndAFreshMountReplaysWhatACutLeft() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    XfsLogStats before = m.xfs().logStats(m.mount().sb());
    m.put("/mnt/f", XfsMachine.pattern(B, 3)); // create, write, fsync
    XfsLogStats after = m.xfs().logStats(m.mount().sb());
    assertTrue(after.forces() > before.forces(), after.toString());
    assertTrue(after.recordsWritten() > before.recordsWritten(), after.toString());
    m.disk.powerCut(); // before any checkpoint: the home blocks never got the new inode
    m.shutdown();
    XfsMachine k2 = boot("k2", 0);
    k2.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertEquals(1, k2.xfs().logStats(k2.mount().sb()).transactionsReplayed());
    assertArrayEquals(XfsMachine.pattern(B, 3), k2.read("/mnt/f"));
    k2.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void afterAShutdownEveryCallFailsWithEio() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    m.put("/mnt/f", XfsMachine.pattern(B, 1));
    int fd = m.vfs.open(m.task, "/mnt/f", O_RDWR, 0);
    m.xfs().shutdown(m.mount().sb(), "test");
    KernelException w = assertThrows(KernelException.class, () -> m.write(fd, new byte[10], 0));
    assertEquals(Errno.EIO, w.errno());
    KernelException s = assertThrows(KernelException.class, () -> m.vfs.fsync(m.task, fd));
    assertEquals(Errno.EIO, s.errno());
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
    // xfs_repair -n after a shutdown: the log holds what fsync forced, never checkpointed
    assertEquals(List.of("log needs recovery: mount the filesystem to replay it"), fsck());
    m.shutdown();
    XfsMachine k2 = boot("k2", 0);
    k2.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(XfsMachine.pattern(B, 1), k2.read("/mnt/f"), "the fsync'd file replayed");
    k2.vfs.umount("/mnt");
    assertEquals(List.of(), fsck(), "nothing half-written reached the disk");
  }

  @Test
  void aFailedLogWriteShutsTheFilesystemDown() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    m.put("/mnt/f", XfsMachine.pattern(B, 1));
    int fd = m.vfs.open(m.task, "/mnt/new", O_RDWR | O_CREAT, 0644);
    m.disk.powerCut(); // every bio fails with EIO from now on
    KernelException e = assertThrows(KernelException.class, () -> m.vfs.fsync(m.task, fd));
    assertEquals(Errno.EIO, e.errno());
    assertNotNull(m.xfs().shutdownReason(m.mount().sb()));
    KernelException later = assertThrows(KernelException.class, () -> m.write(fd, new byte[10], 0));
    assertEquals(Errno.EIO, later.errno());
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
  }

  /** {@code IOMAP_DIO_BOUNCE}: on a stable-writes device, O_DIRECT copies only under the policy. */
  @ParameterizedTest(name = "dio.stable_bounce={0}")
  @ValueSource(strings = {"on", "off"})
  void directIoBouncesOnAStableWritesDeviceUnderTheVfsPolicy(String bounce) {
    XfsMachine m =
        new XfsMachine(
            dir.resolve("k-" + bounce),
            dir.resolve("xfs.img"),
            SECTORS,
            "mem=64M dio.stable_bounce=" + bounce,
            DiskOptions.defaults().integrity(true));
    machines.add(m);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    assertTrue(m.mount().sb().stableWrites(), "BLK_FEAT_STABLE_WRITES from integrity");
    int fd = m.vfs.open(m.task, "/mnt/d", O_RDWR | O_CREAT | O_DIRECT, 0644);
    byte[] data = XfsMachine.pattern(2 * B, 5);
    assertEquals(2 * B, m.write(fd, data, 0));
    assertEquals(bounce.equals("on") ? 2L * B : 0, m.vfs.directIo().bytesBounced());
    m.vfs.close(m.task, fd);
    assertArrayEquals(data, m.read("/mnt/d"));
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  @Test
  void directIoWritesThroughUnwrittenExtents() {
    XfsMachine m = boot("k", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    int fd = m.vfs.open(m.task, "/mnt/d", O_RDWR | O_CREAT | O_DIRECT, 0644);
    byte[] data = XfsMachine.pattern(3 * B, 4);
    assertEquals(3 * B, m.write(fd, data, 0));
    Inode f = m.inode("/mnt/d");
    assertTrue(m.xfs().bmap(f, 2) > 0, "converted at completion");
    m.vfs.fsync(m.task, fd);
    m.vfs.close(m.task, fd);
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    assertArrayEquals(data, m.read("/mnt/d"));
  }

  @Test
  void mountOptionsAndDefaults() {
    XfsMachine m = boot("k", SECTORS);
    KernelException e =
        assertThrows(
            KernelException.class, () -> m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs,bogus"));
    assertEquals(Errno.EINVAL, e.errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(
                KernelException.class, () -> m.vfs.mount("xfs", "/dev/sda", "/mnt", "agcount=2"))
            .errno());
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs,agcount=3,inodes_per_ag=128");
    assertEquals("bounce", new Xfs().defaultPinnedWriteback());
    assertNotNull(m.mount().sb().pinnedWriteback(), "the mount's own policy, not the booted one");
    assertEquals(3L * 128 - 1, m.counts().freeInodes());
    m.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  private static byte[] read(RandomAccessFile img, long blk) throws IOException {
    byte[] b = new byte[B];
    img.seek(blk * B);
    img.readFully(b);
    return b;
  }

  private static void write(RandomAccessFile img, long blk, byte[] b) throws IOException {
    img.seek(blk * B);
    img.write(b);
  }
}
