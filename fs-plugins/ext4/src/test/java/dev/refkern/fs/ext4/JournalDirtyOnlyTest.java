package dev.refkern.fs.ext4;

import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.fs.ext4.Ext4Machine.pattern;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * jbd2 journals only the buffers a handle dirtied: an {@code fsync} logs the directory blocks,
 * bitmaps, inode-table blocks, descriptors and superblock that changed since they were last logged,
 * not every one of them. Clean kernel and fsck after each.
 */
class JournalDirtyOnlyTest {
  private static final long SECTORS = (64 << 20) / 512;
  private static final String LONG = "n".repeat(200); // 19 entries a directory block

  @TempDir Path dir;
  private Ext4Machine a;

  @BeforeEach
  void mount() {
    a = new Ext4Machine(dir.resolve("k"), dir.resolve("ext4.img"), SECTORS);
    a.vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
  }

  @AfterEach
  void clean() {
    try {
      a.vfs.umount("/mnt");
      assertEquals(List.of(), new Ext4().check(dir.resolve("ext4.img").toString()));
    } finally {
      a.shutdown();
    }
  }

  private Map<String, Long> stats() {
    return a.ext4().journalStats(a.mount().sb());
  }

  private void fsync(String path) {
    int fd = a.vfs.open(a.task, path, O_RDWR | O_CREAT, 0640);
    a.vfs.fsync(a.task, fd);
    a.vfs.close(a.task, fd);
  }

  @Test
  void aSecondFsyncOfAnUnchangedFileLogsNothing() {
    a.vfs.mkdir("/mnt/d", 0755);
    a.put("/mnt/d/f", pattern(5000, 1));
    Map<String, Long> before = stats();
    fsync("/mnt/d/f");
    assertEquals(before.get("commits"), stats().get("commits"), stats().toString());
    assertEquals(before.get("blocks_committed"), stats().get("blocks_committed"));
  }

  @Test
  void anFsyncAfterACreateLogsThatDirectorysChangedBlockOnly() {
    for (String d : List.of("/mnt/d", "/mnt/e")) { // 4 directory blocks each
      a.vfs.mkdir(d, 0755);
      for (int i = 0; i < 60; i++) {
        a.vfs.close(a.task, a.vfs.open(a.task, d + "/" + LONG + i, O_RDWR | O_CREAT, 0640));
      }
    }
    fsync("/mnt/e/" + LONG + 0);
    Map<String, Long> before = stats();
    fsync("/mnt/d/new"); // an empty file: no block allocated
    long logged = stats().get("blocks_committed") - before.get("blocks_committed");
    assertEquals(1, stats().get("commits") - before.get("commits"));
    // d's last block; the new inode's and d's (mtime) table blocks; the inode bitmap; the group
    // descriptors; the superblock. Not the other 8 directory blocks.
    assertTrue(logged >= 4 && logged <= 6, logged + " blocks logged");
  }
}
