package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageMemory;
import dev.refkern.mm.PhysicalMemory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apiguardian.api.API;

/**
 * A disk backed by an image file, with a volatile write cache ({@code BLK_FEAT_WRITE_CACHE |
 * BLK_FEAT_FUA}): the model of a drive whose writes complete once they sit in its DRAM cache.
 *
 * <p>Semantics follow {@code block/blk-flush.c} and the drive behind it:
 *
 * <ul>
 *   <li>A completed WRITE sits in the cache; later reads see it; it is <em>not</em> durable.
 *   <li>{@code REQ_OP_FLUSH} writes every cached sector to the file and forces it ({@link
 *       FileChannel#force}, like {@code fdatasync}, unless {@link DiskOptions#hostSync} is off):
 *       every write completed before the flush is durable when the flush completes.
 *   <li>A write with {@code REQ_PREFLUSH} first flushes the cache (so every earlier completed write
 *       is durable before it), then is cached itself unless it also has {@code REQ_FUA}.
 *   <li>A write with {@code REQ_FUA} goes to the file and is forced before it completes; it is
 *       durable, the cache is not flushed.
 *   <li>The cache holds {@link DiskOptions#writeCacheSize} bytes; a write that finds it full first
 *       destages all of it to the file, as a drive does on its own ({@link #destages()}): those
 *       sectors are durable without a FLUSH.
 *   <li>{@link #powerCut} loses the cache; the device goes offline (every bio fails with {@code
 *       -EIO}, bios queued and not consumed complete with {@code -EIO}) until {@link #reopen()},
 *       which sees exactly the file.
 * </ul>
 *
 * <p>With {@link DiskOptions#writeCache(boolean) writeCache(false)} the disk is write-through: no
 * cache, every write durable at completion, FLUSH/PREFLUSH/FUA have nothing to do (the block layer
 * would strip them) and it advertises neither feature.
 *
 * <p>{@link #close()} is a clean shutdown: it consumes the bios still queued, flushes the cache and
 * closes the file (the kernel's {@code sd_shutdown()} sends SYNCHRONIZE CACHE). To lose the cache
 * instead, call {@link #powerCut} first.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class FileDisk implements BlockDevice, AutoCloseable {

  /**
   * What reaches the media of the cached, unflushed writes at a power cut.
   *
   * <p>A real drive guarantees only <em>sector atomicity</em>: a logical sector is found entirely
   * old or entirely new after power loss (the atomic write unit, NVMe's AWUPF; refkern's sector is
   * 512 bytes). It guarantees nothing about unflushed writes as a whole: any subset of their
   * sectors may have been destaged, in any order, so a multi-sector write may be torn and a later
   * write may survive while an earlier one is lost. Only what a FLUSH or FUA made durable is
   * guaranteed.
   */
  public enum TearMode {
    /** The cache vanished before any unflushed sector reached the media. */
    DROP_ALL,
    /**
     * Each unflushed sector independently reached the media or not (a seeded coin per sector), so
     * multi-sector writes are torn at sector granularity.
     */
    TORN_SECTORS
  }

  /**
   * What one power cut did to the writes that were completed but not yet durable.
   *
   * @param writesLost writes with at least one sector that did not reach the media
   * @param writesTorn writes of which some sectors reached the media and some did not
   * @param sectorsLost cached sectors that did not reach the media
   * @param sectorsPersisted cached sectors that reached the media during the cut
   * @param biosFailed bios queued, not yet consumed, that completed with {@code -EIO}
   */
  public record PowerCut(
      long writesLost, long writesTorn, long sectorsLost, long sectorsPersisted, int biosFailed) {}

  private static final int SECTOR = Bio.SECTOR_SIZE;
  private static final int SCRATCH_MIN = 256 << 10;

  private final Path path;
  private final String name;
  private final long capacitySectors;
  private final DiskOptions opts;
  private final DiskEngine engine;
  private final WriteCache cache;
  private final PageMemory ram;
  private ByteBuffer scratch = ByteBuffer.allocateDirect(SCRATCH_MIN);
  private ByteBuffer[] iov = new ByteBuffer[64];
  private FileChannel channel;
  private boolean online;
  private boolean closed;
  private long nextWriteId;
  private long flushes;
  private long bytesToMedia;
  private long writesLost;
  private long writesTorn;
  private long sectorsLost;
  private long powerCuts;
  private long destages;

  private FileDisk(PhysicalMemory mem, Path path, long capacitySectors, DiskOptions opts) {
    this.path = path;
    this.name = opts.name() != null ? opts.name() : String.valueOf(path.getFileName());
    this.capacitySectors = capacitySectors;
    this.opts = opts;
    this.ram = mem.ram();
    long devicePages = (capacitySectors * SECTOR + Page.PAGE_SIZE - 1) / Page.PAGE_SIZE;
    this.cache =
        new WriteCache(
            opts.hasWriteCache()
                ? (int) Math.min(opts.writeCacheBytes() / Page.PAGE_SIZE, devicePages + 1)
                : 0,
            devicePages);
    this.engine = new DiskEngine(this, mem, opts, capacitySectors, new Media());
  }

  /**
   * Creates the image {@code file} with {@code capacitySectors} zeroed sectors, replacing any file
   * there, and opens it.
   *
   * @throws KernelException {@code EINVAL} for a negative capacity, {@code EIO} if the file cannot
   *     be created
   */
  public static FileDisk create(
      PhysicalMemory mem, Path file, long capacitySectors, DiskOptions opts) {
    if (capacitySectors < 0) {
      throw new KernelException(Errno.EINVAL, "negative capacity " + capacitySectors);
    }
    try {
      Files.deleteIfExists(file);
      try (FileChannel ch =
          FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        if (capacitySectors > 0) {
          ch.write(ByteBuffer.allocate(1), capacitySectors * SECTOR - 1);
        }
        if (opts.hasHostSync()) {
          ch.force(true);
        }
      }
    } catch (IOException e) {
      throw new KernelException(Errno.EIO, "cannot create " + file + ": " + e.getMessage());
    }
    return open(mem, file, opts);
  }

  /**
   * Opens an existing image {@code file}; the capacity is its size in sectors.
   *
   * @throws KernelException {@code ENOENT} if it does not exist, {@code EINVAL} if its size is not
   *     whole sectors, {@code EIO} if it cannot be opened
   */
  public static FileDisk open(PhysicalMemory mem, Path file, DiskOptions opts) {
    long size;
    try {
      size = Files.size(file);
    } catch (NoSuchFileException e) {
      throw new KernelException(Errno.ENOENT, "no disk image " + file);
    } catch (IOException e) {
      throw new KernelException(Errno.EIO, "cannot open " + file + ": " + e.getMessage());
    }
    if (size % SECTOR != 0) {
      throw new KernelException(Errno.EINVAL, file + ": size " + size + " is not whole sectors");
    }
    FileDisk d = new FileDisk(mem, file, size / SECTOR, opts);
    d.openChannel();
    return d;
  }

  private synchronized void openChannel() {
    try {
      channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new KernelException(Errno.EIO, "cannot open " + path + ": " + e.getMessage());
    }
    online = true;
    closed = false;
  }

  @Override
  public String name() {
    return name;
  }

  /** The image file. */
  public Path path() {
    return path;
  }

  @Override
  public long capacitySectors() {
    return capacitySectors;
  }

  /** {@code WRITE_CACHE | FUA} with a write cache, plus {@code STABLE_WRITES} with integrity. */
  @Override
  public int features() {
    int f = opts.hasWriteCache() ? BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA : 0;
    return opts.hasIntegrity() ? f | BLK_FEAT_STABLE_WRITES : f;
  }

  @Override
  public void submitBio(Bio bio) {
    engine.submit(bio);
  }

  /** Consumes the oldest bio not yet consumed and completes it; false if there was none. */
  public boolean consume() {
    return engine.consume();
  }

  /** Consumes every bio not yet consumed; returns how many. */
  public int consumeAll() {
    return engine.consumeAll();
  }

  /** Bios submitted and not yet consumed. */
  public int pendingBios() {
    return engine.pending();
  }

  /** Whether bios are served (false after a power cut or close, until {@link #reopen()}). */
  public synchronized boolean online() {
    return online;
  }

  /** {@link #powerCut(TearMode, long) powerCut(DROP_ALL, 0)}: every unflushed write is lost. */
  public PowerCut powerCut() {
    return powerCut(TearMode.DROP_ALL, 0);
  }

  /**
   * Cuts the power: the cache is lost except the sectors {@code mode} lets reach the file ({@code
   * seed} picks them for {@link TearMode#TORN_SECTORS}); bios queued and not consumed complete with
   * {@code -EIO}; the device stays offline until {@link #reopen()}. A cut while offline loses
   * nothing.
   */
  public PowerCut powerCut(TearMode mode, long seed) {
    List<Bio> failed;
    PowerCut result;
    synchronized (this) {
      failed = engine.drain();
      long persisted = 0;
      long lost = 0;
      Map<Long, long[]> perWrite = new HashMap<>(); // writeId -> {persisted, lost}
      if (online) {
        Random rnd = new Random(seed);
        long[] counts = new long[2]; // persisted, lost
        cache.forEach(
            (sector, writeId, data, index) -> {
              boolean reaches = mode == TearMode.TORN_SECTORS && rnd.nextBoolean();
              if (reaches) {
                try {
                  writeFile(sector * SECTOR, data, index, SECTOR);
                } catch (IOException ex) {
                  reaches = false;
                }
              }
              counts[reaches ? 0 : 1]++;
              perWrite.computeIfAbsent(writeId, k -> new long[2])[reaches ? 0 : 1]++;
            });
        persisted = counts[0];
        lost = counts[1];
      }
      long wl = 0;
      long wt = 0;
      for (long[] c : perWrite.values()) {
        if (c[1] > 0) {
          wl++;
          if (c[0] > 0) {
            wt++;
          }
        }
      }
      cache.clear();
      closeChannel();
      online = false;
      powerCuts++;
      writesLost += wl;
      writesTorn += wt;
      sectorsLost += lost;
      result = new PowerCut(wl, wt, lost, persisted, failed.size());
    }
    engine.fail(failed);
    return result;
  }

  /**
   * Brings the device back after a power cut or a close, with an empty cache: it sees exactly the
   * file's contents.
   *
   * @throws KernelException {@code EBUSY} if it is online
   */
  public void reopen() {
    synchronized (this) {
      if (online) {
        throw new KernelException(Errno.EBUSY, name + " is online");
      }
      cache.clear();
      openChannel();
    }
  }

  /**
   * Clean shutdown: consumes the bios still queued, flushes the cache to the file and closes it.
   * Idempotent; the device is offline afterwards (bios fail with {@code -EIO}) until {@link
   * #reopen()}.
   */
  @Override
  public void close() {
    if (online()) {
      engine.consumeAll();
    }
    List<Bio> failed;
    synchronized (this) {
      failed = engine.drain();
      if (online) {
        try {
          doFlush();
        } catch (IOException e) {
          // the file is closed below; what did not reach it is lost, as on a failing drive
        }
      }
      closeChannel();
      online = false;
      closed = true;
    }
    engine.fail(failed);
    engine.releaseBouncePool();
  }

  /** Whether {@link #close()} was called and no {@link #reopen()} since. */
  public synchronized boolean closed() {
    return closed;
  }

  /** Flushes executed ({@code REQ_OP_FLUSH}, {@code REQ_PREFLUSH}, the one in {@link #close()}). */
  public synchronized long flushes() {
    return flushes;
  }

  /** Bytes written to the file (the media): destaged by flushes, FUA, write-through, tears. */
  public synchronized long bytesWrittenToMedia() {
    return bytesToMedia;
  }

  /** Over every power cut: completed writes of which some sector was lost. */
  public synchronized long writesLostAtPowerCut() {
    return writesLost;
  }

  /** Over every power cut: completed writes of which some sectors reached the media, some not. */
  public synchronized long writesTornAtPowerCut() {
    return writesTorn;
  }

  /** Over every power cut: cached sectors lost. */
  public synchronized long sectorsLostAtPowerCut() {
    return sectorsLost;
  }

  public synchronized long powerCuts() {
    return powerCuts;
  }

  /** Sectors in the write cache, not yet durable. */
  public synchronized long dirtySectors() {
    return cache.sectors();
  }

  /** Times a write found the cache full and the drive destaged it (no FLUSH asked). */
  public synchronized long destages() {
    return destages;
  }

  /** Writes whose protection information did not match the data the device consumed. */
  public long integrityErrors() {
    return engine.integrityErrors();
  }

  /** Bytes copied into bounce buffers at submission. */
  public long bytesBounced() {
    return engine.bytesBounced();
  }

  /**
   * What a read of {@code count} sectors at {@code sector} would return now (cache over file),
   * without a bio; reads the file directly while offline.
   *
   * @throws KernelException {@code EINVAL} outside the capacity, {@code EIO} if the file cannot be
   *     read
   */
  public byte[] peek(long sector, int count) {
    if (sector < 0 || count < 0 || sector > capacitySectors || count > capacitySectors - sector) {
      throw new KernelException(Errno.EINVAL, "peek outside " + name);
    }
    byte[] out = new byte[count * SECTOR];
    synchronized (this) {
      try {
        if (channel != null) {
          ByteBuffer b = readRange(sector, count);
          b.get(0, out);
        } else {
          try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            readFully(ch, sector, ByteBuffer.wrap(out));
          }
        }
      } catch (IOException e) {
        throw new KernelException(Errno.EIO, "cannot read " + path + ": " + e.getMessage());
      }
    }
    return out;
  }

  @Override
  public String toString() {
    return name + " (file " + path + ", " + capacitySectors + " sectors)";
  }

  // ---- media, all under the lock -------------------------------------------------------------

  /** The scratch buffer, at least {@code bytes} long, cleared. */
  private ByteBuffer scratch(long bytes) {
    if (scratch.capacity() < bytes) {
      scratch =
          ByteBuffer.allocateDirect(Math.toIntExact(Math.max(bytes, 2L * scratch.capacity())));
    }
    return scratch.clear();
  }

  /** What the device holds for {@code count} sectors from {@code sector}, cache over file. */
  private ByteBuffer readRange(long sector, long count) throws IOException {
    int len = Math.toIntExact(count * SECTOR);
    ByteBuffer b = scratch(len).limit(len);
    readFully(channel, sector, b);
    cache.overlay(sector, count, b);
    return b;
  }

  /** Fills {@code b} from the file at {@code sector}; past the end of a shrunk image: zeros. */
  private static void readFully(FileChannel ch, long sector, ByteBuffer b) throws IOException {
    long pos = sector * SECTOR;
    while (b.hasRemaining()) {
      if (ch.read(b, pos + b.position()) < 0) {
        while (b.hasRemaining()) {
          b.put((byte) 0);
        }
      }
    }
  }

  /** Writes {@code len} bytes of {@code src} from {@code index} to the file at {@code pos}. */
  private void writeFile(long pos, ByteBuffer src, int index, int len) throws IOException {
    ByteBuffer b = src.duplicate().limit(index + len).position(index);
    while (b.hasRemaining()) {
      channel.write(b, pos + b.position() - index);
    }
    bytesToMedia += len;
  }

  /** Destages the whole cache to the file, coalescing consecutive sectors into one write each. */
  private void destageAll() throws IOException {
    Destage d = new Destage(scratch(SCRATCH_MIN));
    cache.forEach(d);
    d.finish();
    cache.clear();
  }

  /**
   * Gathers cached sectors into runs of consecutive device sectors, one file write each. Sectors
   * that also lie back to back in the cache's memory (a page's eight, often whole slots) are copied
   * in one go: a copy per sector was the largest cost of a buffered write's path to the file.
   */
  private final class Destage implements WriteCache.SectorSink<IOException> {
    private final ByteBuffer run;
    private long start = -1; // the run's first sector
    private int have; // sectors in the run, copied or pending
    private ByteBuffer from; // the pending span not yet copied into the run
    private int fromIndex;
    private int pending;

    Destage(ByteBuffer run) {
      this.run = run;
    }

    @Override
    public void sector(long sector, long writeId, ByteBuffer data, int index) throws IOException {
      if (have > 0 && (sector != start + have || have * SECTOR == run.capacity())) {
        finish();
      }
      if (have == 0) {
        start = sector;
      }
      if (pending > 0 && (data != from || index != fromIndex + pending)) {
        copyPending();
      }
      if (pending == 0) {
        from = data;
        fromIndex = index;
      }
      pending += SECTOR;
      have++;
    }

    private void copyPending() {
      run.put(run.position(), from, fromIndex, pending).position(run.position() + pending);
      pending = 0;
    }

    /** Writes the run gathered so far. */
    void finish() throws IOException {
      if (pending > 0) {
        copyPending();
      }
      if (run.position() > 0) {
        writeFile(start * SECTOR, run, 0, run.position());
      }
      run.clear();
      have = 0;
    }
  }

  /** {@code REQ_OP_FLUSH}: destages the cache, then forces the file. */
  private void doFlush() throws IOException {
    destageAll();
    hostSync();
    flushes++;
  }

  /** Forces the image to the host's storage, unless the options turned that off. */
  private void hostSync() throws IOException {
    if (opts.hasHostSync()) {
      channel.force(false);
    }
  }

  private void closeChannel() {
    if (channel != null) {
      try {
        channel.close();
      } catch (IOException e) {
        // nothing left to lose
      }
      channel = null;
    }
  }

  private final class Media implements DiskEngine.Media {
    @Override
    public boolean online() {
      return online;
    }

    /**
     * One scattering read from the file straight into the pages (a {@code readv} whose iovecs are
     * the segments, one view each), then the cached sectors over them.
     */
    @Override
    public void read(long sector, Segments dst) throws IOException {
      int n = dst.count();
      if (iov.length < n) {
        iov = new ByteBuffer[Math.max(n, 2 * iov.length)];
      }
      for (int i = 0; i < n; i++) {
        iov[i] = ram.kmapLocal(dst.pfn(i), dst.offset(i), dst.len(i));
      }
      try {
        channel.position(sector * SECTOR);
        for (long left = dst.bytes(); left > 0; ) {
          long got = channel.read(iov, 0, n);
          if (got < 0) {
            for (int i = 0; i < n; i++) {
              while (iov[i].hasRemaining()) {
                iov[i].put((byte) 0); // past the end of a shrunk image: zeros
              }
            }
            break;
          }
          left -= got;
        }
      } finally {
        java.util.Arrays.fill(iov, 0, n, null);
      }
      long s = sector;
      for (int i = 0; i < n; i++) {
        long pfn = dst.pfn(i);
        int off = dst.offset(i);
        long first = s;
        cache.forEachIn(
            first,
            dst.len(i) / SECTOR,
            (t, id, data, index) ->
                ram.write(pfn, off + (int) (t - first) * SECTOR, data, index, SECTOR));
        s += dst.len(i) / SECTOR;
      }
    }

    @Override
    public void write(long sector, Segments src, boolean fua) throws IOException {
      long bytes = src.bytes();
      if (fua || !opts.hasWriteCache()) {
        ByteBuffer b = scratch(bytes);
        int pos = 0;
        for (int i = 0; i < src.count(); i++) {
          ram.read(src.pfn(i), src.offset(i), b, pos, src.len(i));
          pos += src.len(i);
        }
        writeFile(sector * SECTOR, b, 0, pos);
        hostSync();
        cache.invalidate(sector, bytes / SECTOR); // superseded, on the media now
        return;
      }
      long id = nextWriteId++;
      long pos = sector * SECTOR;
      for (int i = 0; i < src.count(); i++) {
        long pfn = src.pfn(i);
        int off = src.offset(i);
        int left = src.len(i);
        while (left > 0) {
          int n = Math.min(Page.PAGE_SIZE - (int) (pos % Page.PAGE_SIZE), left);
          if (!cache.put(pos, ram, pfn, off, n, id)) {
            destageAll(); // full: the drive writes its cache to the media by itself
            destages++;
            continue;
          }
          pos += n;
          off += n;
          left -= n;
        }
      }
    }

    @Override
    public void flush() throws IOException {
      if (opts.hasWriteCache()) {
        doFlush();
      }
    }
  }
}
