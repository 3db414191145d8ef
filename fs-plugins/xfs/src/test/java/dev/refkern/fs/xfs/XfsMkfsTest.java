package dev.refkern.fs.xfs;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code mkfs.xfs} alone, as {@code refkern mkfs -t xfs} runs it: the image is clean as made. */
class XfsMkfsTest {
  @TempDir Path dir;

  /**
   * The superblock's inode count of a fresh image is what the checker and every commit count (the
   * root in use), so {@code xfs_repair -n} of a never-mounted image finds nothing.
   */
  @Test
  void aFreshImageChecksClean() {
    Path img = dir.resolve("x.img");
    XfsMachine m = new XfsMachine(dir.resolve("k"), img, (16L << 20) / 512);
    try {
      Xfs.mkfs(m.mem, m.disk);
    } finally {
      m.shutdown();
    }
    assertEquals(List.of(), new Xfs().check(img.toString()));
  }
}
