package dev.refkern.fs.xfs;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.fs.Stat;
import dev.refkern.fs.xfs.internal.Fmt;
import dev.refkern.fs.xfs.internal.XfsLog;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Corrupted XFS images, a fixed set of seeds: bytes flipped in the superblock, an AGF, an AGI, the
 * free-space index blocks (bnobt/cntbt), an inode, a directory block, an extent (bmbt) block, a log
 * record, or the image truncated. Mount must fail with {@code EUCLEAN} or {@code EIO} naming the
 * structure, or the mounted filesystem must answer with a {@code KernelException} (a run-time error
 * shuts it down: {@code EIO} for every later call); never another exception, a BUG or a loop. Every
 * failure names its seed.
 */
class XfsFuzzTest {
  private static final int CASES = 180;
  private static final long SECTORS = (8L << 20) / 512;
  private static final int B = Fmt.BLOCK;
  private static final Pattern NAMED =
      Pattern.compile(
          "superblock|SB |AGF|AGI|free space|bnobt|cntbt|by block|by size|inode|directory"
              + "|extent|bmbt|log|block \\d+|device",
          Pattern.CASE_INSENSITIVE);

  private static final String[] TARGETS = {
    "superblock",
    "AGF",
    "AGI",
    "free-space index",
    "inode",
    "directory block",
    "extent block",
    "log record",
    "truncate"
  };

  @TempDir Path dir;

  @Test
  void corruptedImagesFailCleanly() throws Exception {
    Path pristine = dir.resolve("pristine.img");
    XfsMachine m = new XfsMachine(dir.resolve("k"), pristine, SECTORS);
    try {
      m.vfs.mount("xfs", "/dev/sda", "/mnt", "mkfs,agcount=2");
      m.vfs.mkdir("/mnt/d", 0755);
      m.put("/mnt/a", XfsMachine.pattern(100, 1));
      for (int i = 0; i < 40; i++) { // a directory of several blocks
        m.put("/mnt/d/name-long-enough-to-fill-blocks-" + "z".repeat(40) + i, new byte[0]);
      }
      int fd = m.vfs.open(m.task, "/mnt/d/frag", O_RDWR | O_CREAT, 0644);
      for (int i = 0; i < 60; i++) { // every other block: more extents than the inode holds
        m.write(fd, XfsMachine.pattern(B, i), 2L * i * B);
        m.vfs.fsync(m.task, fd);
      }
      m.vfs.close(m.task, fd);
      m.vfs.umount("/mnt");
    } finally {
      m.shutdown();
    }
    assertEquals(List.of(), new Xfs().check(pristine.toString()));
    Map<String, List<Long>> where = structures(pristine);
    for (String t : TARGETS) {
      if (!t.equals("truncate") && !t.equals("superblock")) {
        assertFalse(where.getOrDefault(t, List.of()).isEmpty(), "no " + t + " in the image");
      }
    }

    XfsMachine k = new XfsMachine(dir.resolve("fuzz"), pristine, 0); // one kernel for all cases
    List<String> failures = new ArrayList<>();
    try {
      for (int seed = 0; seed < CASES; seed++) {
        final int s = seed;
        Path img = dir.resolve("case.img");
        Files.copy(pristine, img, StandardCopyOption.REPLACE_EXISTING);
        String what = corrupt(img, s, where);
        try {
          assertTimeoutPreemptively(Duration.ofSeconds(60), () -> runCase(k, img, s));
        } catch (Throwable t) {
          failures.add("seed " + s + " (" + what + "): " + t + where(t));
        }
      }
    } finally {
      k.shutdown();
    }
    assertEquals(List.of(), failures);
  }

  /** The blocks of each kind of structure, found by their magic numbers. */
  private static Map<String, List<Long>> structures(Path img) throws IOException {
    Map<String, List<Long>> out = new HashMap<>();
    try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ)) {
      long blocks = ch.size() / B;
      ByteBuffer b = ByteBuffer.allocate(4);
      for (long blk = 1; blk < blocks; blk++) {
        b.clear();
        ch.read(b, blk * B);
        int magic = b.getInt(0);
        String kind =
            magic == Fmt.AGF_MAGIC
                ? "AGF"
                : magic == Fmt.AGI_MAGIC
                    ? "AGI"
                    : magic == Fmt.BNO_MAGIC || magic == Fmt.CNT_MAGIC
                        ? "free-space index"
                        : magic == Fmt.BMAP_MAGIC
                            ? "extent block"
                            : magic == Fmt.DIR_MAGIC
                                ? "directory block"
                                : magic == XfsLog.MAGIC
                                    ? "log record"
                                    : (magic >>> 16) == Fmt.DI_MAGIC ? "inode" : null;
        if (kind != null) {
          out.computeIfAbsent(kind, x -> new ArrayList<>()).add(blk);
        }
      }
    }
    return out;
  }

  private static String where(Throwable t) {
    if (t instanceof AssertionError) {
      return "";
    }
    StringBuilder sb = new StringBuilder();
    StackTraceElement[] st = t.getStackTrace();
    for (int i = 0; i < Math.min(5, st.length); i++) {
      sb.append("\n    at ").append(st[i]);
    }
    return sb.toString();
  }

  private static String corrupt(Path img, int seed, Map<String, List<Long>> where)
      throws IOException {
    Random r = new Random(seed);
    String target = TARGETS[seed % TARGETS.length];
    try (FileChannel ch =
        FileChannel.open(img, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      if (target.equals("truncate")) {
        long to = (long) r.nextInt((int) SECTORS) * 512;
        ch.truncate(to);
        return target + " to " + to;
      }
      long blk = 0;
      int len = 512; // the superblock's fields
      if (!target.equals("superblock")) {
        List<Long> blks = where.get(target);
        blk = blks.get(r.nextInt(blks.size()));
        len = target.equals("inode") ? 2 * 512 : target.equals("log record") ? 2 * B : 256;
      }
      int flips = 1 + r.nextInt(8);
      for (int i = 0; i < flips; i++) {
        long off = blk * B + r.nextInt(len);
        ByteBuffer b = ByteBuffer.allocate(1);
        ch.read(b, off);
        b.put(0, (byte) (b.get(0) ^ (1 << r.nextInt(8)) ^ (r.nextBoolean() ? 0 : r.nextInt(256))));
        ch.write(b.flip(), off);
      }
      return target + " block " + blk + ", " + flips + " bytes";
    }
  }

  private static void runCase(XfsMachine k, Path img, int seed) {
    new Xfs().check(img.toString()); // never throws, whatever it finds
    FileDisk disk;
    try {
      disk = FileDisk.open(k.mem, img, DiskOptions.defaults().name("fz" + seed));
    } catch (KernelException e) {
      return; // a truncated image of no whole sectors: no device
    }
    try {
      String dev = "/dev/fz" + seed;
      k.vfs.registerBlockDevice(dev, disk);
      try {
        k.vfs.mount("xfs", dev, "/mnt", "");
      } catch (KernelException e) {
        assertTrue(
            e.errno() == Errno.EUCLEAN || e.errno() == Errno.EIO || e.errno() == Errno.EINVAL,
            "mount: " + e);
        assertTrue(NAMED.matcher(e.getMessage()).find(), "mount: " + e.getMessage());
        return;
      }
      try {
        boolean failed = readTree(k, "/mnt");
        try {
          k.put("/mnt/new", XfsMachine.pattern(3 * B, seed)); // allocation, a commit, a force
        } catch (KernelException e) {
          failed = true;
        }
        if (failed && k.xfs().shutdownReason(k.mount().sb()) != null) {
          KernelException later = assertThrows(KernelException.class, () -> k.vfs.readdir("/mnt"));
          assertEquals(Errno.EIO, later.errno(), "after the shutdown");
        }
      } finally {
        k.vfs.umount("/mnt");
      }
    } finally {
      disk.close();
    }
    new Xfs().check(img.toString());
  }

  /** Reads every file; whether a call failed (with EIO or EUCLEAN only). */
  private static boolean readTree(XfsMachine k, String path) {
    boolean failed = false;
    List<String> names;
    try {
      names = k.vfs.readdir(path);
    } catch (KernelException e) {
      assertTrue(e.errno() == Errno.EIO || e.errno() == Errno.EUCLEAN, path + ": " + e);
      return true;
    }
    for (String name : names) {
      if (name.equals(".") || name.equals("..")) {
        continue;
      }
      String p = path + "/" + name;
      Stat st = k.vfs.stat(p);
      if ((st.mode() & 0170000) == 0040000) {
        failed |= readTree(k, p);
        continue;
      }
      int fd = k.vfs.open(k.task, p, O_RDONLY, 0);
      try {
        for (long off = 0; ; off += 1 << 20) {
          try {
            if (k.vfs.pread(k.task, fd, k.buf, 1 << 20, off) <= 0) {
              break;
            }
          } catch (KernelException e) {
            assertTrue(e.errno() == Errno.EIO || e.errno() == Errno.EUCLEAN, p + ": " + e);
            failed = true;
            break;
          }
        }
      } finally {
        k.vfs.close(k.task, fd);
      }
    }
    return failed;
  }
}
