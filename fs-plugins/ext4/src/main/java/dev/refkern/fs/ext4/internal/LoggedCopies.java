package dev.refkern.fs.ext4.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The metadata buffers' dirty state as jbd2 sees it ({@code buffer_dirty()} / {@code
 * jbd2_journal_dirty_metadata()} only for a buffer a handle changed, {@code fs/jbd2/transaction.c},
 * read at torvalds/linux v6.6): the content each metadata block had when it last joined a
 * transaction, so a block rewritten with the same bytes is not logged again.
 *
 * <p>A freed block is forgotten ({@link #forget}): its next owner's first copy is always logged.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class LoggedCopies {
  private final Map<Long, byte[]> last = new HashMap<>();

  /**
   * Whether {@code data} differs from what block {@code blk} last joined a transaction with; if so,
   * {@code data} is remembered as its latest copy.
   */
  boolean changed(long blk, byte[] data) {
    byte[] prev = last.get(blk);
    if (prev != null && Arrays.equals(prev, data)) {
      return false;
    }
    if (prev == null || prev.length != data.length) {
      last.put(blk, data.clone());
    } else {
      System.arraycopy(data, 0, prev, 0, data.length);
    }
    return true;
  }

  /** Block {@code blk} was freed: nothing it held is current any more. */
  void forget(long blk) {
    last.remove(blk);
  }
}
