package dev.refkern.block;

import dev.refkern.block.internal.disk.DiskEngine;
import dev.refkern.block.spi.BlockDevice;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * A disk backed by an image file, with a volatile write cache ({@code BLK_FEAT_WRITE_CACHE |
 * BLK_FEAT_FUA}): the model of a drive whose writes complete once they sit in its DRAM cache.
 *
 * <p>Semantics follow {@code block/blk-flush.c} and the drive behind it:
 *
 * <ul>
 *   <li>A completed WRITE sits in the cache; later reads see it; it is <em>not</em> durable.
 *   <li>{@code REQ_OP_FLUSH} writes every cached sector to the file and forces it ({@link
 *       FileChannel#force}, like {@code fdatasync}): every write completed before the flush is
 *       durable when the flush completes.
 *   <li>A write with {@code REQ_PREFLUSH} first flushes the cache (so every earlier completed write
 *       is durable before it), then is cached itself unless it also has {@code REQ_FUA}.
 *   <li>A write with {@code REQ_FUA} goes to the file and is forced before it completes; it is
 *       durable, the cache is not flushed.
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

  private record Cached(byte[] data, long writeId) {}

  private static final int SECTOR = Bio.SECTOR_SIZE;

  private final Path path;
  private final String name;
  private final long capacitySectors;
  private final DiskOptions opts;
  private final DiskEngine engine;
  private final TreeMap<Long, Cached> cache = new TreeMap<>();
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

  private FileDisk(PhysicalMemory mem, Path path, long capacitySectors, DiskOptions opts) {
    this.path = path;
    this.name = opts.name() != null ? opts.name() : String.valueOf(path.getFileName());
    this.capacitySectors = capacitySectors;
    this.opts = opts;
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
        ch.force(true);
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
        for (Map.Entry<Long, Cached> e : cache.entrySet()) {
          boolean reaches = mode == TearMode.TORN_SECTORS && rnd.nextBoolean();
          if (reaches) {
            try {
              writeFile(e.getKey(), e.getValue().data(), 0, SECTOR);
              persisted++;
            } catch (IOException ex) {
              reaches = false;
            }
          }
          if (!reaches) {
            lost++;
          }
          perWrite.computeIfAbsent(e.getValue().writeId(), k -> new long[2])[reaches ? 0 : 1]++;
        }
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
    return cache.size();
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
          readCached(sector, out);
        } else {
          try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            readFully(ch, sector, out);
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

  private void readCached(long sector, byte[] dst) throws IOException {
    readFully(channel, sector, dst);
    long end = sector + dst.length / SECTOR;
    for (Map.Entry<Long, Cached> e : cache.subMap(sector, end).entrySet()) {
      System.arraycopy(e.getValue().data(), 0, dst, (int) (e.getKey() - sector) * SECTOR, SECTOR);
    }
  }

  private static void readFully(FileChannel ch, long sector, byte[] dst) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(dst);
    long pos = sector * SECTOR;
    while (b.hasRemaining()) {
      int n = ch.read(b, pos + b.position());
      if (n < 0) {
        while (b.hasRemaining()) {
          b.put((byte) 0); // past the end of a shrunk image: zeros
        }
        break;
      }
    }
  }

  private void writeFile(long sector, byte[] src, int off, int len) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(src, off, len);
    long pos = sector * SECTOR - off;
    while (b.hasRemaining()) {
      channel.write(b, pos + b.position());
    }
    bytesToMedia += len;
  }

  /** Destages the cache, coalescing consecutive sectors, then forces the file. */
  private void doFlush() throws IOException {
    List<Long> run = new ArrayList<>();
    for (Map.Entry<Long, Cached> e : cache.entrySet()) {
      if (!run.isEmpty() && e.getKey() != run.get(run.size() - 1) + 1) {
        destage(run);
      }
      run.add(e.getKey());
    }
    destage(run);
    channel.force(false);
    cache.clear();
    flushes++;
  }

  private void destage(List<Long> run) throws IOException {
    if (run.isEmpty()) {
      return;
    }
    byte[] buf = new byte[run.size() * SECTOR];
    for (int i = 0; i < run.size(); i++) {
      System.arraycopy(cache.get(run.get(i)).data(), 0, buf, i * SECTOR, SECTOR);
    }
    writeFile(run.get(0), buf, 0, buf.length);
    run.clear();
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

    @Override
    public void read(long sector, byte[] dst) throws IOException {
      readCached(sector, dst);
    }

    @Override
    public void write(long sector, byte[] src, boolean fua) throws IOException {
      int n = src.length / SECTOR;
      if (fua || !opts.hasWriteCache()) {
        writeFile(sector, src, 0, src.length);
        channel.force(false);
        cache.subMap(sector, sector + n).clear(); // superseded, on the media now
        return;
      }
      long id = nextWriteId++;
      for (int i = 0; i < n; i++) {
        byte[] s = new byte[SECTOR];
        System.arraycopy(src, i * SECTOR, s, 0, SECTOR);
        cache.put(sector + i, new Cached(s, id));
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
