package dev.refkern.fs.xfs;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.FileDisk;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.xfs.internal.Fmt;
import dev.refkern.mm.vm.Mman;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Regressions the crash-consistency run found: what a power cut after {@code fsync} must keep when
 * blocks change owner. A cut is a shutdown ({@code xfs_force_shutdown}: no more I/O), then a fresh
 * kernel mounts the image and replays the log.
 */
class XfsRecoveryTest {
  private static final int B = Fmt.BLOCK;
  private static final long SECTORS = (8L << 20) / 512;
  private static final long BIG = (128L << 20) / 512; // a 512-block log: no checkpoint mid-test

  @TempDir Path dir;
  private final List<XfsMachine> machines = new ArrayList<>();

  private XfsMachine boot(String name, long sectors) {
    XfsMachine m = new XfsMachine(dir.resolve(name), dir.resolve("xfs.img"), sectors);
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

  /** The power cut: the filesystem stops all I/O, the kernel goes, a new one mounts the image. */
  private XfsMachine cutAndRemount(XfsMachine m) {
    m.xfs().shutdown(m.mount().sb(), "power cut");
    m.vfs.umount("/mnt");
    m.shutdown();
    XfsMachine k2 = boot("k2", 0);
    k2.vfs.mount("xfs", "/dev/sda", "/mnt", "");
    return k2;
  }

  /**
   * {@code XFS_BLF_CANCEL}: directory blocks logged, then freed when the directory empties and
   * goes, then reused for file data written in place and fsync'd. Recovery must not replay the
   * logged directory blocks over that data ({@code xlog_recover_buf_commit_pass2()} skips a
   * cancelled buffer).
   */
  @Test
  void aFreedDirectoryBlockReusedForDataKeepsTheDataAfterRecovery() {
    XfsMachine m = boot("k1", BIG);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    m.vfs.mkdir("/mnt/d", 0755);
    List<String> names = new ArrayList<>();
    for (int i = 0; i < 120; i++) { // several directory blocks
      String name = "/mnt/d/entry-with-a-long-name-" + "y".repeat(60) + i;
      int fd = m.vfs.open(m.task, name, O_RDWR | O_CREAT, 0644);
      m.vfs.close(m.task, fd);
      names.add(name);
    }
    m.vfs.sync(); // the directory blocks are in the log, not yet home
    Inode d = m.inode("/mnt/d");
    Set<Long> dirBlocks = new HashSet<>();
    for (long i = 0; m.xfs().bmap(d, i) > 0; i++) {
      dirBlocks.add(m.xfs().bmap(d, i));
    }
    assertTrue(dirBlocks.size() >= 3, "directory blocks " + dirBlocks);
    for (String name : names) {
      m.vfs.unlink(name);
    }
    m.vfs.rmdir("/mnt/d");
    m.vfs.sync(); // the frees are on disk: the blocks may have a new owner
    List<String> files = new ArrayList<>();
    Set<Long> reused = new HashSet<>();
    for (int i = 0; i < 16 && reused.isEmpty(); i++) {
      String f = "/mnt/f" + i;
      m.put(f, XfsMachine.pattern(B, i + 1)); // one block each, fsync'd
      files.add(f);
      long blk = m.xfs().bmap(m.inode(f), 0);
      if (dirBlocks.contains(blk)) {
        reused.add(blk);
      }
    }
    assertFalse(reused.isEmpty(), "no file took a freed directory block");
    XfsMachine k2 = cutAndRemount(m);
    for (int i = 0; i < files.size(); i++) {
      assertArrayEquals(XfsMachine.pattern(B, i + 1), k2.read(files.get(i)), files.get(i));
    }
    k2.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  /**
   * {@code iomap_writepage_map()} writes up to {@code round_up(i_size, i_blocksize)}: the EOF block
   * goes out whole, its tail past EOF zeroed. Written only to the sector of EOF, the rest of a
   * reused block kept its old owner's bytes, which a size extension (fallocate) then exposed once
   * the page was read back from the device.
   */
  @Test
  void theEofBlockIsWrittenWholeSoAnExtensionReadsZeros() {
    XfsMachine m = boot("k1", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    byte[] old = new byte[B];
    Arrays.fill(old, (byte) 0x5a);
    m.put("/mnt/new", old);
    long oldBlk = m.xfs().bmap(m.inode("/mnt/new"), 0);
    int t = m.vfs.open(m.task, "/mnt/new", O_RDWR, 0);
    m.vfs.ftruncate(m.task, t, 0); // frees the block
    m.vfs.close(m.task, t);
    m.vfs.sync();
    byte[] small = XfsMachine.pattern(100, 3);
    m.put("/mnt/new", small);
    assertEquals(oldBlk, m.xfs().bmap(m.inode("/mnt/new"), 0), "the file reuses the block");
    int fd = m.vfs.open(m.task, "/mnt/new", O_RDWR, 0);
    m.vfs.fallocate(m.task, fd, 0, B, B); // i_size to 8192, block 0 not written again
    m.vfs.fsync(m.task, fd);
    m.vfs.close(m.task, fd);
    XfsMachine k2 = cutAndRemount(m);
    byte[] want = Arrays.copyOf(small, 2 * B);
    assertArrayEquals(want, k2.read("/mnt/new"));
    k2.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }

  /**
   * {@code xfs_file_fsync()}: an overwrite of allocated blocks through a shared mapping commits no
   * metadata, so the log force writes nothing; the data device's cache must then be flushed ({@code
   * blkdev_issue_flush()}) or the fdatasync'd data is lost at a power cut.
   */
  @Test
  void fdatasyncOfAnOverwriteFlushesTheDevice() {
    XfsMachine m = boot("k1", SECTORS);
    m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs");
    m.put("/mnt/f", XfsMachine.pattern(B, 1));
    byte[] now = XfsMachine.pattern(B, 2);
    int fd = m.vfs.open(m.task, "/mnt/f", O_RDWR, 0);
    long a = m.vfs.mmap(m.task, 0, B, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_SHARED, fd, 0);
    m.task.store(a, now, 0, B); // in place through the page cache: nothing to log
    m.vfs.munmap(m.task, a, B);
    m.vfs.fdatasync(m.task, fd); // msync(MS_SYNC)
    m.vfs.close(m.task, fd);
    m.disk.powerCut(FileDisk.TearMode.DROP_ALL, 1); // what no flush made durable is gone
    m.disk.reopen();
    XfsMachine k2 = cutAndRemount(m);
    assertArrayEquals(now, k2.read("/mnt/f"));
    k2.vfs.umount("/mnt");
    assertEquals(List.of(), fsck());
  }
}
