package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.concurrent.atomic.AtomicInteger;
import org.apiguardian.api.API;

/**
 * An error sequence, {@code errseq_t} ({@code lib/errseq.c}): the last error in the low 12 bits, a
 * {@code SEEN} flag, and a counter above them that moves only when a new error follows one that was
 * seen. A reader samples it once ({@link #sample()}) and later learns of each error since then
 * exactly once ({@link #checkAndAdvance(int[])}), however many readers there are.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Errseq {
  /** {@code MAX_ERRNO}: the error field's mask. */
  public static final int MAX_ERRNO = 4095;

  /** {@code ERRSEQ_SEEN}: someone has looked at the current error. */
  public static final int SEEN = MAX_ERRNO + 1;

  /** {@code ERRSEQ_CTR_INC}: the lowest bit of the counter. */
  public static final int CTR_INC = SEEN << 1;

  private final AtomicInteger value = new AtomicInteger();

  /** The raw value ({@code READ_ONCE(*eseq)}). */
  public int get() {
    return value.get();
  }

  /**
   * {@code errseq_set()}: records {@code err} (a negative errno); bumps the counter only if the
   * previous value was seen, so unseen errors are not counted twice.
   *
   * @return the new value; unchanged for 0 or an errno that does not fit
   */
  public int set(int err) {
    if (err >= 0 || -err > MAX_ERRNO) {
      return value.get(); // the kernel WARNs; 0 would clear an earlier error
    }
    while (true) {
      int old = value.get();
      int now = (old & ~(MAX_ERRNO | SEEN)) | -err;
      if ((old & SEEN) != 0) {
        now += CTR_INC;
      }
      if (now == old || value.compareAndSet(old, now)) {
        return now;
      }
    }
  }

  /**
   * {@code errseq_sample()}: where a new reader starts; 0 if the current error was never seen, so
   * that the first reader still reports it.
   */
  public int sample() {
    int old = value.get();
    return (old & SEEN) == 0 ? 0 : old;
  }

  /** {@code errseq_check()}: the negative errno recorded since {@code since}, or 0. */
  public int check(int since) {
    int cur = value.get();
    return (cur | SEEN) == (since | SEEN) ? 0 : -(cur & MAX_ERRNO);
  }

  /**
   * {@code errseq_check_and_advance()}: like {@link #check} but marks the error seen; the caller
   * stores the returned cursor, {@code since[0]}, so it reports each error once.
   *
   * @param since the reader's cursor, {@code since[0]}, updated in place
   * @return the negative errno recorded since the cursor, or 0
   */
  public int checkAndAdvance(int[] since) {
    int old = value.get();
    if (old == since[0]) {
      return 0;
    }
    int now = old | SEEN;
    if (now != old) {
      value.compareAndSet(old, now); // a racing set() wins: its error is reported next time
    }
    since[0] = now;
    return -(now & MAX_ERRNO);
  }
}
