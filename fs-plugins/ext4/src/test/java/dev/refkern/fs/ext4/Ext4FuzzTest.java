package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.fs.Stat;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Corrupted images, a fixed set of seeds: bytes flipped in the superblock, a group descriptor, the
 * inode table, a directory block, the bitmaps, or the image truncated. Mount, reading every file
 * and fsck must end in a result or a KernelException naming the structure, never another exception,
 * a BUG or a loop. Every failure names its seed.
 */
class Ext4FuzzTest {
  private static final int CASES = 200;
  private static final long SECTORS = (2 << 20) / 512; // 512 blocks, 4 groups of 128
  private static final int BLOCK = 4096;
  private static final Pattern NAMED =
      Pattern.compile(
          "superblock|group descriptor|inode|directory block|ext4 filesystem|features"
              + "|block \\d+|illegal pblock|read-only");

  @TempDir Path dir;

  private static final String[] TARGETS = {
    "superblock", "group descriptors", "inode table", "directory block", "bitmaps", "truncate"
  };

  @Test
  void corruptedImagesFailCleanly() throws Exception {
    Path pristine = dir.resolve("pristine.img");
    long rootDirBlock;
    Ext4Machine m = new Ext4Machine(dir.resolve("k"), pristine, SECTORS);
    try {
      m.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs,blocks_per_group=128,inodes_per_group=32");
      m.vfs.mkdir("/mnt/d", 0755);
      m.put("/mnt/a", Ext4Machine.pattern(100, 1));
      m.put("/mnt/d/big", Ext4Machine.pattern(15 * BLOCK + 5, 2)); // an indirect block
      m.put("/mnt/d/c", Ext4Machine.pattern(2 * BLOCK, 3));
      m.vfs.umount("/mnt");
    } finally {
      m.shutdown();
    }
    assertEquals(List.of(), new Ext4().check(pristine.toString()));
    rootDirBlock = readInt(pristine, 4L * BLOCK + 256 + 0x28); // inode 2's first block

    Ext4Machine k = new Ext4Machine(dir.resolve("fuzz"), pristine, 0); // one kernel for all cases
    List<String> failures = new ArrayList<>();
    try {
      for (int seed = 0; seed < CASES; seed++) {
        final int s = seed;
        Path img = dir.resolve("case.img");
        Files.copy(pristine, img, StandardCopyOption.REPLACE_EXISTING);
        String what = corrupt(img, s, rootDirBlock);
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

  /** The frames that threw, so a failure says where without rerunning. */
  private static String where(Throwable t) {
    if (t instanceof AssertionError) {
      return "";
    }
    StringBuilder sb = new StringBuilder();
    StackTraceElement[] st = t.getStackTrace();
    for (int i = 0; i < Math.min(4, st.length); i++) {
      sb.append("\n    at ").append(st[i]);
    }
    return sb.toString();
  }

  private static String corrupt(Path img, int seed, long rootDirBlock) throws IOException {
    Random r = new Random(seed);
    String target = TARGETS[seed % TARGETS.length];
    try (FileChannel ch =
        FileChannel.open(img, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      if (target.equals("truncate")) {
        long to = (long) r.nextInt((int) (SECTORS)) * 512;
        ch.truncate(to);
        return target + " to " + to;
      }
      long start;
      int len;
      switch (target) {
        case "superblock" -> {
          start = 0;
          len = 0x400;
        }
        case "group descriptors" -> {
          start = BLOCK;
          len = 4 * 32;
        }
        case "inode table" -> {
          start = 4L * BLOCK;
          len = 2 * BLOCK;
        }
        case "directory block" -> {
          start = rootDirBlock * BLOCK;
          len = 128;
        }
        default -> {
          start = 2L * BLOCK;
          len = 2 * BLOCK;
        }
      }
      int flips = 1 + r.nextInt(8);
      for (int i = 0; i < flips; i++) {
        long off = start + r.nextInt(len);
        if (target.equals("inode table")) { // the fields of the inodes in use, not empty slots
          int[] live = {2, 11, 12, 13, 14};
          off = start + (live[r.nextInt(live.length)] - 1) * 256L + r.nextInt(0x70);
        }
        ByteBuffer b = ByteBuffer.allocate(1);
        ch.read(b, off);
        b.put(0, (byte) (b.get(0) ^ (1 << r.nextInt(8)) ^ (r.nextBoolean() ? 0 : r.nextInt(256))));
        ch.write(b.flip(), off);
      }
      if (target.equals("superblock") && r.nextBoolean()) {
        fixCrc(ch); // past the checksum, to the geometry checks
      }
      return target + ", " + flips + " bytes";
    }
  }

  private static void fixCrc(FileChannel ch) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(BLOCK).order(ByteOrder.LITTLE_ENDIAN);
    ch.read(b, 0);
    java.util.zip.CRC32C c = new java.util.zip.CRC32C();
    c.update(b.array(), 0, 0x1FC);
    ch.write(
        ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, (int) c.getValue()), 0x1FC);
  }

  private static long readInt(Path img, long off) throws IOException {
    try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(b, off);
      return b.getInt(0) & 0xffffffffL;
    }
  }

  private static void runCase(Ext4Machine k, Path img, int seed) {
    new Ext4().check(img.toString()); // never throws, whatever it finds
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
        k.vfs.mount("ext4", dev, "/mnt", "");
      } catch (KernelException e) {
        assertTrue(
            e.errno() == Errno.EUCLEAN || e.errno() == Errno.EIO || e.errno() == Errno.EINVAL,
            "mount: " + e.getMessage());
        assertTrue(NAMED.matcher(e.getMessage()).find(), "mount: " + e.getMessage());
        return;
      }
      try {
        readTree(k, "/mnt");
      } finally {
        k.vfs.umount("/mnt");
      }
    } finally {
      disk.close();
    }
    new Ext4().check(img.toString());
  }

  private static void readTree(Ext4Machine k, String path) {
    for (String name : k.vfs.readdir(path)) {
      if (name.equals(".") || name.equals("..")) {
        continue;
      }
      String p = path + "/" + name;
      Stat st = k.vfs.stat(p);
      if ((st.mode() & 0170000) == 0040000) {
        readTree(k, p);
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
            break;
          }
        }
      } finally {
        k.vfs.close(k.task, fd);
      }
    }
  }
}
