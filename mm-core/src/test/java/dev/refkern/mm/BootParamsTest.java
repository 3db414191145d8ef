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
    assertTrue(BootParams.knownDottedKeys().containsKey("gup.pin_tracking"));
    assertEquals(java.util.Set.of("quiet", "foo"), p.unknown().keySet());
    assertTrue(p.has("quiet"));
  }

  @Test
  void hugeMinFreeKbytesIsEinvalNotANegativeWatermark() {
    for (String bad :
        new String[] {
          "mem=1G min_free_kbytes=9223372036854775807",
          "mem=1G min_free_kbytes=9007199254740992",
          "mem=1G min_free_kbytes=262145"
        }) {
      KernelException e = assertThrows(KernelException.class, () -> BootParams.parse(bad), bad);
      assertEquals(Errno.EINVAL, e.errno(), bad);
      assertTrue(e.getMessage().contains("between 128 and 262144"), e.getMessage());
    }
    assertEquals(262144, BootParams.parse("mem=1G min_free_kbytes=262144").minFreeKbytes());
  }

  @Test
  void zoneDeviceIsBoundedByMemory() {
    KernelException e =
        assertThrows(KernelException.class, () -> BootParams.parse("mem=1G zone_device=4T"));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(e.getMessage().contains("at most 1024M"), e.getMessage());
    assertEquals(1L << 30, BootParams.parse("mem=1G zone_device=1G").zoneDeviceBytes());
    assertEquals(256L << 20, BootParams.parse("mem=16M").zoneDeviceBytes());
  }

  @Test
  void unknownDottedKeysAndPolicyNamesAreEinval() {
    KernelException typo =
        assertThrows(KernelException.class, () -> BootParams.parse("mem=1G gup.pin_trakcing=bias"));
    assertEquals(Errno.EINVAL, typo.errno());
    assertTrue(typo.getMessage().contains("gup.pin_tracking"), typo.getMessage());
    KernelException name =
        assertThrows(KernelException.class, () -> BootParams.parse("gup.pin_tracking=nope"));
    assertEquals(Errno.EINVAL, name.errno());
    assertTrue(name.getMessage().contains("[bias, page_flag"), name.getMessage());
  }

  @Test
  void dirtySysctlsDefaultAsTheKernelAndABadValueIsEinval() {
    assertEquals(new DirtySysctls(20, 10, 3000, 500), BootParams.parse("").dirtySysctls());
    assertEquals(
        new DirtySysctls(40, 5, 100, 0),
        BootParams.parse(
                "vm.dirty_ratio=40 vm.dirty_background_ratio=5 vm.dirty_expire_centisecs=100"
                    + " vm.dirty_writeback_centisecs=0")
            .dirtySysctls());
    for (String bad :
        new String[] {
          "vm.dirty_ratio=101",
          "vm.dirty_ratio=-1",
          "vm.dirty_background_ratio=x",
          "vm.dirty_expire_centisecs=",
          "vm.dirty_writeback_centisecs=1.5"
        }) {
      KernelException e = assertThrows(KernelException.class, () -> BootParams.parse(bad), bad);
      assertEquals(Errno.EINVAL, e.errno(), bad);
    }
    KernelException typo =
        assertThrows(KernelException.class, () -> BootParams.parse("vm.dirty_ration=3"));
    assertTrue(typo.getMessage().contains("vm.dirty_ratio"), typo.getMessage());
  }

  @Test
  void laterWordsWin() {
    assertEquals(2L << 30, BootParams.parse("mem=1G mem=2G").memBytes());
  }
}
