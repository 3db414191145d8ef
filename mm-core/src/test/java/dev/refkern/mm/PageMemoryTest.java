package dev.refkern.mm;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

/** Simulated RAM: byte, buffer and frame-to-frame copies, views and checksums. */
class PageMemoryTest {
  static final int PAGE = Page.PAGE_SIZE;
  final PageMemory ram = new PageMemory(64);

  static byte[] pattern(int seed) {
    byte[] b = new byte[PAGE];
    for (int i = 0; i < PAGE; i++) {
      b[i] = (byte) (i * 13 + seed);
    }
    return b;
  }

  byte[] contents(long pfn) {
    byte[] b = new byte[PAGE];
    ram.read(pfn, 0, b, 0, PAGE);
    return b;
  }

  @Test
  void bufferCopiesMoveNoPositionAndUnwrittenFramesReadAsZeros() {
    ram.write(3, 0, pattern(1), 0, PAGE);
    ByteBuffer buf = ByteBuffer.allocateDirect(2 * PAGE);
    buf.put(0, pattern(9), 0, PAGE).put(PAGE, pattern(9), 0, PAGE);
    ram.read(3, 100, buf, 7, 1000);
    ram.read(40, 0, buf, PAGE, 512); // never written
    assertEquals(0, buf.position());
    byte[] got = new byte[1000];
    buf.get(7, got);
    assertArrayEquals(java.util.Arrays.copyOfRange(pattern(1), 100, 1100), got);
    for (int i = 0; i < 512; i++) {
      assertEquals(0, buf.get(PAGE + i), "zeros at " + i);
    }
    assertEquals(pattern(9)[512], buf.get(PAGE + 512), "nothing past len");
    ram.write(5, 512, buf, 7, 1000);
    byte[] five = contents(5);
    assertArrayEquals(got, java.util.Arrays.copyOfRange(five, 512, 1512));
    assertEquals(0, five[511]);
  }

  @Test
  void frameToFrameCopyAndView() {
    ram.write(1, 0, pattern(2), 0, PAGE);
    ram.copy(2, 1024, 1, 0, 2048);
    assertArrayEquals(
        java.util.Arrays.copyOfRange(pattern(2), 0, 2048),
        java.util.Arrays.copyOfRange(contents(2), 1024, 3072));
    ram.write(9, 0, pattern(5), 0, PAGE);
    ram.copy(9, 0, 50, 0, PAGE); // from a frame never written: zeros
    assertArrayEquals(new byte[PAGE], contents(9));
    ByteBuffer v = ram.kmapLocal(4, 512, 1024);
    assertEquals(1024, v.remaining());
    v.put(pattern(7), 0, 1024);
    assertArrayEquals(
        java.util.Arrays.copyOfRange(pattern(7), 0, 1024),
        java.util.Arrays.copyOfRange(contents(4), 512, 1536));
  }

  @Test
  void crc32cOfARangeMatchesTheLibrary() {
    ram.write(6, 0, pattern(3), 0, PAGE);
    CRC32C c = new CRC32C();
    c.update(pattern(3), 512, 512);
    assertEquals((int) c.getValue(), ram.crc32c(6, 512, 512));
    CRC32C z = new CRC32C();
    z.update(new byte[512]);
    assertEquals((int) z.getValue(), ram.crc32c(60, 0, 512));
  }

  @Test
  void outOfRangeAccessIsRefused() {
    ByteBuffer buf = ByteBuffer.allocate(PAGE);
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> ram.read(1, 4000, buf, 0, 200)).errno());
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> ram.copy(1, 0, 2, 3000, 2000)).errno());
    assertEquals(
        Errno.EFAULT, assertThrows(KernelException.class, () -> ram.kmapLocal(64, 0, 16)).errno());
  }
}
