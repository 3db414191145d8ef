package dev.refkern.fs.ext4.internal;

import static dev.refkern.fs.ext4.internal.Disk.BLOCK;
import static org.apiguardian.api.API.Status.INTERNAL;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.apiguardian.api.API;

/**
 * The revoke table of a jbd2 journal ({@code struct jbd2_revoke_table_s}, {@code fs/jbd2/revoke.c},
 * read at torvalds/linux v6.6): the metadata blocks freed by the running transaction, written at
 * its commit as {@code JBD2_REVOKE_BLOCK} blocks ({@code jbd2_journal_revoke_header_t}, then 4-byte
 * big-endian block numbers, {@code r_count} the bytes used, a {@code jbd2_journal_block_tail}
 * CRC32C in the last 4 bytes), so that recovery does not write an older logged copy of a block over
 * what it holds since it was freed and reused.
 *
 * <p>A block is freed in memory before the bitmap that frees it is journalled; its revoke waits in
 * {@code pending} until then ({@link #join}), so the revoke commits in the same transaction as the
 * free, never before it.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class RevokeTable {
  static final int REVOKE = 5; // JBD2_REVOKE_BLOCK
  static final int R_COUNT = 12; // jbd2_journal_revoke_header_t.r_count
  static final int HEADER = 16;
  static final int PER_BLOCK = (BLOCK - HEADER - 4) / 4; // records before the block tail

  private final BitSet pending = new BitSet(); // freed, the free not yet journalled
  private final BitSet running = new BitSet(); // revoked by the running transaction

  /** {@code jbd2_journal_revoke()}: {@code blk} was freed; it joins at the next {@link #join}. */
  void revoke(long blk) {
    pending.set(Math.toIntExact(blk));
  }

  /**
   * {@code jbd2_journal_cancel_revoke()}: {@code blk} is journalled again, so its new copy must
   * replay.
   */
  void cancel(long blk) {
    if (blk < Integer.MAX_VALUE) {
      pending.clear((int) blk);
      running.clear((int) blk);
    }
  }

  /** The blocks freed since the last {@link #join}. */
  BitSet pending() {
    return pending;
  }

  /**
   * The pending frees were journalled: with {@code revoke} their revokes join the running
   * transaction ({@code data=journal} only forgets them, as {@code __ext4_forget()}).
   */
  void join(boolean revoke) {
    if (revoke) {
      running.or(pending);
    }
    pending.clear();
  }

  /** Revoke records of the running transaction. */
  int count() {
    return running.cardinality();
  }

  /** Revoke blocks the running transaction's records take. */
  int blocks() {
    return (count() + PER_BLOCK - 1) / PER_BLOCK;
  }

  /** The running transaction committed. */
  void committed() {
    running.clear();
  }

  /**
   * {@code jbd2_journal_write_revoke_records()}: the running transaction's revoke blocks for
   * transaction {@code tid}, tail checksum set.
   */
  List<byte[]> encode(long tid) {
    List<byte[]> out = new ArrayList<>(blocks());
    ByteBuffer b = null;
    int off = 0;
    for (int blk = running.nextSetBit(0); blk >= 0; blk = running.nextSetBit(blk + 1)) {
      if (b == null) {
        b = ByteBuffer.allocate(BLOCK);
        b.putInt(0, Journal.MAGIC).putInt(4, REVOKE).putInt(8, (int) tid);
        off = HEADER;
      }
      b.putInt(off, blk);
      off += 4;
      if ((off - HEADER) / 4 == PER_BLOCK) {
        out.add(seal(b, off));
        b = null;
      }
    }
    if (b != null) {
      out.add(seal(b, off));
    }
    return out;
  }

  private static byte[] seal(ByteBuffer b, int used) {
    b.putInt(R_COUNT, used);
    b.putInt(BLOCK - 4, Journal.crc(b.array(), 0, BLOCK - 4));
    return b.array();
  }

  /**
   * {@code scan_revoke_records()} of a revoke block whose tail checksum held: the revoked block
   * numbers, or null if {@code r_count} is impossible.
   */
  static long[] decode(byte[] blk) {
    ByteBuffer b = ByteBuffer.wrap(blk);
    int used = b.getInt(R_COUNT);
    if (used < HEADER || used > BLOCK - 4 || (used - HEADER) % 4 != 0) {
      return null;
    }
    long[] out = new long[(used - HEADER) / 4];
    for (int i = 0; i < out.length; i++) {
      out[i] = b.getInt(HEADER + 4 * i) & 0xffffffffL;
    }
    return out;
  }
}
