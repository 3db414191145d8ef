package dev.refkern.fs.ext4.internal;

import static dev.refkern.fs.ext4.internal.Disk.BLOCK;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.block.Bio;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.apiguardian.api.API;

/**
 * The jbd2 journal of a mounted ext4, a {@code journal_t} ({@code fs/jbd2/journal.c}, {@code
 * transaction.c}, {@code commit.c}, {@code recovery.c}, {@code checkpoint.c}, read at
 * torvalds/linux v6.6): one running transaction of metadata (and with {@code data=journal} data)
 * block copies, committed as descriptor blocks with a CRC32C per tag, the escaped block copies, and
 * a commit block with {@code REQ_PREFLUSH|REQ_FUA}; then checkpointed in place, the tail advancing
 * once a flush made the in-place writes durable.
 *
 * <p>The log never wraps: when the next transaction does not fit before the end of the area, every
 * committed transaction is checkpointed (flush) and the log restarts at its first block, the
 * journal superblock saying so before the commit ({@code JBD2_FLUSHED}). Format, big-endian like
 * jbd2: block 0 of the area is {@code journal_superblock_t} (CRC32C at 0xFC); a descriptor has
 * {@code journal_block_tag3_t} tags and a {@code jbd2_journal_block_tail}; the commit block carries
 * the CRC32C of the transaction's descriptor and data blocks in {@code h_chksum[0]} (as {@code
 * JBD2_FEATURE_COMPAT_CHECKSUM}) and, in its last 4 bytes, the CRC32C of the rest of the block.
 *
 * <p>A metadata block freed while a copy of it is still in the log gets a revoke record ({@link
 * RevokeTable}), written before the transaction's descriptors in {@code JBD2_REVOKE_BLOCK} blocks
 * counted in the commit checksum; recovery skips a logged copy whose transaction is not newer than
 * the newest revoke of its block, so a block reused as file data is not overwritten by its old
 * metadata. {@code data=journal} writes none, as {@code __ext4_forget()}: every later write of a
 * block is journalled there.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class Journal {
  /** {@code JBD2_MAGIC_NUMBER}. */
  public static final int MAGIC = 0xC03B3998;

  static final int DESCRIPTOR = 1; // JBD2_DESCRIPTOR_BLOCK
  static final int COMMIT = 2; // JBD2_COMMIT_BLOCK
  static final int SUPERBLOCK_V2 = 4; // JBD2_SUPERBLOCK_V2
  static final int FLAG_ESCAPE = 1; // JBD2_FLAG_ESCAPE
  static final int FLAG_LAST_TAG = 8; // JBD2_FLAG_LAST_TAG
  static final int TAG_SIZE = 16; // journal_block_tag3_t
  static final int TAGS_PER_DESC = (BLOCK - 12 - 4) / TAG_SIZE; // header, tail
  static final int CSUM = 0xFC; // the journal superblock's s_checksum

  // journal_superblock_t
  static final int JSB_BLOCKSIZE = 0xC;
  static final int JSB_MAXLEN = 0x10;
  static final int JSB_FIRST = 0x14;
  static final int JSB_SEQUENCE = 0x18;
  static final int JSB_START = 0x1C;

  // commit_header
  static final int C_CHKSUM_TYPE = 0xC;
  static final int C_CHKSUM_SIZE = 0xD;
  static final int C_CHKSUM = 0x10;
  static final int C_COMMIT_SEC = 0x30;
  static final int JBD2_CRC32C_CHKSUM = 4;

  // ext4_super_block: s_journal_inum, s_jnl_blocks[0..1] (here: start, length)
  static final int S_JOURNAL_INUM = 0xE0;
  static final int S_JNL_START = 0x10C;
  static final int S_JNL_LEN = 0x110;
  static final int COMPAT_HAS_JOURNAL = 0x4;
  static final int JOURNAL_INO = 8;

  /** How file data goes through the journal ({@code data=} mount option). */
  public enum DataMode {
    /** Data written before the commit that maps it ({@code data=ordered}, the default). */
    ORDERED,
    /** Data written whenever writeback gets to it ({@code data=writeback}). */
    WRITEBACK,
    /** Data logged like metadata ({@code data=journal}). */
    JOURNAL
  }

  private final MetaIo io;
  private final String dev;
  private final long start; // first block of the area (the journal superblock)
  private final int len;
  private final long fsBlocks;
  private final DataMode mode;
  private final LinkedHashMap<Long, byte[]> running = new LinkedHashMap<>(); // blk -> copy
  private final RevokeTable revokes = new RevokeTable();
  // jbd2_inode: i_dirty_start, i_dirty_end (bytes, inclusive) of each inode's new blocks
  private final IdentityHashMap<Inode, long[]> ordered = new IdentityHashMap<>();
  private int head; // next free log block, relative to start
  private long sequence; // the running transaction's tid
  private boolean tailOnDisk; // the superblock's s_start is set (not JBD2_FLUSHED)
  private boolean checkpointPending; // in-place writes issued, not yet flushed
  private int dataBlocks; // data blocks in the running transaction
  private final BitSet dataSet = new BitSet(); // which they are
  private boolean aborted; // JBD2_ABORT
  private long commits;
  private long blocksCommitted;
  private long commitNanos;
  private long checkpoints;
  private long pinnedJournalled;
  private long replayed;
  private long revokeRecords;
  private long revokeHits;
  private Runnable onCommit = () -> {};

  private Journal(MetaIo io, String dev, long start, int len, long fsBlocks, DataMode mode) {
    this.io = io;
    this.dev = dev;
    this.start = start;
    this.len = len;
    this.fsBlocks = fsBlocks;
    this.mode = mode;
  }

  // ---------------------------------------------------------------- layout (mkfs)

  /**
   * Where mkfs puts the journal of {@code geo}: {@code {start, length}} at the start of group 0's
   * data, 1/32 of the filesystem between 64 and 1024 blocks; {@code {0, 0}} (no journal, like
   * {@code mke2fs} on a tiny device) below 512 blocks.
   */
  public static long[] place(Disk.Geometry geo) {
    long n = Math.min(1024, Math.max(64, geo.blocks() / 32));
    long s = geo.dataStart(0);
    if (geo.blocks() < 512 || s + n + 16 > geo.groupEnd(0)) {
      return new long[] {0, 0};
    }
    return new long[] {s, n};
  }

  /** Writes {@code has_journal}, {@code s_journal_inum} and the area into superblock {@code b}. */
  static void stamp(ByteBuffer b, Disk.Geometry geo) {
    long[] p = place(geo);
    if (p[1] == 0) {
      return;
    }
    b.putInt(Disk.S_FEATURE_COMPAT, b.getInt(Disk.S_FEATURE_COMPAT) | COMPAT_HAS_JOURNAL);
    b.putInt(S_JOURNAL_INUM, JOURNAL_INO).putInt(S_JNL_START, (int) p[0]);
    b.putInt(S_JNL_LEN, (int) p[1]);
  }

  /**
   * The area superblock {@code block0} names, {@code {start, length}}, {@code {0, 0}} without
   * {@code has_journal}.
   *
   * @throws KernelException {@code EUCLEAN} if it is not where mkfs puts it for {@code geo}
   */
  public static long[] locate(byte[] block0, Disk.Geometry geo, String dev) {
    ByteBuffer b = Disk.le(block0);
    if ((b.getInt(Disk.S_FEATURE_COMPAT) & COMPAT_HAS_JOURNAL) == 0) {
      return new long[] {0, 0};
    }
    long s = b.getInt(S_JNL_START) & 0xffffffffL;
    long n = b.getInt(S_JNL_LEN) & 0xffffffffL;
    if (!Arrays.equals(new long[] {s, n}, place(geo))) {
      throw new KernelException(
          Errno.EUCLEAN, "ext4: " + dev + ": journal location " + s + "+" + n + " is corrupt");
    }
    return new long[] {s, n};
  }

  /** {@code jbd2_journal_create()} at mkfs: a clean journal superblock, sequence 1. */
  public static void format(MetaIo io, long start, int len) {
    io.write(start, superBlock(len, 1, 0), 0);
  }

  private static byte[] superBlock(int len, long seq, int s) {
    ByteBuffer b = ByteBuffer.allocate(BLOCK);
    b.putInt(0, MAGIC).putInt(4, SUPERBLOCK_V2).putInt(8, 0);
    b.putInt(JSB_BLOCKSIZE, BLOCK).putInt(JSB_MAXLEN, len).putInt(JSB_FIRST, 1);
    b.putInt(JSB_SEQUENCE, (int) seq).putInt(JSB_START, s);
    b.putInt(CSUM, crc(b.array(), 0, CSUM));
    return b.array();
  }

  // ---------------------------------------------------------------- load and recovery

  /**
   * {@code jbd2_journal_load()}: checks the journal superblock and, if its {@code s_start} is set,
   * replays the committed transactions ({@link #recover}), then the journal is empty.
   *
   * @throws KernelException {@code EUCLEAN} for a bad journal superblock, {@code EIO}
   */
  public static Journal load(
      MetaIo io, String dev, long start, int len, long fsBlocks, DataMode mode) {
    Journal j = new Journal(io, dev, start, len, fsBlocks, mode);
    ByteBuffer sb = ByteBuffer.wrap(io.read(start));
    if (sb.getInt(0) != MAGIC
        || sb.getInt(4) != SUPERBLOCK_V2
        || sb.getInt(CSUM) != crc(sb.array(), 0, CSUM)
        || sb.getInt(JSB_BLOCKSIZE) != BLOCK
        || sb.getInt(JSB_MAXLEN) != len
        || sb.getInt(JSB_FIRST) != 1
        || (sb.getInt(JSB_START) != 0
            && (sb.getInt(JSB_START) < 1 || sb.getInt(JSB_START) >= len))) {
      throw new KernelException(Errno.EUCLEAN, "JBD2: " + dev + ": journal superblock is corrupt");
    }
    j.sequence = sb.getInt(JSB_SEQUENCE) & 0xffffffffL;
    if (sb.getInt(JSB_START) != 0) {
      j.replayed = j.recover(sb.getInt(JSB_START));
    }
    j.head = 1;
    return j;
  }

  /** Whether the journal superblock at {@code start} says it holds transactions to replay. */
  static boolean needsRecovery(byte[] jsb) {
    ByteBuffer sb = ByteBuffer.wrap(jsb);
    return sb.getInt(0) == MAGIC && sb.getInt(JSB_START) != 0;
  }

  /** One transaction found by the scan: its tags, as {target, log block, flags}; its revokes. */
  private record Scanned(long tid, List<long[]> tags, List<long[]> revoked) {}

  /**
   * {@code jbd2_journal_recover()}: {@code PASS_SCAN} from the tail finds the transactions whose
   * descriptors, data and commit block all carry the right sequence and checksums, stopping at the
   * first that does not; {@code PASS_REVOKE} keeps, per block, the newest transaction of those that
   * revoke it ({@code jbd2_journal_set_revoke()}); {@code PASS_REPLAY} writes their blocks in place
   * in order, but not a copy from a transaction no newer than its block's revoke ({@code
   * jbd2_journal_test_revoke()}); then a flush, and the journal superblock is written empty ({@code
   * jbd2_mark_journal_empty()}).
   *
   * @return the transactions replayed
   */
  private long recover(int tail) {
    List<Scanned> good = new ArrayList<>();
    int pos = tail;
    long tid = sequence;
    scan:
    while (pos < len) {
      List<long[]> tags = new ArrayList<>();
      List<long[]> revoked = new ArrayList<>();
      CRC32C sum = new CRC32C();
      while (true) {
        if (pos >= len) {
          break scan;
        }
        byte[] blk = io.read(start + pos);
        ByteBuffer b = ByteBuffer.wrap(blk);
        if (b.getInt(0) != MAGIC || (b.getInt(8) & 0xffffffffL) != (tid & 0xffffffffL)) {
          break scan; // the end of the log: an older lap or never written
        }
        int type = b.getInt(4);
        if (type == COMMIT) {
          if (b.getInt(BLOCK - 4) != crc(blk, 0, BLOCK - 4)
              || b.getInt(C_CHKSUM) != (int) sum.getValue()
              || (tags.isEmpty() && revoked.isEmpty())) {
            break scan; // jbd2_commit_block_csum_verify() failed: the commit never completed
          }
          good.add(new Scanned(tid, tags, revoked));
          tid++;
          pos++;
          continue scan;
        }
        if (type == RevokeTable.REVOKE) {
          long[] r = b.getInt(BLOCK - 4) == crc(blk, 0, BLOCK - 4) ? RevokeTable.decode(blk) : null;
          if (r == null) {
            break scan; // a torn revoke block: this transaction is not replayed
          }
          revoked.add(r);
          sum.update(blk);
          pos++;
          continue;
        }
        if (type != DESCRIPTOR || b.getInt(BLOCK - 4) != crc(blk, 0, BLOCK - 4)) {
          break scan; // jbd2_descriptor_block_csum_verify()
        }
        sum.update(blk);
        pos++;
        for (int t = 0; t < TAGS_PER_DESC; t++) {
          int off = 12 + t * TAG_SIZE;
          long target = b.getInt(off) & 0xffffffffL;
          int flags = b.getInt(off + 4);
          if (pos >= len || target >= fsBlocks || (target >= start && target < start + len)) {
            break scan;
          }
          byte[] data = io.read(start + pos);
          if (b.getInt(off + 12) != tagCrc(tid, data)) {
            break scan; // a torn or lost copy: this transaction is not replayed
          }
          sum.update(data);
          tags.add(new long[] {target, pos, flags});
          pos++;
          if ((flags & FLAG_LAST_TAG) != 0) {
            break;
          }
        }
      }
    }
    Map<Long, Long> revokedBy = new HashMap<>(); // PASS_REVOKE: block -> newest revoking tid
    for (Scanned s : good) {
      for (long[] r : s.revoked()) {
        for (long blk : r) {
          revokedBy.merge(blk, s.tid(), Math::max);
        }
      }
    }
    for (Scanned s : good) { // PASS_REPLAY
      for (long[] t : s.tags()) {
        Long rt = revokedBy.get(t[0]);
        if (rt != null && s.tid() <= rt) {
          revokeHits++; // revoked by this transaction or a later one
          continue;
        }
        byte[] data = io.read(start + t[1]);
        if ((t[2] & FLAG_ESCAPE) != 0) {
          ByteBuffer.wrap(data).putInt(0, MAGIC);
        }
        io.write(t[0], data, 0);
      }
    }
    sequence = tid;
    io.flush();
    io.write(start, superBlock(len, sequence, 0), Bio.REQ_FUA);
    return good.size();
  }

  // ---------------------------------------------------------------- the running transaction

  /** The mount's {@code data=} mode. */
  public DataMode mode() {
    return mode;
  }

  /**
   * {@code jbd2_journal_dirty_metadata()}: block {@code blk} as {@code data} joins the running
   * transaction (a frozen copy: later changes to {@code data} need another call).
   */
  public synchronized void dirtyMetadata(long blk, byte[] data) {
    revokes.cancel(blk); // jbd2_journal_cancel_revoke(): this copy is newer than the free
    byte[] copy = running.get(blk);
    if (copy == null) {
      running.put(blk, data.clone());
    } else {
      System.arraycopy(data, 0, copy, 0, BLOCK);
    }
  }

  /**
   * {@code data=journal} writeback of a file block ({@code mpage_journal_page_buffers()}): the
   * block joins the running transaction; {@code pinned} counts a folio journalled because {@code
   * folio_maybe_dma_pinned()} ({@code folio_set_checked()}, Jan Kara, Jan 2023).
   */
  public synchronized void dirtyData(long blk, byte[] data, boolean pinned) {
    if (!running.containsKey(blk)) {
      dataBlocks++;
    }
    dataSet.set((int) blk);
    dirtyMetadata(blk, data);
    if (pinned) {
      pinnedJournalled++;
    }
  }

  /**
   * {@code __ext4_forget()} of a freed metadata block ({@code jbd2_journal_revoke()}, or {@code
   * jbd2_journal_forget()} alone in {@code data=journal}): takes effect at {@link #joinRevokes},
   * when the bitmap that frees it joins the running transaction.
   */
  public synchronized void revoke(long blk) {
    revokes.revoke(blk);
  }

  /**
   * The blocks freed since the last call were journalled as free: each leaves the running
   * transaction ({@code jbd2_journal_forget()}: its copy is neither logged nor written in place)
   * and, unless {@code data=journal}, the transaction revokes it.
   */
  public synchronized void joinRevokes() {
    BitSet p = revokes.pending();
    for (int b = p.nextSetBit(0); b >= 0; b = p.nextSetBit(b + 1)) {
      if (running.remove((long) b) != null && dataSet.get(b)) {
        dataSet.clear(b);
        dataBlocks--;
      }
    }
    revokes.join(mode != DataMode.JOURNAL);
  }

  /** Whether the running transaction holds file data a read from disk would miss. */
  public synchronized boolean hasData() {
    return dataBlocks > 0;
  }

  /**
   * {@code ext4_jbd2_inode_add_write()} ({@code jbd2_journal_inode_ranged_write()}): blocks mapping
   * bytes {@code [start, end)} of {@code inode} were allocated in the running transaction, so its
   * commit writes that range first.
   */
  public synchronized void addInode(Inode inode, long start, long end) {
    if (mode == DataMode.ORDERED) {
      long[] r = ordered.get(inode);
      if (r == null) {
        ordered.put(inode, new long[] {start, end - 1});
      } else {
        r[0] = Math.min(r[0], start);
        r[1] = Math.max(r[1], end - 1);
      }
    }
  }

  /** Whether an inode's ordered data waits to be written before the next commit. */
  public synchronized boolean hasOrdered() {
    return !ordered.isEmpty();
  }

  /**
   * {@code journal_submit_data_buffers()} + {@code journal_finish_inode_data_buffers()}: the dirty
   * range of every inode whose allocation is in the running transaction, written and waited for;
   * again while that writeback allocated more (a delayed run mapped past the range).
   */
  public void writeOrderedData() {
    while (true) {
      Map<Inode, long[]> todo;
      synchronized (this) {
        if (ordered.isEmpty()) {
          return;
        }
        todo = new IdentityHashMap<>(ordered);
        ordered.clear();
      }
      for (Map.Entry<Inode, long[]> e : todo.entrySet()) {
        if (!e.getKey().evicted()) {
          FileOperations.fileWriteAndWaitRange(e.getKey(), e.getValue()[0], e.getValue()[1]);
        }
      }
    }
  }

  /**
   * {@code jbd2_journal_commit_transaction()}: ordered data first, then descriptors and block
   * copies, then the commit block with {@code REQ_PREFLUSH|REQ_FUA}; then the blocks are written in
   * place (checkpoint I/O, made durable by a later flush). Nothing to commit: a flush, as {@code
   * ext4_sync_file()} issues one.
   *
   * <p>A transaction is atomic, so its metadata must fit the log: {@code data=journal} data blocks
   * beyond that go first in transactions of their own (as jbd2 commits a transaction that reached
   * {@code j_max_transaction_buffers}); metadata that cannot fit aborts the journal ({@code
   * jbd2_journal_abort()}) rather than be split, so the disk keeps the last committed state.
   *
   * @throws KernelException {@code ENOSPC} when the metadata exceeds the log, {@code EROFS} once
   *     the journal is aborted
   */
  public synchronized void commit() {
    if (aborted) {
      throw new KernelException(Errno.EROFS, "JBD2: " + dev + ": journal aborted");
    }
    writeOrderedData();
    if (running.isEmpty() && revokes.count() == 0) {
      io.flush();
      return;
    }
    long t0 = System.nanoTime();
    List<Map.Entry<Long, byte[]>> blocks = new ArrayList<>(running.size());
    for (Map.Entry<Long, byte[]> e : running.entrySet()) { // data first: it may be split off
      if (isData(e.getKey())) {
        blocks.add(e);
      }
    }
    int data = blocks.size();
    for (Map.Entry<Long, byte[]> e : running.entrySet()) {
      if (!isData(e.getKey())) {
        blocks.add(e);
      }
    }
    int max = maxBlocks();
    if (blocks.size() - data + revokes.blocks() > max) {
      aborted = true;
      throw new KernelException(
          Errno.ENOSPC,
          "JBD2: "
              + dev
              + ": a transaction of "
              + (blocks.size() - data + revokes.blocks())
              + " metadata blocks exceeds the log's "
              + max
              + ": journal aborted");
    }
    int from = 0;
    do {
      // data blocks alone while the rest does not fit; then the rest, metadata whole, at once
      int rest = blocks.size() - from + revokes.blocks();
      int to = rest > max ? Math.min(from + max, data) : blocks.size();
      commitOne(blocks.subList(from, to), to == blocks.size());
      for (Map.Entry<Long, byte[]> e : blocks.subList(from, to)) {
        io.write(e.getKey(), e.getValue(), 0); // checkpoint I/O: durable at the next flush
      }
      checkpointPending = true;
      from = to;
    } while (from < blocks.size());
    revokes.committed();
    running.clear();
    dataSet.clear();
    dataBlocks = 0;
    onCommit.run();
    commitNanos += System.nanoTime() - t0;
  }

  private boolean isData(long blk) {
    return blk < Integer.MAX_VALUE && dataSet.get((int) blk);
  }

  /** {@code j_commit_callback} ({@code ext4_journal_commit_callback()}): after each commit. */
  public void onCommit(Runnable callback) {
    this.onCommit = callback;
  }

  /** The most blocks one transaction can log: the area less its superblock, descriptors, commit. */
  private int maxBlocks() {
    int room = len - 2;
    return room - (room + TAGS_PER_DESC) / (TAGS_PER_DESC + 1);
  }

  private void commitOne(List<Map.Entry<Long, byte[]>> blocks, boolean last) {
    List<byte[]> revoke = last ? revokes.encode(sequence) : List.of();
    int descs = (blocks.size() + TAGS_PER_DESC - 1) / TAGS_PER_DESC;
    int need = revoke.size() + descs + blocks.size() + 1;
    if (!tailOnDisk || head + need > len) {
      checkpoint(1); // no room before the end (or a clean journal): restart at the first block
    }
    CRC32C sum = new CRC32C();
    int pos = head;
    for (byte[] r : revoke) { // jbd2_journal_write_revoke_records(), before the descriptors
      io.write(start + pos++, r, 0);
      sum.update(r);
    }
    if (last) {
      revokeRecords += revokes.count();
    }
    byte[] copy = new byte[BLOCK];
    for (int d = 0; d < descs; d++) {
      int from = d * TAGS_PER_DESC;
      int to = Math.min(blocks.size(), from + TAGS_PER_DESC);
      ByteBuffer desc = ByteBuffer.allocate(BLOCK);
      desc.putInt(0, MAGIC).putInt(4, DESCRIPTOR).putInt(8, (int) sequence);
      for (int i = from; i < to; i++) {
        byte[] data = escaped(blocks.get(i).getValue(), copy);
        int off = 12 + (i - from) * TAG_SIZE;
        int flags = data == copy ? FLAG_ESCAPE : 0;
        desc.putInt(off, (int) (long) blocks.get(i).getKey());
        desc.putInt(off + 4, flags | (i == to - 1 ? FLAG_LAST_TAG : 0));
        desc.putInt(off + 12, tagCrc(sequence, data));
      }
      desc.putInt(BLOCK - 4, crc(desc.array(), 0, BLOCK - 4));
      io.write(start + pos++, desc.array(), 0);
      sum.update(desc.array());
      for (int i = from; i < to; i++) {
        byte[] data = escaped(blocks.get(i).getValue(), copy);
        io.write(start + pos++, data, 0);
        sum.update(data);
      }
    }
    ByteBuffer c = ByteBuffer.allocate(BLOCK);
    c.putInt(0, MAGIC).putInt(4, COMMIT).putInt(8, (int) sequence);
    c.put(C_CHKSUM_TYPE, (byte) JBD2_CRC32C_CHKSUM).put(C_CHKSUM_SIZE, (byte) 4);
    c.putInt(C_CHKSUM, (int) sum.getValue());
    c.putLong(C_COMMIT_SEC, System.currentTimeMillis() / 1000);
    c.putInt(BLOCK - 4, crc(c.array(), 0, BLOCK - 4)); // the whole block: a tear anywhere shows
    io.write(start + pos++, c.array(), Bio.REQ_PREFLUSH | Bio.REQ_FUA); // commit with barrier
    head = pos;
    sequence++;
    commits++;
    blocksCommitted += blocks.size();
  }

  /** {@code data} or, if it begins with the magic, {@code copy} of it with those bytes zeroed. */
  private static byte[] escaped(byte[] data, byte[] copy) {
    if (ByteBuffer.wrap(data).getInt(0) != MAGIC) {
      return data;
    }
    System.arraycopy(data, 0, copy, 0, BLOCK);
    ByteBuffer.wrap(copy).putInt(0, 0);
    return copy;
  }

  /**
   * {@code jbd2_cleanup_journal_tail()}: once a flush made every checkpoint write durable, the tail
   * moves to {@code newTail} (the head, or 1 to restart the log) and the journal superblock says
   * so, with {@code REQ_FUA}; {@code newTail} 0 marks the journal empty.
   */
  private void checkpoint(int newTail) {
    io.flush();
    checkpointPending = false;
    if (newTail >= len) {
      newTail = 1; // the head is at the end and nothing is left to replay: restart (jbd2 wraps)
    }
    if (newTail == 1) {
      head = 1;
    }
    io.write(start, superBlock(len, sequence, newTail), Bio.REQ_FUA);
    tailOnDisk = newTail != 0;
    checkpoints++;
  }

  /**
   * {@code jbd2_log_do_checkpoint()} after a {@code sync_fs}: the tail catches up with the head.
   */
  public synchronized void checkpoint() {
    if (checkpointPending) {
      checkpoint(head);
    }
  }

  /**
   * {@code jbd2_journal_destroy()} at unmount: the running transaction committed, everything
   * checkpointed, the journal superblock written empty.
   */
  public synchronized void destroy() {
    if (aborted) {
      return; // the log keeps what it holds: the next mount replays it
    }
    commit();
    checkpoint(0);
  }

  /**
   * Counters: {@code commits}, {@code blocks_committed}, {@code commit_ns}, {@code checkpoints},
   * {@code pinned_folios_journalled}, {@code transactions_replayed} (at this mount's recovery),
   * {@code revoke_records} (written), {@code revoke_hits} (logged copies recovery skipped).
   */
  public synchronized Map<String, Long> stats() {
    Map<String, Long> m = new LinkedHashMap<>();
    m.put("commits", commits);
    m.put("blocks_committed", blocksCommitted);
    m.put("commit_ns", commitNanos);
    m.put("checkpoints", checkpoints);
    m.put("pinned_folios_journalled", pinnedJournalled);
    m.put("transactions_replayed", replayed);
    m.put("revoke_records", revokeRecords);
    m.put("revoke_hits", revokeHits);
    return m;
  }

  @Override
  public String toString() {
    return "jbd2 " + dev + " " + start + "+" + len + " tid " + sequence;
  }

  private static int tagCrc(long tid, byte[] data) {
    CRC32C c = new CRC32C();
    c.update(ByteBuffer.allocate(4).putInt(0, (int) tid).array());
    c.update(data, 0, BLOCK);
    return (int) c.getValue();
  }

  static int crc(byte[] a, int off, int n) {
    CRC32C c = new CRC32C();
    c.update(a, off, n);
    return (int) c.getValue();
  }
}
