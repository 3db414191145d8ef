package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BioBatch;
import dev.refkern.block.BioOp;
import dev.refkern.block.BlockDevice;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32C;
import org.apiguardian.api.API;

/**
 * The XFS log ({@code struct xlog}, {@code fs/xfs/xfs_log.c}, {@code xfs_log_recover.c}, {@code
 * xfs_trans_ail.c}, {@code libxfs/xfs_log_format.h}, read at torvalds/linux 0274105): a circular
 * area of log records, each an {@code xlog_rec_header} block followed by its payload, appended at
 * the head and freed from the tail.
 *
 * <p>Format (big-endian): a record is one header block and up to {@code XLOG_BIG_RECORD_BSIZE} (32
 * KiB) of payload blocks; records never wrap the end of the area. The header holds {@code
 * h_magicno} 0xFEEDBABE, {@code h_cycle}, {@code h_version} 2, {@code h_len} (payload bytes),
 * {@code h_lsn} (cycle, block), {@code h_tail_lsn}, {@code h_crc} (CRC32C of the header block with
 * this field zero and of the payload as written), {@code h_prev_block}, {@code h_num_logops}, and
 * {@code h_cycle_data}: as {@code xlog_pack_data()} does, the first word of every 512-byte sector
 * of the payload is replaced by the cycle number and saved there, so every sector of the log
 * carries its cycle ({@code xlog_get_cycle()}) and no payload sector can look like a header. The
 * payload is a stream of {@code xlog_op_header}s: {@code XLOG_START_TRANS}, one buffer item per
 * logged block ({@code XFS_LI_BUF}, the block number and one whole block), {@code
 * XLOG_COMMIT_TRANS}; a buffer item with {@code XFS_BLF_CANCEL} and no block (logged when a
 * transaction frees the block) keeps recovery from replaying older copies of it over the block's
 * next owner ({@code xlog_recover_buf_commit_pass1/2()}); an op may continue in the next record
 * (the kernel splits it with {@code XLOG_CONTINUE_TRANS}; here recovery reads the payloads of
 * consecutive records as one stream).
 *
 * <p>Commits go to the in-core log (the CIL and iclogs) and reach the disk at a force, whose last
 * record write carries {@code REQ_PREFLUSH | REQ_FUA}; committed buffers stay in the AIL ({@link
 * #pending}) until {@link #checkpoint} writes them home, flushes, and moves the tail, which a
 * covering record (as {@code xfs_log_cover()}) makes durable before any log block behind the old
 * tail can be reused. Recovery ({@link #open}) finds the head by the cycle discontinuity, the tail
 * in the last good record before it, and replays every committed transaction from tail to head.
 *
 * <p>Deviation: buffers are whole blocks (no dirty-region bitmap).
 */
@API(status = INTERNAL, since = "0.1.0")
public final class XfsLog implements MetaLog {
  /** {@code XLOG_HEADER_MAGIC_NUM}. */
  public static final int MAGIC = 0xFEEDBABE;

  static final int SECTOR = Bio.SECTOR_SIZE; // BBSIZE
  static final int VERSION = 2; // XLOG_VERSION_2
  static final int RECORD_BYTES = 32 * 1024; // XLOG_BIG_RECORD_BSIZE, payload per record

  // xlog_rec_header
  static final int H_MAGIC = 0;
  static final int H_CYCLE = 4;
  static final int H_VERSION = 8;
  static final int H_LEN = 12;
  static final int H_LSN = 16;
  static final int H_TAIL_LSN = 24;
  static final int H_CRC = 32;
  static final int H_PREV_BLOCK = 36;
  static final int H_NUM_LOGOPS = 40;
  static final int H_SIZE = 44; // payload blocks
  static final int H_CYCLE_DATA = 64; // one word per payload sector, 64 of them

  // xlog_op_header
  static final int OP_HEADER = 12;
  static final int XFS_TRANSACTION = 0x69;
  static final int XFS_LOG = 0xaa;
  static final int XLOG_START_TRANS = 0x01;
  static final int XLOG_COMMIT_TRANS = 0x02;
  static final int XLOG_UNMOUNT_TRANS = 0x20;
  static final int XFS_LI_BUF = 0x123c;
  static final int BUF_FORMAT = 16; // blf_type, blf_size, blf_flags, blf_len, blf_blkno
  static final int XFS_BLF_CANCEL = 1 << 1;

  /**
   * What recovery at open found and did.
   *
   * @param clean the head record was an unmount record: nothing to replay
   * @param transactionsReplayed complete committed transactions written to their home blocks
   * @param incompleteDropped transactions started in the log but never committed there
   * @param tailLsn the tail recovery started from
   * @param endLsn where replay stopped (the new head)
   * @param stoppedBecause why the walk from the tail ended
   */
  public record Recovery(
      boolean clean,
      long transactionsReplayed,
      long incompleteDropped,
      long tailLsn,
      long endLsn,
      String stoppedBecause) {}

  private final Io io;
  private final long start;
  private final long size; // blocks in the area
  private final int bs;
  private final int spb; // sectors per block
  private final int payloadBlocks; // per record
  private final byte[] iclog; // one record being built, reused
  // head and tail as absolute blocks: cycle * size + block
  private long head;
  private long tail;
  private long prevBlock;
  // the CIL: the op stream of committed, unforced transactions and where each op starts
  private byte[] cil = new byte[0];
  private int cilLen;
  private int[] opStarts = new int[16];
  private int opCount;
  private long seq; // last commit's sequence
  private long forcedSeq;
  private int tid;
  // the AIL: newest committed content of each logged block not yet written home
  private final Map<Long, byte[]> ail = new HashMap<>();
  private boolean shutdown;
  private final Recovery recovery;
  private long records;
  private long bytes;
  private long forces;
  private long checkpoints;

  private XfsLog(Io io, long start, long size, long head, long tail, Recovery r) {
    this.io = io;
    this.start = start;
    this.size = size;
    this.bs = io.bs;
    this.spb = bs / SECTOR;
    this.payloadBlocks = payloadBlocks(bs);
    this.iclog = new byte[(1 + payloadBlocks) * bs];
    this.head = head;
    this.tail = tail;
    this.prevBlock = Math.floorMod(head - 1, size);
    this.recovery = r;
  }

  private static int payloadBlocks(int bs) {
    return Math.max(1, RECORD_BYTES / bs);
  }

  // ---------------------------------------------------------------- mkfs

  /**
   * mkfs's log: zeroes the {@code blocks}-block area at {@code startBlock} and writes an unmount
   * record at its first block with cycle 1, so the log is clean. Made durable before return.
   *
   * @throws KernelException {@code EINVAL} for a bad geometry, {@code EIO}
   */
  public static void format(
      PhysicalMemory mem, BlockDevice dev, long startBlock, long blocks, int blockSize) {
    try (Io io = new Io(mem, dev, startBlock, blocks, blockSize)) {
      byte[] zero = new byte[io.pages.length * Page.PAGE_SIZE];
      int chunk = zero.length / blockSize;
      for (long b = 0; b < blocks; b += chunk) {
        io.io(BioOp.WRITE, startBlock + b, zero, 0, (int) Math.min(chunk, blocks - b), 0);
      }
      XfsLog log = new XfsLog(io, startBlock, blocks, 1 * blocks, 1 * blocks, null);
      log.writeUnmountRecord();
    }
  }

  // ---------------------------------------------------------------- open and recovery

  /**
   * {@code xfs_log_mount()}: opens the log at {@code startBlock}, running recovery ({@code
   * xlog_recover()}) if it is dirty; {@link #recovery()} says what it did.
   *
   * @throws KernelException {@code EUCLEAN} for a log with no valid record or a bad tail, {@code
   *     EINVAL} for a bad geometry, {@code EIO}
   */
  public static XfsLog open(
      PhysicalMemory mem, BlockDevice dev, long startBlock, long blocks, int blockSize) {
    Io io = new Io(mem, dev, startBlock, blocks, blockSize);
    try {
      return recover(io, startBlock, blocks);
    } catch (RuntimeException e) {
      io.close();
      throw e;
    }
  }

  /**
   * {@code xlog_recover_needed()} for {@code xfs_repair -n}: whether the log holds anything to
   * replay (its head record is not an unmount record). Read-only.
   *
   * @throws KernelException {@code EUCLEAN} for a log with no valid record, {@code EIO}
   */
  public static boolean needsRecovery(
      PhysicalMemory mem, BlockDevice dev, long startBlock, long blocks, int blockSize) {
    try (Io io = new Io(mem, dev, startBlock, blocks, blockSize)) {
      Scan s = new Scan(io, startBlock, blocks);
      s.findHeadAndTail();
      return !s.clean;
    }
  }

  /**
   * {@link #needsRecovery(PhysicalMemory, BlockDevice, long, long, int)} of a log area's bytes, as
   * {@code xfs_repair -n} reads them from an image.
   *
   * @throws KernelException {@code EUCLEAN} for a log with no valid record
   */
  public static boolean needsRecovery(byte[] area, long startBlock, int blockSize) {
    Scan s = new Scan(null, startBlock, area.length / blockSize, blockSize, area);
    s.findHeadAndTail();
    return !s.clean;
  }

  private static XfsLog recover(Io io, long start, long size) {
    Scan s = new Scan(io, start, size);
    s.findHeadAndTail();
    if (s.clean) {
      Recovery r = new Recovery(true, 0, 0, s.lastLsn, s.lastLsn, "clean unmount record at head");
      return new XfsLog(io, start, size, s.lastEnd, s.lastEnd, r);
    }
    // xlog_do_recovery_pass: walk from the tail, replaying every transaction whose commit is there
    s.walk();
    // pass 1 (xlog_recover_buf_commit_pass1): count every committed cancel of each block
    Map<Long, Integer> cancelled = new HashMap<>();
    for (List<long[]> t : s.committed) {
      for (long[] item : t) {
        if (item[1] < 0) {
          cancelled.merge(item[0], 1, Integer::sum);
        }
      }
    }
    // pass 2: a block with a cancel still ahead is not replayed (xlog_is_buffer_cancelled); each
    // cancel passed puts one reference (xlog_put_buffer_cancelled), so later copies replay
    for (List<long[]> t : s.committed) {
      for (long[] item : t) {
        long blk = item[0];
        if (blk < 0 || blk >= io.devBlocks || (blk >= start && blk < start + size)) {
          throw new KernelException(
              Errno.EUCLEAN,
              "XFS (" + io.dev.name() + "): log item for block " + blk + " outside the device");
        }
        if (item[1] < 0) {
          cancelled.computeIfPresent(blk, (k, n) -> n > 1 ? n - 1 : null);
        } else if (!cancelled.containsKey(blk)) {
          io.io(BioOp.WRITE, blk, s.stream, (int) item[1], 1, 0);
        }
      }
    }
    io.flush();
    Recovery r =
        new Recovery(
            false, s.committed.size(), s.incomplete, s.tailAbs, s.walkEnd, s.stoppedBecause);
    XfsLog log = new XfsLog(io, start, size, s.walkEnd, s.tailAbs, r);
    log.replayed = s.committed.size();
    log.clearStale();
    log.writeUnmountRecord(); // PREFLUSH: the cleared blocks are durable before it
    log.tail = log.head;
    return log;
  }

  private long replayed;

  /**
   * {@code xlog_clear_stale_blocks()}: the free space ahead of the head may hold sectors of a torn
   * last force with the current cycle; stamp every free sector with its previous lap's cycle so the
   * next head search stops at the head.
   */
  private void clearStale() {
    long end = tail + size;
    Arrays.fill(iclog, (byte) 0);
    ByteBuffer b = ByteBuffer.wrap(iclog);
    int chunk = Math.min(iclog.length / bs, io.pages.length * Page.PAGE_SIZE / bs);
    long a = head;
    while (a < end) {
      long pos = a % size;
      int n = (int) Math.min(Math.min(chunk, end - a), size - pos);
      int cycle = (int) (a / size) - 1;
      for (int i = 0; i < n * spb; i++) {
        b.putInt(i * SECTOR, cycle);
      }
      io.io(BioOp.WRITE, start + pos, iclog, 0, n, 0);
      a += n;
    }
  }

  /** What recovery at open did; null for a log opened by {@link #format}. */
  public Recovery recovery() {
    return recovery;
  }

  // ---------------------------------------------------------------- the scan (xlog_find_head/tail)

  /** The log read whole, its head and tail found, its records walked. */
  private static final class Scan {
    final Io io;
    final long start;
    final long size;
    final int bs;
    final int spb;
    final byte[] log;
    final ByteBuffer lb;
    long headAbs; // first block not in the current lap's contiguous cycle run
    long lastAbs = -1; // the last good record before the head
    long lastEnd;
    long lastLsn;
    long tailAbs;
    boolean clean;
    // walk results
    byte[] stream = new byte[0];
    int streamLen;
    final List<List<long[]>> committed = new ArrayList<>();
    long incomplete;
    long walkEnd;
    String stoppedBecause;

    Scan(Io io, long start, long size) {
      this(io, start, size, io.bs, new byte[Math.toIntExact(size * io.bs)]);
      int chunk = io.pages.length * Page.PAGE_SIZE / bs;
      for (long b = 0; b < size; b += chunk) {
        io.io(BioOp.READ, start + b, log, (int) (b * bs), (int) Math.min(chunk, size - b), 0);
      }
    }

    /** A scan of the log area's bytes already read, {@code log}; it cannot replay. */
    Scan(Io io, long start, long size, int bs, byte[] log) {
      this.io = io;
      this.start = start;
      this.size = size;
      this.bs = bs;
      this.spb = bs / SECTOR;
      this.log = log;
      this.lb = ByteBuffer.wrap(log);
    }

    /** {@code xlog_get_cycle()} of sector {@code s} of the area. */
    int cycle(long s) {
      ByteBuffer b = lb;
      int off = (int) (s * SECTOR);
      return b.getInt(off) == MAGIC ? b.getInt(off + H_CYCLE) : b.getInt(off);
    }

    /**
     * {@code xlog_find_head()} by a scan for the first sector whose cycle is lower than the first
     * sector's (sectors of a higher one are a torn write of the next lap, as the kernel's {@code
     * xlog_find_verify_cycle()} allows for), then {@code xlog_find_tail()}: the last record before
     * it whose header, payload cycles and CRC are good gives the tail; an unmount record there
     * whose tail is itself means a clean log.
     */
    void findHeadAndTail() {
      int first = cycle(0);
      if (first == 0) {
        throw corrupt("log is zeroed (never formatted)");
      }
      long sectors = size * spb;
      long s = 1;
      while (s < sectors && cycle(s) >= first) { // a higher cycle: a torn write of the next lap
        s++;
      }
      headAbs = s == sectors ? (first + 1L) * size : first * size + s / spb;
      // back from the head, at most one lap, to the newest complete good record
      for (long a = headAbs - 1; a >= headAbs - size && a >= size; a--) {
        int pos = (int) (a % size);
        long recEnd = goodRecordAt(pos, (int) (a / size));
        if (recEnd >= 0 && a + recEnd <= headAbs) {
          lastAbs = a;
          lastEnd = a + recEnd;
          lastLsn = a;
          break;
        }
      }
      if (lastAbs < 0) {
        throw corrupt("no valid log record before the head");
      }
      ByteBuffer h = header((int) (lastAbs % size));
      tailAbs = lsnToAbs(h.getLong(H_TAIL_LSN));
      if (tailAbs > lastAbs || tailAbs < headAbs - size || tailAbs < size) {
        throw corrupt("log tail " + lsnString(h.getLong(H_TAIL_LSN)) + " beyond the head");
      }
      clean = tailAbs == lastAbs && isUnmountRecord(h);
    }

    /**
     * The blocks of a good record of cycle {@code cycle} whose header is at block {@code pos}, or
     * -1: magic, cycle, LSN, version, a length that fits, every payload sector stamped with the
     * cycle, and the CRC.
     */
    long goodRecordAt(int pos, int cycle) {
      ByteBuffer h = header(pos);
      if (h.getInt(H_MAGIC) != MAGIC
          || h.getInt(H_CYCLE) != cycle
          || h.getInt(H_VERSION) != VERSION
          || h.getLong(H_LSN) != ((long) cycle << 32 | pos)) {
        return -1;
      }
      int len = h.getInt(H_LEN);
      int nb = h.getInt(H_SIZE);
      if (len < 0
          || nb < 0
          || nb > payloadBlocks(bs)
          || (long) nb * bs < len
          || pos + 1L + nb > size) {
        return -1;
      }
      for (int i = 1; i < (1 + nb) * spb; i++) {
        if (lb.getInt((pos * spb + i) * SECTOR) != cycle) {
          return -1; // a sector of an older lap: torn
        }
      }
      int off = pos * bs;
      int want = h.getInt(H_CRC);
      CRC32C c = new CRC32C();
      c.update(log, off, H_CRC);
      c.update(new byte[4]);
      c.update(log, off + H_CRC + 4, (1 + nb) * bs - H_CRC - 4);
      if ((int) c.getValue() != want) {
        return -1;
      }
      return 1 + nb;
    }

    ByteBuffer header(int pos) {
      return ByteBuffer.wrap(log, pos * bs, bs).slice();
    }

    boolean isUnmountRecord(ByteBuffer h) {
      if (h.getInt(H_NUM_LOGOPS) != 1 || h.getInt(H_LEN) < OP_HEADER) {
        return false;
      }
      byte[] p = unpacked((int) (h.getLong(H_LSN) & 0xffffffffL));
      return (p[9] & XLOG_UNMOUNT_TRANS) != 0;
    }

    /** {@code xlog_unpack_data()}: the record's payload with each sector's first word restored. */
    byte[] unpacked(int pos) {
      ByteBuffer h = header(pos);
      int nb = h.getInt(H_SIZE);
      byte[] p = Arrays.copyOfRange(log, (pos + 1) * bs, (pos + 1 + nb) * bs);
      ByteBuffer pb = ByteBuffer.wrap(p);
      for (int i = 0; i < nb * spb; i++) {
        pb.putInt(i * SECTOR, h.getInt(H_CYCLE_DATA + 4 * i));
      }
      return Arrays.copyOf(p, h.getInt(H_LEN));
    }

    long lsnToAbs(long lsn) {
      return (lsn >>> 32) * size + (lsn & 0xffffffffL);
    }

    /**
     * {@code xlog_do_recovery_pass()}: from the tail, each record must be the next one (its LSN
     * where the last ended, the cycle one more after the end of the area) and good; the walk ends
     * at the head or at the first record that is not, and only transactions whose commit op was
     * read are kept.
     */
    void walk() {
      long a = tailAbs;
      stoppedBecause = "reached the head";
      while (a < headAbs) {
        int pos = (int) (a % size);
        long n = goodRecordAt(pos, (int) (a / size));
        if (n < 0 || a + n > headAbs) {
          stoppedBecause =
              "no good record at "
                  + lsnString((a / size) << 32 | pos)
                  + " (torn, checksum or older lap)";
          break;
        }
        byte[] p = unpacked(pos);
        if (streamLen + p.length > stream.length) {
          stream = Arrays.copyOf(stream, Math.max(stream.length * 2, streamLen + p.length));
        }
        System.arraycopy(p, 0, stream, streamLen, p.length);
        streamLen += p.length;
        a += n;
      }
      walkEnd = a;
      parse();
    }

    /** {@code xlog_recover_process_ophdr()}: the op stream into committed transactions. */
    private void parse() {
      ByteBuffer b = ByteBuffer.wrap(stream, 0, streamLen);
      Map<Integer, List<long[]>> open = new TreeMap<>();
      int off = 0;
      while (off + OP_HEADER <= streamLen) {
        int t = b.getInt(off);
        int len = b.getInt(off + 4);
        int flags = stream[off + 9] & 0xff;
        if (len < 0 || off + OP_HEADER + (long) len > streamLen) {
          break; // the stream ends inside this op: its transaction never committed
        }
        int data = off + OP_HEADER;
        if ((flags & XLOG_START_TRANS) != 0) {
          open.put(t, new ArrayList<>());
        } else if ((flags & XLOG_COMMIT_TRANS) != 0) {
          List<long[]> items = open.remove(t);
          if (items != null) {
            committed.add(items);
          }
        } else if ((flags & XLOG_UNMOUNT_TRANS) == 0 && len == BUF_FORMAT + bs) {
          List<long[]> items = open.get(t);
          if (items != null && (b.getShort(data) & 0xffff) == XFS_LI_BUF) {
            items.add(new long[] {b.getLong(data + 8), data + BUF_FORMAT});
          }
        } else if ((flags & XLOG_UNMOUNT_TRANS) == 0 && len == BUF_FORMAT) {
          List<long[]> items = open.get(t);
          if (items != null
              && (b.getShort(data) & 0xffff) == XFS_LI_BUF
              && (b.getShort(data + 4) & XFS_BLF_CANCEL) != 0) {
            items.add(new long[] {b.getLong(data + 8), -1}); // a cancel: no region
          }
        }
        off = data + len;
      }
      incomplete = open.size();
    }

    KernelException corrupt(String what) {
      return new KernelException(
          Errno.EUCLEAN, "XFS (" + io.dev.name() + "): log recovery: " + what);
    }
  }

  // ---------------------------------------------------------------- commit, force (xfs_log_cil.c)

  @Override
  public synchronized long commit(List<LogBuf> bufs) {
    checkLive();
    if (bufs.isEmpty()) {
      return seq;
    }
    for (LogBuf b : bufs) {
      if ((!b.isCancel() && b.data().length != bs)
          || b.blkno() < 0
          || b.blkno() >= io.devBlocks
          || (b.blkno() >= start && b.blkno() < start + size)) {
        throw new KernelException(
            Errno.EINVAL,
            "XFS: log item for block "
                + b.blkno()
                + " of "
                + (b.isCancel() ? 0 : b.data().length)
                + "B");
      }
    }
    int txBytes = 2 * OP_HEADER;
    for (LogBuf b : bufs) {
      txBytes += OP_HEADER + BUF_FORMAT + (b.isCancel() ? 0 : bs);
    }
    if (blocksFor(txBytes) > size - 1) {
      throw new KernelException(
          Errno.ENOSPC,
          "XFS: a transaction of "
              + bufs.size()
              + " buffers needs "
              + blocksFor(txBytes)
              + " log blocks, the log has "
              + size);
    }
    if (blocksFor(cilLen + txBytes) > tail + size - head) {
      checkpoint(); // xlog_grant_push_ail: free the log before this commit can take room
    }
    int t = ++tid;
    op(t, 0, XLOG_START_TRANS);
    for (LogBuf b : bufs) {
      if (b.isCancel()) { // xfs_trans_binval(): a format with no region; the AIL drops the block
        op(t, BUF_FORMAT, 0);
        ByteBuffer.wrap(cil, cilLen - BUF_FORMAT, BUF_FORMAT)
            .putShort((short) XFS_LI_BUF)
            .putShort((short) 1)
            .putShort((short) XFS_BLF_CANCEL)
            .putShort((short) spb)
            .putLong(b.blkno());
        ail.remove(b.blkno());
        continue;
      }
      op(t, BUF_FORMAT + bs, 0);
      ByteBuffer f = ByteBuffer.wrap(cil, cilLen - BUF_FORMAT - bs, BUF_FORMAT);
      f.putShort((short) XFS_LI_BUF).putShort((short) 2).putShort((short) 0).putShort((short) spb);
      f.putLong(b.blkno());
      System.arraycopy(b.data(), 0, cil, cilLen - bs, bs);
      byte[] copy = ail.get(b.blkno());
      if (copy == null) {
        ail.put(b.blkno(), b.data().clone());
      } else {
        System.arraycopy(b.data(), 0, copy, 0, bs);
      }
    }
    op(t, 0, XLOG_COMMIT_TRANS);
    return ++seq;
  }

  /** Appends an op header for {@code len} bytes of region (left for the caller to fill). */
  private void op(int t, int len, int flags) {
    int need = cilLen + OP_HEADER + len;
    if (need > cil.length) {
      cil = Arrays.copyOf(cil, Math.max(need, cil.length * 2));
    }
    if (opCount == opStarts.length) {
      opStarts = Arrays.copyOf(opStarts, opCount * 2);
    }
    opStarts[opCount++] = cilLen;
    ByteBuffer.wrap(cil, cilLen, OP_HEADER)
        .putInt(t)
        .putInt(len)
        .put((byte) XFS_TRANSACTION)
        .put((byte) flags)
        .putShort((short) 0);
    cilLen = need;
  }

  /** Log blocks an op stream of {@code n} bytes may take: payload, headers, an end-of-log split. */
  private long blocksFor(long n) {
    long data = (n + bs - 1) / bs;
    return data + (data + payloadBlocks - 1) / payloadBlocks + 2;
  }

  @Override
  public synchronized void force(long lsn) {
    checkLive();
    forces++;
    if (lsn > forcedSeq) {
      guarded(this::writeCil);
    }
  }

  @Override
  public synchronized void forceAll() {
    checkLive();
    forces++;
    guarded(this::writeCil);
  }

  /**
   * {@code xlog_cil_push_work()} + {@code xlog_sync()}: the CIL as records at the head; the last
   * carries {@code REQ_PREFLUSH | REQ_FUA}, so every record of the force is durable after it.
   */
  private void writeCil() {
    int off = 0;
    int op = 0;
    while (off < cilLen) {
      long pos = head % size;
      int cap = (int) Math.min(payloadBlocks, size - pos - 1) * bs;
      int n = Math.min(cilLen - off, cap);
      int ops = 0;
      while (op < opCount && opStarts[op] < off + n) {
        op++;
        ops++;
      }
      boolean last = off + n == cilLen;
      writeRecord(cil, off, n, ops, last ? Bio.REQ_PREFLUSH | Bio.REQ_FUA : 0);
      off += n;
    }
    cilLen = 0;
    opCount = 0;
    forcedSeq = seq;
  }

  /**
   * One record at the head: payload {@code src[off, off+n)} packed ({@code xlog_pack_data()}),
   * header with the current tail and the CRC, written as one bio.
   */
  private void writeRecord(byte[] src, int off, int n, int ops, int flags) {
    int nb = (n + bs - 1) / bs;
    int cycle = (int) (head / size);
    int pos = (int) (head % size);
    if (pos + 1L + nb > size) {
      throw new IllegalStateException("log record at " + pos + " past the end of the log");
    }
    Arrays.fill(iclog, 0, (1 + nb) * bs, (byte) 0);
    System.arraycopy(src, off, iclog, bs, n);
    ByteBuffer b = ByteBuffer.wrap(iclog);
    for (int i = 0; i < nb * spb; i++) {
      int at = bs + i * SECTOR;
      b.putInt(H_CYCLE_DATA + 4 * i, b.getInt(at));
      b.putInt(at, cycle);
    }
    for (int i = 1; i < spb; i++) {
      b.putInt(i * SECTOR, cycle); // the header block's other sectors carry the cycle too
    }
    b.putInt(H_MAGIC, MAGIC).putInt(H_CYCLE, cycle).putInt(H_VERSION, VERSION).putInt(H_LEN, n);
    b.putLong(H_LSN, (long) cycle << 32 | pos).putLong(H_TAIL_LSN, lsn(tail));
    b.putInt(H_PREV_BLOCK, (int) prevBlock).putInt(H_NUM_LOGOPS, ops).putInt(H_SIZE, nb);
    CRC32C c = new CRC32C();
    c.update(iclog, 0, (1 + nb) * bs);
    b.putInt(H_CRC, (int) c.getValue());
    io.io(BioOp.WRITE, start + pos, iclog, 0, 1 + nb, flags);
    prevBlock = pos;
    head += 1 + nb;
    records++;
    bytes += (long) (1 + nb) * bs;
  }

  private long lsn(long abs) {
    return (abs / size) << 32 | (abs % size);
  }

  // ---------------------------------------------------------------- the AIL (xfs_trans_ail.c)

  /**
   * {@code xfs_ail_push_all_sync()}: forces the CIL (a buffer goes home only after its log write),
   * writes every AIL buffer home, flushes, moves the tail to the head and covers the log with an
   * empty record carrying the new tail, durable before any block behind the old tail is reused.
   */
  @Override
  public synchronized void checkpoint() {
    checkLive();
    if (ail.isEmpty() && cilLen == 0) {
      return;
    }
    guarded(
        () -> {
          writeCil();
          writeHome();
          tail = head;
          writeRecord(iclog, 0, 0, 0, Bio.REQ_FUA); // xfs_log_cover(): after the flush
          tail = head;
        });
    checkpoints++;
  }

  private void writeHome() {
    for (Map.Entry<Long, byte[]> e : new TreeMap<>(ail).entrySet()) {
      io.io(BioOp.WRITE, e.getKey(), e.getValue(), 0, 1, 0);
    }
    io.flush();
    ail.clear();
  }

  /**
   * {@code xfs_log_unmount()}: forces, writes every buffer home, then an unmount record with {@code
   * REQ_PREFLUSH | REQ_FUA} ({@code xlog_unmount_write()}); the log is closed after.
   */
  @Override
  public synchronized void unmount() {
    checkLive();
    try {
      writeCil();
      writeHome();
      tail = head;
      writeUnmountRecord();
    } finally {
      shutdown();
    }
  }

  /** An {@code XLOG_UNMOUNT_TRANS} record at the head whose tail is itself: a clean log. */
  private void writeUnmountRecord() {
    if (size - head % size < 2) {
      tail = head;
      writeRecord(iclog, 0, 0, 0, 0); // records never wrap: an empty one fills the last block
    }
    tail = head;
    byte[] op = new byte[OP_HEADER + 8];
    ByteBuffer.wrap(op)
        .putInt(0)
        .putInt(8)
        .put((byte) XFS_LOG)
        .put((byte) XLOG_UNMOUNT_TRANS)
        .putShort((short) 0)
        .putShort((short) 0x556e); // XLOG_UNMOUNT_TYPE
    writeRecord(op, 0, op.length, 1, Bio.REQ_PREFLUSH | Bio.REQ_FUA);
  }

  @Override
  public synchronized byte[] pending(long blkno) {
    return ail.get(blkno);
  }

  /**
   * {@code xfs_force_shutdown()} of the log: drops the in-core state without I/O (after a power cut
   * or an error) and releases the log's pages; every later call fails with {@code EIO}.
   */
  public synchronized void shutdown() {
    shutdown = true;
    io.close();
  }

  /** Runs a log write; an error shuts the log down ({@code xlog_ioend_work()} on a failed bio). */
  private void guarded(Runnable r) {
    try {
      r.run();
    } catch (KernelException e) {
      shutdown = true;
      throw e;
    }
  }

  private void checkLive() {
    if (shutdown) {
      throw new KernelException(Errno.EIO, "XFS (" + io.dev.name() + "): log is shut down");
    }
  }

  /** The log's counters ({@code /sys/fs/xfs/<dev>/stats}). */
  @Override
  public synchronized Counters stats() {
    return new Counters(records, bytes, forces, checkpoints, replayed);
  }

  /** Free log blocks between the head and the tail ({@code xlog_space_left()}). */
  public synchronized long spaceLeft() {
    return tail + size - head;
  }

  /** The head and the tail as LSNs ({@code l_curr_cycle/l_curr_block}, {@code l_tail_lsn}). */
  public synchronized long[] headAndTail() {
    return new long[] {lsn(head), lsn(tail)};
  }

  static String lsnString(long lsn) {
    return "(" + (lsn >>> 32) + "," + (lsn & 0xffffffffL) + ")";
  }

  @Override
  public String toString() {
    return "xfs log " + io.dev.name() + " " + start + "+" + size + " head " + lsnString(lsn(head));
  }

  // ---------------------------------------------------------------- block I/O

  /** The log's own pages for its bios, allocated once: no allocation per block on a force. */
  private static final class Io implements AutoCloseable {
    final PhysicalMemory mem;
    final BlockDevice dev;
    final int bs;
    final long devBlocks;
    final long[] pages;
    private boolean closed;

    Io(PhysicalMemory mem, BlockDevice dev, long start, long blocks, int bs) {
      if (bs < SECTOR || bs > Page.PAGE_SIZE || bs % SECTOR != 0) {
        throw new KernelException(Errno.EINVAL, "XFS: log block size " + bs);
      }
      this.devBlocks = dev.capacitySectors() / (bs / SECTOR);
      if (start < 0
          || blocks < 8
          || start + blocks > devBlocks
          || blocks * bs > Integer.MAX_VALUE) {
        throw new KernelException(
            Errno.EINVAL, "XFS: log " + start + "+" + blocks + " on " + devBlocks + " blocks");
      }
      this.mem = mem;
      this.dev = dev;
      this.bs = bs;
      int n = ((1 + payloadBlocks(bs)) * bs + Page.PAGE_SIZE - 1) / Page.PAGE_SIZE;
      pages = new long[n];
      for (int i = 0; i < n; i++) {
        pages[i] = mem.allocator().allocPages(Gfp.KERNEL, 0);
        if (pages[i] == PageAllocator.NO_PFN) {
          for (int j = 0; j < i; j++) {
            mem.allocator().putPage(pages[j]);
          }
          throw new KernelException(Errno.ENOMEM, "XFS: no pages for the log buffers");
        }
      }
    }

    /** {@code n} blocks at {@code blk} from or into {@code buf[off..]}, as one bio per chunk. */
    void io(BioOp op, long blk, byte[] buf, int off, int n, int flags) {
      int per = pages.length * Page.PAGE_SIZE / bs;
      while (n > 0) {
        int k = Math.min(n, per);
        int len = k * bs;
        Bio bio = new Bio(op, blk * (bs / SECTOR), n > k ? 0 : flags, pages.length);
        for (int p = 0, done = 0; done < len; p++) {
          int l = Math.min(Page.PAGE_SIZE, len - done);
          if (op == BioOp.WRITE) {
            mem.ram().write(pages[p], 0, buf, off + done, l);
          }
          bio.addPage(pages[p], 0, l);
          done += l;
        }
        check(BioBatch.submitBioWait(mem.scheduler(), dev, bio), op + " of block " + blk);
        if (op == BioOp.READ) {
          for (int p = 0, done = 0; done < len; p++) {
            int l = Math.min(Page.PAGE_SIZE, len - done);
            mem.ram().read(pages[p], 0, buf, off + done, l);
            done += l;
          }
        }
        blk += k;
        off += len;
        n -= k;
      }
    }

    /** {@code blkdev_issue_flush()}. */
    void flush() {
      check(BioBatch.submitBioWait(mem.scheduler(), dev, new Bio(BioOp.FLUSH, 0, 0)), "flush");
    }

    private void check(int status, String what) {
      if (status != 0) {
        throw new KernelException(
            Errno.EIO, "XFS (" + dev.name() + "): log " + what + " failed: " + status);
      }
    }

    @Override
    public void close() {
      if (!closed) {
        closed = true;
        for (long pfn : pages) {
          mem.allocator().putPage(pfn);
        }
      }
    }
  }

  /**
   * The log's counters ({@code struct xfsstats}' log fields), which {@code Xfs.logStats} hands out
   * as {@code XfsLogStats}.
   */
  public record Counters(
      long recordsWritten,
      long bytesLogged,
      long forces,
      long checkpoints,
      long transactionsReplayed) {}
}
