package dev.refkern.mm;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class BootParamsTest {
  @Test
  void parsesSizesLikeMemparse() {
    assertEquals(64L << 30, BootParams.memparse("64G"));
    assertEquals(8L << 20, BootParams.memparse("8m"));
    assertEquals(1L << 40, BootParams.memparse("1T"));
    assertEquals(4096, BootParams.memparse("4096"));
    assertEquals(
        Errno.EINVAL,
        assertThrows(KernelException.class, () -> BootParams.memparse("12Q")).errno());
  }

  @Test
  void movablecoreAndKernelcore() {
    BootParams p = BootParams.parse("mem=64G movablecore=8G");
    assertEquals(64L << 30, p.memBytes());
    assertEquals(8L << 30, p.movableBytes());
    assertEquals(16L << 30, BootParams.parse("mem=64G kernelcore=48G").movableBytes());
    assertEquals(16L << 30, BootParams.parse("mem=64G movablecore=25%").movableBytes());
  }

  @Test
  void badValuesAreEinval() {
    for (String bad :
        new String[] {
          "mem=1M",
          "mem=abc",
          "mem=64G movablecore=64G",
          "movablecore=101%",
          "mem=9T",
          "=x",
          "min_free_kbytes=1"
        }) {
      KernelException e = assertThrows(KernelException.class, () -> BootParams.parse(bad), bad);
      assertEquals(Errno.EINVAL, e.errno(), bad);
    }
  }

  @Test
  void unknownParametersAreKeptAndPolicyKeysPassThrough() {
    BootParams p = BootParams.parse("mem=1G quiet gup.pin_tracking=page_flag foo=bar");
    assertEquals("page_flag", p.get("gup.pin_tracking", "bias"));
    assertEquals("bias", p.get("writeback.pinned", "bias"));
    assertEquals(java.util.Set.of("quiet", "foo"), p.unknown().keySet());
    assertTrue(p.has("quiet"));
  }

  @Test
  void laterWordsWin() {
    assertEquals(2L << 30, BootParams.parse("mem=1G mem=2G").memBytes());
  }
}
