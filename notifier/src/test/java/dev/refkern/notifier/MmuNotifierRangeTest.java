package dev.refkern.notifier;

import static dev.refkern.notifier.MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class MmuNotifierRangeTest {
  private final Object mm = "mm";

  @Test
  void eventsAreMainlinePlusProposedTruncate() {
    assertEquals(
        List.of(
            "UNMAP",
            "CLEAR",
            "PROTECTION_VMA",
            "PROTECTION_PAGE",
            "SOFT_DIRTY",
            "RELEASE",
            "MIGRATE",
            "EXCLUSIVE",
            "TRUNCATE"),
        Arrays.stream(MmuNotifierEvent.values()).map(Enum::name).toList());
  }

  @Test
  void initKeepsEveryField() {
    Object driver = new Object();
    MmuNotifierRange r =
        MmuNotifierRange.initOwner(
            MmuNotifierEvent.MIGRATE, MMU_NOTIFIER_RANGE_BLOCKABLE, mm, 0x1000, 0x3000, driver);
    assertSame(mm, r.mm());
    assertEquals(0x1000, r.start());
    assertEquals(0x3000, r.end());
    assertEquals(MmuNotifierEvent.MIGRATE, r.event());
    assertSame(driver, r.owner());
    assertTrue(r.blockable());
    MmuNotifierRange nonblock = r.withFlags(0);
    assertFalse(nonblock.blockable());
    assertSame(driver, nonblock.owner());
    assertNull(MmuNotifierRange.init(MmuNotifierEvent.CLEAR, 0, mm, 0, 1).owner());
  }

  @Test
  void emptyOrReversedRangeIsEinval() {
    NotifierException equal =
        assertThrows(
            NotifierException.class,
            () -> MmuNotifierRange.init(MmuNotifierEvent.UNMAP, 0, mm, 0x2000, 0x2000));
    assertEquals(NotifierErrno.EINVAL, equal.errno());
    NotifierException reversed =
        assertThrows(
            NotifierException.class,
            () -> MmuNotifierRange.init(MmuNotifierEvent.UNMAP, 0, mm, 0x3000, 0x2000));
    assertEquals(NotifierErrno.EINVAL, reversed.errno());
  }

  @Test
  void addressesAreUnsigned() {
    // [0x1000, ULONG_MAX) is valid; ULONG_MAX as start is above every end.
    MmuNotifierRange top =
        MmuNotifierRange.init(MmuNotifierEvent.RELEASE, 0, mm, 0x1000, 0xffff_ffff_ffff_ffffL);
    assertTrue(top.intersects(0x8000_0000_0000_0000L, 0x8000_0000_0000_0fffL));
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(
                NotifierException.class,
                () -> MmuNotifierRange.init(MmuNotifierEvent.CLEAR, 0, mm, -1L, 0x1000))
            .errno());
  }

  @Test
  void unknownFlagsNullMmAndNullEventAreEinval() {
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(
                NotifierException.class,
                () -> MmuNotifierRange.init(MmuNotifierEvent.CLEAR, 2, mm, 0, 0x1000))
            .errno());
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(
                NotifierException.class,
                () -> MmuNotifierRange.init(MmuNotifierEvent.CLEAR, 0, null, 0, 0x1000))
            .errno());
    assertEquals(
        NotifierErrno.EINVAL,
        assertThrows(NotifierException.class, () -> MmuNotifierRange.init(null, 0, mm, 0, 0x1000))
            .errno());
  }

  @Test
  void intersectsTreatsEndAsExclusiveAndLastAsInclusive() {
    MmuNotifierRange r = MmuNotifierRange.init(MmuNotifierEvent.CLEAR, 0, mm, 0x1000, 0x2000);
    assertFalse(r.intersects(0x2000, 0x2fff));
    assertFalse(r.intersects(0x0, 0xfff));
    assertTrue(r.intersects(0x0, 0x1000));
    assertTrue(r.intersects(0x1fff, 0x2fff));
  }

  @Test
  void errnoNamesAndExceptionSign() {
    assertEquals("EAGAIN", NotifierErrno.name(-NotifierErrno.EAGAIN));
    assertEquals(NotifierErrno.EBUSY, new NotifierException(-NotifierErrno.EBUSY, "x").errno());
    assertTrue(
        new NotifierException(NotifierErrno.ENOENT, "gone").getMessage().startsWith("ENOENT"));
  }
}
