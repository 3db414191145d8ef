package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.apiguardian.api.API;

/**
 * The {@code dm-log-writes} target ({@code drivers/md/dm-log-writes.c}, target version 1.1.0, read
 * at torvalds/linux 047218ec904d): a block device that passes every bio to the device it wraps and
 * logs every write, flush and user mark, so that the device's history can be replayed to any point,
 * as fstests' {@code replay-log} does for generic/482.
 *
 * <p>The log has the kernel's order, which is the order data reaches the media, not the order of
 * completion:
 *
 * <ul>
 *   <li>a plain WRITE is logged only once a later FLUSH ({@code REQ_OP_FLUSH} or a write with
 *       {@code REQ_PREFLUSH}) submitted after the write completed has completed: it is logged just
 *       before that flush's entry ({@code LOG_FLUSH_FLAG});
 *   <li>a {@code REQ_FUA} write is logged when it completes ({@code LOG_FUA_FLAG});
 *   <li>{@link #mark(String)} logs a mark at once ({@code LOG_MARK_FLAG}), so a mark taken after an
 *       fsync follows the writes that fsync flushed;
 *   <li>{@link #close()} logs the writes still unflushed, then the mark {@code dm-log-writes-end}
 *       ({@code log_writes_dtr()}).
 * </ul>
 *
 * <p>As in the kernel, a write's data is copied when it is submitted (the pages may be a direct
 * I/O's, reused after completion): one {@code byte[]} per write bio, nothing per page. A write that
 * completes with an error is logged all the same ({@code normal_end_io()} ignores the status).
 * READs go to the device untouched; every other bio is forwarded as a clone ({@code
 * bio_alloc_clone()}, as device mapper does) whose completion ends the original exactly once, with
 * the device's status. The block layer here has no DISCARD, so no {@code LOG_DISCARD_FLAG} entry is
 * ever made.
 *
 * <p>Entry {@code i} is the {@code i}-th in the log (its sequence number). The log is the initial
 * image plus its entries, and the initial image is all zeros: like dm-log-writes, which is set up
 * before {@code mkfs}, recording must start on a zeroed device (a new {@link RamDisk} or {@link
 * FileDisk#create}); replay assumes it. The log lives in memory and, with {@link #record(
 * PhysicalMemory, BlockDevice, Path)}, also in an append-only file in dm-log-writes' on-disk format
 * (a super sector, then per entry a header sector and its data), extended with the device's
 * capacity in the super; {@link #open} reads such a file back. File appends happen as entries are
 * logged, in completion context (the kernel hands them to its {@code log-write} kthread).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LogWrites implements BlockDevice, AutoCloseable {
  /** {@code LOG_FLUSH_FLAG}: a flush; every entry before it is durable. */
  public static final long LOG_FLUSH_FLAG = 1;

  /** {@code LOG_FUA_FLAG}: a write durable at completion. */
  public static final long LOG_FUA_FLAG = 1 << 1;

  /** {@code LOG_DISCARD_FLAG} (never made here: the block layer has no DISCARD). */
  public static final long LOG_DISCARD_FLAG = 1 << 2;

  /** {@code LOG_MARK_FLAG}: a user mark, no data. */
  public static final long LOG_MARK_FLAG = 1 << 3;

  /** {@code WRITE_LOG_MAGIC}. */
  public static final long WRITE_LOG_MAGIC = 0x6a736677736872L;

  /** {@code WRITE_LOG_VERSION}. */
  public static final long WRITE_LOG_VERSION = 1;

  /** The mark {@link #close()} logs last, as {@code log_writes_dtr()}. */
  public static final String END_MARK = "dm-log-writes-end";

  private static final int SECTOR = Bio.SECTOR_SIZE;
  private static final int ENTRY_HEADER = 32; // struct log_write_entry
  private static final int MAX_MARK = SECTOR - ENTRY_HEADER - 1; // log_mark()'s kstrndup bound

  /**
   * One logged entry ({@code struct log_write_entry} with its data).
   *
   * @param seq its position in the log
   * @param flags {@code LOG_*_FLAG} bits
   * @param sector the first 512-byte sector written
   * @param nrSectors sectors written (0 for a flush or a mark)
   * @param data what was written, {@code nrSectors * 512} bytes (empty for a flush or a mark)
   * @param mark the mark's text, or null
   */
  public record Entry(long seq, long flags, long sector, long nrSectors, byte[] data, String mark) {
    /** A copy of the data written. */
    @Override
    public byte[] data() {
      return data.clone();
    }

    /** Whether this is a write with data (possibly also a flush or FUA). */
    public boolean isWrite() {
      return nrSectors > 0;
    }

    /** Whether everything logged up to here is durable ({@code LOG_FLUSH_FLAG} or FUA). */
    public boolean isFlushPoint() {
      return (flags & (LOG_FLUSH_FLAG | LOG_FUA_FLAG)) != 0;
    }

    /** Whether this is a mark. */
    public boolean isMark() {
      return (flags & LOG_MARK_FLAG) != 0;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Entry e
          && seq == e.seq
          && flags == e.flags
          && sector == e.sector
          && nrSectors == e.nrSectors
          && Arrays.equals(data, e.data)
          && java.util.Objects.equals(mark, e.mark);
    }

    @Override
    public int hashCode() {
      return java.util.Objects.hash(seq, flags, sector, nrSectors, Arrays.hashCode(data), mark);
    }

    @Override
    public String toString() {
      return isMark()
          ? "#" + seq + " mark " + mark
          : "#" + seq + " flags " + flags + " sector " + sector + " +" + nrSectors;
    }
  }

  /** {@code struct pending_block}: a write or flush in flight, not yet in the log. */
  private static final class Pending {
    final long flags;
    final long sector;
    final long nrSectors;
    final byte[] data;
    List<Pending> spliced; // a flush: the writes completed before it was submitted

    Pending(long flags, long sector, long nrSectors, byte[] data) {
      this.flags = flags;
      this.sector = sector;
      this.nrSectors = nrSectors;
      this.data = data;
    }
  }

  private static final byte[] NO_DATA = new byte[0];

  private final PhysicalMemory mem;
  private final BlockDevice dev; // null for a log read back with open()
  private final String name;
  private final long capacitySectors;
  private final List<Entry> entries = new ArrayList<>(); // guarded by this
  private List<Pending> unflushed = new ArrayList<>(); // guarded by this
  private final Path logPath;
  private FileChannel log; // guarded by this
  private long logPos; // next byte of the log file
  private final ByteBuffer header = ByteBuffer.allocate(SECTOR).order(ByteOrder.LITTLE_ENDIAN);
  private final ByteBuffer superBuf = ByteBuffer.allocate(36).order(ByteOrder.LITTLE_ENDIAN);
  private volatile boolean closed;

  private LogWrites(
      PhysicalMemory mem, BlockDevice dev, String name, long capacitySectors, Path logPath) {
    this.mem = mem;
    this.dev = dev;
    this.name = name;
    this.capacitySectors = capacitySectors;
    this.logPath = logPath;
  }

  /**
   * A recorder over {@code dev} that keeps its log in memory. {@code dev} must be zeroed (see the
   * class comment).
   */
  public LogWrites(PhysicalMemory mem, BlockDevice dev) {
    this(mem, dev, "log-writes(" + dev.name() + ")", dev.capacitySectors(), null);
  }

  /**
   * A recorder over the zeroed {@code dev} that also appends its log to {@code logFile}, replacing
   * any file there.
   *
   * @throws KernelException {@code EIO} if the file cannot be written
   */
  public static LogWrites record(PhysicalMemory mem, BlockDevice dev, Path logFile) {
    LogWrites lw =
        new LogWrites(mem, dev, "log-writes(" + dev.name() + ")", dev.capacitySectors(), logFile);
    try {
      lw.log =
          FileChannel.open(
              logFile,
              StandardOpenOption.CREATE,
              StandardOpenOption.TRUNCATE_EXISTING,
              StandardOpenOption.READ,
              StandardOpenOption.WRITE);
      lw.writeAt(ByteBuffer.allocate(SECTOR), 0); // the super takes a whole sector
      lw.writeSuper();
      lw.logPos = SECTOR;
    } catch (IOException e) {
      lw.closeLog();
      throw new KernelException(Errno.EIO, "cannot write log " + logFile + ": " + e.getMessage());
    }
    return lw;
  }

  /**
   * Reads back a log written by {@link #record(PhysicalMemory, BlockDevice, Path)}, for replay. The
   * result wraps no device: bios submitted to it complete with {@code -EIO}.
   *
   * @throws KernelException {@code ENOENT} if there is no such file, {@code EINVAL} if it is not a
   *     log-writes log, {@code EIO} if it is cut short (the message names the entry) or unreadable
   */
  public static LogWrites open(PhysicalMemory mem, Path logFile) {
    try (FileChannel ch = FileChannel.open(logFile, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(SECTOR).order(ByteOrder.LITTLE_ENDIAN);
      if (readFully(ch, b, 0) < SECTOR) {
        throw new KernelException(Errno.EIO, logFile + ": log cut short in its super sector");
      }
      long magic = b.getLong(0);
      long version = b.getLong(8);
      long nrEntries = b.getLong(16);
      int sectorSize = b.getInt(24);
      long capacity = b.getLong(28);
      if (magic != WRITE_LOG_MAGIC || version != WRITE_LOG_VERSION || sectorSize != SECTOR) {
        throw new KernelException(
            Errno.EINVAL,
            logFile
                + ": not a log-writes log (magic "
                + Long.toHexString(magic)
                + ", version "
                + version
                + ", sectorsize "
                + sectorSize
                + ")");
      }
      LogWrites lw = new LogWrites(mem, null, "log-writes(" + logFile + ")", capacity, logFile);
      lw.closed = true;
      long pos = SECTOR;
      for (long i = 0; i < nrEntries; i++) {
        b.clear();
        if (readFully(ch, b, pos) < SECTOR) {
          throw truncated(logFile, i, nrEntries, "header");
        }
        long sector = b.getLong(0);
        long nr = b.getLong(8);
        long flags = b.getLong(16);
        long dataLen = b.getLong(24);
        pos += SECTOR;
        String mark = null;
        byte[] data = NO_DATA;
        if ((flags & LOG_MARK_FLAG) != 0) {
          if (dataLen < 0 || dataLen > SECTOR - ENTRY_HEADER) {
            throw new KernelException(
                Errno.EUCLEAN, logFile + ": entry " + i + " has a mark of " + dataLen + " bytes");
          }
          byte[] m = new byte[(int) dataLen];
          b.get(ENTRY_HEADER, m);
          mark = new String(m, StandardCharsets.UTF_8);
        } else if (nr > 0) {
          if (nr > capacity || sector < 0 || sector > capacity - nr) {
            throw new KernelException(
                Errno.EUCLEAN,
                logFile
                    + ": entry "
                    + i
                    + " writes sectors "
                    + sector
                    + "+"
                    + nr
                    + " past the end");
          }
          data = new byte[Math.toIntExact(nr * SECTOR)];
          if (readFully(ch, ByteBuffer.wrap(data), pos) < data.length) {
            throw truncated(logFile, i, nrEntries, "data");
          }
          pos += data.length;
        }
        lw.entries.add(new Entry(i, flags, sector, nr, data, mark));
      }
      return lw;
    } catch (NoSuchFileException e) {
      throw new KernelException(Errno.ENOENT, "no log " + logFile);
    } catch (IOException e) {
      throw new KernelException(Errno.EIO, "cannot read log " + logFile + ": " + e.getMessage());
    }
  }

  private static KernelException truncated(Path f, long i, long n, String part) {
    return new KernelException(
        Errno.EIO, f + ": log cut short in the " + part + " of entry " + i + " of " + n);
  }

  /** Reads into {@code b} from {@code pos} until it is full or the file ends; bytes read. */
  private static int readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
    int start = b.position();
    while (b.hasRemaining()) {
      if (ch.read(b, pos + b.position() - start) < 0) {
        break;
      }
    }
    return b.position() - start;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long capacitySectors() {
    return capacitySectors;
  }

  /** The wrapped device's features ({@code log_writes_io_hints()} passes its limits on). */
  @Override
  public int features() {
    return dev != null ? dev.features() : 0;
  }

  /** {@code log_writes_map()}: logs what it must, then passes the bio on. */
  @Override
  public void submitBio(Bio bio) {
    if (dev == null) {
      completeWith(bio, -Errno.EIO.number()); // a log read back has no device under it
      return;
    }
    boolean flush = bio.op() == BioOp.FLUSH || (bio.flags() & Bio.REQ_PREFLUSH) != 0;
    if (closed
        || bio.op() == BioOp.READ
        || (bio.op() == BioOp.WRITE && bio.size() == 0 && !flush)) {
      dev.submitBio(bio); // reads, and writes with neither data nor flush, are not logged
      return;
    }
    long flags = flush ? LOG_FLUSH_FLAG : 0;
    if ((bio.flags() & Bio.REQ_FUA) != 0 && bio.op() == BioOp.WRITE) {
      flags |= LOG_FUA_FLAG;
    }
    byte[] data = NO_DATA;
    if (bio.op() == BioOp.WRITE && bio.size() > 0) {
      // copied now: the pages may be reused once the bio completes (one array per bio)
      data = new byte[Math.toIntExact(bio.size())];
      int pos = 0;
      for (int i = 0; i < bio.vecCount(); i++) {
        mem.ram().read(bio.vecPfn(i), bio.vecOffset(i), data, pos, bio.vecLen(i));
        pos += bio.vecLen(i);
      }
    }
    Pending p = new Pending(flags, bio.sector(), data.length / SECTOR, data);
    if (flush) {
      synchronized (this) {
        p.spliced = unflushed; // what completed before this flush is what it makes durable
        unflushed = new ArrayList<>();
      }
    }
    Bio clone = new Bio(bio.op(), bio.sector(), bio.flags(), bio.vecCount());
    for (int i = 0; i < bio.vecCount(); i++) {
      clone.addPage(bio.vecPfn(i), bio.vecOffset(i), bio.vecLen(i));
    }
    clone.onEnd(
        c -> {
          completed(p);
          bio.setStatus(c.status());
          bio.endio();
        });
    dev.submitBio(clone);
  }

  private void completeWith(Bio bio, int status) {
    mem.scheduler()
        .runInCompletionContext(
            () -> {
              bio.setStatus(status);
              bio.endio();
            });
  }

  /** {@code normal_end_io()}: a flush logs what it spliced, then itself; FUA logs itself. */
  private synchronized void completed(Pending p) {
    if (closed) {
      return; // completed after close(): the log is over
    }
    if ((p.flags & LOG_FLUSH_FLAG) != 0) {
      for (Pending q : p.spliced) {
        append(q.flags, q.sector, q.nrSectors, q.data, null);
      }
      append(p.flags, p.sector, p.nrSectors, p.data, null);
    } else if ((p.flags & LOG_FUA_FLAG) != 0) {
      append(p.flags, p.sector, p.nrSectors, p.data, null);
    } else {
      unflushed.add(p);
    }
  }

  /**
   * {@code dmsetup message ... mark <text>} ({@code log_mark()}): logs a mark now, after every
   * write already logged and before the completed writes still waiting for a flush. Text past 479
   * bytes is cut, as the kernel's {@code kstrndup()} does.
   *
   * @return the mark's sequence number
   * @throws KernelException {@code EINVAL} once the log is closed
   */
  public synchronized long mark(String text) {
    if (closed) {
      throw new KernelException(Errno.EINVAL, name + ": log closed, no mark " + text);
    }
    return appendMark(text);
  }

  private long appendMark(String text) {
    while (text.getBytes(StandardCharsets.UTF_8).length > MAX_MARK) {
      text = text.substring(0, text.offsetByCodePoints(text.length(), -1)); // never splits a char
    }
    return append(LOG_MARK_FLAG, 0, 0, NO_DATA, text);
  }

  private long append(long flags, long sector, long nr, byte[] data, String mark) {
    long seq = entries.size();
    entries.add(new Entry(seq, flags, sector, nr, data, mark));
    if (log != null) {
      try {
        byte[] m = mark != null ? mark.getBytes(StandardCharsets.UTF_8) : NO_DATA;
        Arrays.fill(header.array(), (byte) 0);
        header.clear();
        header.putLong(sector).putLong(nr).putLong(flags).putLong(m.length).put(m);
        header.clear();
        writeAt(header, logPos);
        logPos += SECTOR;
        if (data.length > 0) {
          writeAt(ByteBuffer.wrap(data), logPos);
          logPos += data.length;
        }
        writeSuper();
      } catch (IOException e) {
        closeLog(); // as the kernel's logging_enabled = false: the file stops here
      }
    }
    return seq;
  }

  private void writeAt(ByteBuffer b, long pos) throws IOException {
    long start = pos - b.position();
    while (b.hasRemaining()) {
      log.write(b, start + b.position());
    }
  }

  /** {@code log_super()}: magic, version, entries, sector size, and (refkern) the capacity. */
  private void writeSuper() throws IOException {
    ByteBuffer s = superBuf.clear();
    s.putLong(WRITE_LOG_MAGIC)
        .putLong(WRITE_LOG_VERSION)
        .putLong(entries.size())
        .putInt(SECTOR)
        .putLong(capacitySectors)
        .flip();
    writeAt(s, 0);
  }

  private void closeLog() {
    if (log != null) {
      try {
        log.close();
      } catch (IOException e) {
        // the entries written so far are what the file holds
      }
      log = null;
    }
  }

  /**
   * {@code log_writes_dtr()}: logs the writes still waiting for a flush, then the mark {@value
   * #END_MARK}, and closes the log file. The wrapped device stays open; bios submitted later are
   * still passed on but no longer logged. Idempotent.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    for (Pending q : unflushed) {
      append(q.flags, q.sector, q.nrSectors, q.data, null);
    }
    unflushed = new ArrayList<>();
    appendMark(END_MARK);
    if (log != null) {
      try {
        log.force(true);
      } catch (IOException e) {
        // closing below; what reached the file is the log
      }
    }
    closeLog();
    closed = true;
  }

  /** The log file, or null for a log kept only in memory. */
  public Path logFile() {
    return logPath;
  }

  /** Entries logged so far. */
  public synchronized long size() {
    return entries.size();
  }

  /** The entries logged so far, in log order. */
  public synchronized List<Entry> entries() {
    return List.copyOf(entries);
  }

  /**
   * The sequence numbers of the entries after which everything logged is durable (flushes and FUA
   * writes): the points fstests replays to.
   */
  public synchronized List<Long> flushPoints() {
    List<Long> out = new ArrayList<>();
    for (Entry e : entries) {
      if (e.isFlushPoint()) {
        out.add(e.seq());
      }
    }
    return out;
  }

  /** The marks, in log order. */
  public synchronized List<Entry> marks() {
    List<Entry> out = new ArrayList<>();
    for (Entry e : entries) {
      if (e.isMark()) {
        out.add(e);
      }
    }
    return out;
  }

  /**
   * The sequence number of the first mark {@code text} ({@code replay-log --end-mark}).
   *
   * @throws KernelException {@code ENOENT} if there is none
   */
  public synchronized long markEntry(String text) {
    for (Entry e : entries) {
      if (e.isMark() && e.mark().equals(text)) {
        return e.seq();
      }
    }
    throw new KernelException(Errno.ENOENT, name + ": no mark " + text);
  }

  /** Where replayed entries go. */
  private interface Sink {
    void write(long sector, byte[] data, int len, boolean fua) throws IOException;

    void flush() throws IOException;
  }

  /**
   * Replays entries {@code 0..upTo} in order onto {@code target}, which must hold the initial image
   * (all zeros: a new {@link RamDisk} or {@link FileDisk#create} image) and complete bios on its
   * own. Writes go as WRITE bios (FUA kept), flushes as FLUSH bios, marks do nothing; a final FLUSH
   * makes it all durable. {@code upTo == -1} replays nothing.
   *
   * @throws KernelException {@code EINVAL} if {@code upTo} is outside {@code -1..size()-1} or the
   *     target is smaller than the log's device, {@code EIO} if a bio fails
   */
  public void replay(long upTo, BlockDevice target) {
    replayOnto(upTo, -1, target);
  }

  /**
   * Replays entries {@code 0..upTo - 1} onto {@code target} as {@link #replay}, then only a prefix
   * of the sectors of entry {@code upTo}, a write: a power cut in the middle of it. The prefix is
   * {@code 0..n-1} of its {@code n} sectors, chosen by {@code seed}; a drive keeps each sector
   * whole.
   *
   * @return how many of the write's sectors were applied
   * @throws KernelException as {@link #replay}, and {@code EINVAL} if entry {@code upTo} is not a
   *     write
   */
  public long replayTorn(long upTo, long seed, BlockDevice target) {
    long keep = tornPrefix(upTo, seed);
    replayOnto(upTo, keep, target);
    return keep;
  }

  /**
   * Writes entries {@code 0..upTo} onto a new image file {@code image} of the log's capacity,
   * replacing any file there; {@link FileDisk#open} opens it.
   *
   * @throws KernelException {@code EINVAL} for {@code upTo} outside {@code -1..size()-1}, {@code
   *     EIO} if the image cannot be written
   */
  public void replayToImage(long upTo, Path image) {
    replayToImage(upTo, -1, image);
  }

  /**
   * {@link #replayTorn} onto a new image file, as {@link #replayToImage}.
   *
   * @return how many of the torn write's sectors were applied
   */
  public long replayTornToImage(long upTo, long seed, Path image) {
    long keep = tornPrefix(upTo, seed);
    replayToImage(upTo, keep, image);
    return keep;
  }

  private long tornPrefix(long upTo, long seed) {
    Entry e = checkedEntries(upTo).get((int) upTo);
    if (!e.isWrite()) {
      throw new KernelException(Errno.EINVAL, name + ": entry " + upTo + " is not a write: " + e);
    }
    // SplittableRandom mixes its seed: Random's first nextInt(8) is one value for seeds 0..63
    return new SplittableRandom(seed).nextInt((int) e.nrSectors());
  }

  private void replayToImage(long upTo, long tornSectors, Path image) {
    List<Entry> es = checkedEntries(upTo);
    try (FileChannel ch =
        FileChannel.open(
            image,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      if (capacitySectors > 0) {
        ch.write(ByteBuffer.allocate(1), capacitySectors * SECTOR - 1);
      }
      apply(
          es,
          upTo,
          tornSectors,
          new Sink() {
            @Override
            public void write(long sector, byte[] data, int len, boolean fua) throws IOException {
              ByteBuffer b = ByteBuffer.wrap(data, 0, len);
              while (b.hasRemaining()) {
                ch.write(b, sector * SECTOR + b.position());
              }
            }

            @Override
            public void flush() {}
          });
      ch.force(true);
    } catch (IOException e) {
      throw new KernelException(Errno.EIO, "cannot write image " + image + ": " + e.getMessage());
    }
  }

  private void replayOnto(long upTo, long tornSectors, BlockDevice target) {
    List<Entry> es = checkedEntries(upTo);
    if (target.capacitySectors() < capacitySectors) {
      throw new KernelException(
          Errno.EINVAL,
          target.name()
              + " has "
              + target.capacitySectors()
              + " sectors, the log's device "
              + capacitySectors);
    }
    long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
    if (pfn == PageAllocator.NO_PFN) {
      throw new KernelException(Errno.ENOMEM, "no page to replay " + name);
    }
    try {
      Sink s =
          new Sink() {
            @Override
            public void write(long sector, byte[] data, int len, boolean fua) throws IOException {
              for (int off = 0; off < len; off += Page.PAGE_SIZE) {
                int n = Math.min(Page.PAGE_SIZE, len - off);
                mem.ram().write(pfn, 0, data, off, n);
                Bio b = new Bio(BioOp.WRITE, sector + off / SECTOR, fua ? Bio.REQ_FUA : 0, 1);
                submit(target, b.addPage(pfn, 0, n));
              }
            }

            @Override
            public void flush() throws IOException {
              submit(target, new Bio(BioOp.FLUSH, 0, 0));
            }
          };
      apply(es, upTo, tornSectors, s);
      s.flush();
    } catch (IOException e) {
      throw new KernelException(Errno.EIO, e.getMessage());
    } finally {
      mem.allocator().putPage(pfn);
    }
  }

  private void submit(BlockDevice target, Bio b) throws IOException {
    int err = BioBatch.submitBioWait(mem.scheduler(), target, b);
    if (err != 0) {
      throw new IOException("replay onto " + target.name() + ": " + b + " failed with " + err);
    }
  }

  /** Entries {@code 0..upTo - 1} whole, then entry {@code upTo} whole or its first sectors. */
  private static void apply(List<Entry> es, long upTo, long tornSectors, Sink s)
      throws IOException {
    for (int i = 0; i <= upTo; i++) {
      Entry e = es.get(i);
      boolean torn = i == upTo && tornSectors >= 0;
      if (e.isWrite()) {
        int len = (int) ((torn ? tornSectors : e.nrSectors()) * SECTOR);
        if (len > 0) {
          s.write(e.sector(), e.data, len, (e.flags() & LOG_FUA_FLAG) != 0 && !torn);
        }
      }
      if (!torn && (e.flags() & LOG_FLUSH_FLAG) != 0) {
        s.flush();
      }
    }
  }

  private synchronized List<Entry> checkedEntries(long upTo) {
    if (upTo < -1 || upTo >= entries.size()) {
      throw new KernelException(
          Errno.EINVAL,
          name + ": replay up to entry " + upTo + " of a log of " + entries.size() + " entries");
    }
    return List.copyOf(entries.subList(0, (int) upTo + 1));
  }

  @Override
  public String toString() {
    return name + " (" + size() + " entries)";
  }
}
