package dev.refkern.mm;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** {@code lib/errseq.c}: each reader learns of each error once, from where it sampled. */
class ErrseqTest {
  private static final int EIO = -Errno.EIO.number();
  private static final int ENOSPC = -Errno.ENOSPC.number();

  @Test
  void aReaderSeesAnErrorOnceAndALaterSamplerNever() {
    Errseq e = new Errseq();
    int[] a = {e.sample()};
    int[] b = {e.sample()};
    e.set(EIO);
    int[] late = {e.sample()};
    assertEquals(0, late[0], "an unseen error is still reported to a new sampler");
    assertEquals(EIO, e.check(a[0]));
    assertEquals(EIO, e.checkAndAdvance(a));
    assertEquals(0, e.checkAndAdvance(a), "reported once");
    assertEquals(EIO, e.checkAndAdvance(b), "a second reader gets it once too");
    assertEquals(0, e.checkAndAdvance(b));
    int[] after = {e.sample()};
    assertEquals(0, e.checkAndAdvance(after), "opened after the error was seen");
    assertNotEquals(0, e.get() & Errseq.SEEN);
  }

  @Test
  void aNewErrorAfterASeenOneBumpsTheCounterAndAnUnseenOneDoesNot() {
    Errseq e = new Errseq();
    int first = e.set(EIO);
    assertEquals(first, e.set(EIO), "unseen: no change");
    int[] r = {0};
    assertEquals(EIO, e.checkAndAdvance(r));
    int bumped = e.set(ENOSPC);
    assertEquals(Errseq.CTR_INC, bumped & ~(Errseq.MAX_ERRNO | Errseq.SEEN));
    assertEquals(ENOSPC, e.checkAndAdvance(r));
    assertEquals(e.get(), e.set(0), "0 is refused: it would clear the error");
  }
}
