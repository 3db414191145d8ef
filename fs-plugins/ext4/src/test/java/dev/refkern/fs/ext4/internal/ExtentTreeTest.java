package dev.refkern.fs.ext4.internal;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The extent tree alone: capacity, depth 2 round trip through encode and decode, splits. */
class ExtentTreeTest {
  /** Node blocks in a map, handed out from 1000 on. */
  private static final class Blocks implements ExtentTree.NodeIo {
    final Map<Long, byte[]> disk = new HashMap<>();
    int next = 1000;

    @Override
    public int alloc() {
      return next++;
    }

    @Override
    public void free(long blk) {
      disk.remove(blk);
    }

    @Override
    public void write(long blk, byte[] data) {
      disk.put(blk, data.clone());
    }
  }

  @Test
  void aFullDepthTwoTreeIsEfbig() {
    ExtentTree t = new ExtentTree();
    for (long i = 0; i < ExtentTree.MAX_EXTENTS; i++) {
      t.insert(2 * i, 3 * i + 10, 1); // never contiguous: one extent each
    }
    assertEquals(ExtentTree.MAX_EXTENTS, t.extents());
    KernelException e =
        assertThrows(
            KernelException.class, () -> t.insert(2 * ExtentTree.MAX_EXTENTS, 1L << 40, 1));
    assertEquals(Errno.EFBIG, e.errno());
  }

  @Test
  void aDepthTwoTreeDecodesToWhatWasEncoded() {
    ExtentTree t = new ExtentTree();
    int n = ExtentTree.ROOT_MAX * ExtentTree.NODE_MAX + 1;
    for (int i = 0; i < n; i++) {
      t.insert(2L * i, 5L * i + 100, 2);
    }
    Blocks io = new Blocks();
    byte[] inode = new byte[256];
    t.encode(inode, 0x28, io);
    assertEquals(2, t.depth());
    assertEquals(2, ByteBuffer.wrap(inode).order(java.nio.ByteOrder.LITTLE_ENDIAN).getShort(0x2E));
    ExtentTree back = ExtentTree.decode(Disk.le(inode), 0x28, 11, io.disk::get, b -> b >= 100);
    assertEquals(n, back.extents());
    assertEquals(2, back.depth());
    for (int i = 0; i < n; i++) {
      assertEquals(5L * i + 100, back.lookup(2L * i));
      assertEquals(5L * i + 101, back.lookup(2L * i + 1));
    }
    assertEquals(0, back.lookup(2L * n + 5));
  }

  @Test
  void removingTheMiddleOfAnExtentSplitsIt() {
    ExtentTree t = new ExtentTree();
    t.insert(0, 100, 10);
    long[] freed = new long[2];
    t.remove(
        3,
        5,
        (p, c) -> {
          freed[0] = p;
          freed[1] = c;
        });
    assertArrayEquals(new long[] {103, 2}, freed);
    assertEquals(2, t.extents());
    assertEquals(102, t.lookup(2));
    assertEquals(0, t.lookup(3));
    assertEquals(0, t.lookup(4));
    assertEquals(105, t.lookup(5));
    assertEquals(109, t.lookup(9));
  }
}
