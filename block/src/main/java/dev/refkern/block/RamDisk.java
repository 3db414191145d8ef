package dev.refkern.block;

import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageMemory;
import dev.refkern.mm.PhysicalMemory;
import org.apiguardian.api.API;

/**
 * A RAM disk ({@code drivers/block/brd.c}): {@code capacitySectors} sectors held in memory, one 4
 * KiB page allocated on the first write to it ({@code brd_insert_page()}); a sector never written
 * reads as zeros. READ copies device to page, WRITE page to device, FLUSH, {@code REQ_PREFLUSH} and
 * {@code REQ_FUA} have nothing to do (nothing is durable, nothing is cached).
 *
 * <p>A bio past the capacity or with a segment that is not whole sectors completes with {@code
 * -EIO}. Completion runs in completion context through the machine's scheduler. By default a bio is
 * consumed and completed inside {@link #submitBio} like {@code brd}'s; {@link DiskOptions} can
 * defer consumption (to a workqueue, or to {@link #consume()}) and add {@link Integrity} or a
 * bounce copy.
 *
 * <p>Unlike {@code brd}, whose pages come from the page allocator, the contents live on the Java
 * heap: the RAM disk does not use the simulated machine's memory. Bounce pages do: {@link #close()}
 * frees the ones it keeps for reuse.
 */
@API(status = STABLE, since = "0.1.0")
public final class RamDisk implements BlockDevice {
  private static final int SECTORS_PER_PAGE = Page.PAGE_SIZE / Bio.SECTOR_SIZE;

  private final String name;
  private final long capacitySectors;
  private final DiskOptions opts;
  private static final int DIR_SHIFT = 10;
  // the pages of contents, radix-indexed by page number (brd's xarray); guarded by this
  private final byte[][][] pages;
  private long pagesAllocated;
  private final DiskEngine engine;
  private final PageMemory ram;
  private static final byte[] ZEROS = new byte[Page.PAGE_SIZE];

  /** A RAM disk {@code ram0} of {@code capacitySectors} with {@link DiskOptions#defaults()}. */
  public RamDisk(PhysicalMemory mem, long capacitySectors) {
    this(mem, capacitySectors, DiskOptions.defaults());
  }

  /**
   * A RAM disk of {@code capacitySectors} 512-byte sectors ({@code brd_alloc()}).
   *
   * @throws KernelException {@code EINVAL} for a negative capacity
   */
  public RamDisk(PhysicalMemory mem, long capacitySectors, DiskOptions opts) {
    if (capacitySectors < 0) {
      throw new KernelException(Errno.EINVAL, "brd: negative capacity " + capacitySectors);
    }
    this.name = opts.name() != null ? opts.name() : "ram0";
    this.capacitySectors = capacitySectors;
    this.opts = opts;
    long nrPages = (capacitySectors + SECTORS_PER_PAGE - 1) / SECTORS_PER_PAGE;
    this.pages = new byte[Math.toIntExact((nrPages >>> DIR_SHIFT) + 1)][][];
    this.ram = mem.ram();
    this.engine = new DiskEngine(this, mem, opts, capacitySectors, new Media());
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long capacitySectors() {
    return capacitySectors;
  }

  /** {@code BLK_FEAT_STABLE_WRITES} when it has integrity; never a write cache or FUA. */
  @Override
  public int features() {
    return opts.hasIntegrity() ? BLK_FEAT_STABLE_WRITES : 0;
  }

  /** {@code brd_submit_bio()}. */
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

  /** Writes whose protection information did not match the data the device consumed. */
  public long integrityErrors() {
    return engine.integrityErrors();
  }

  /** Bytes copied into bounce buffers at submission. */
  public long bytesBounced() {
    return engine.bytesBounced();
  }

  /** Bytes accepted from writes. */
  public long bytesWritten() {
    return engine.bytesWritten();
  }

  /** Bytes delivered to pages by reads. */
  public long bytesRead() {
    return engine.bytesRead();
  }

  /** Pages of contents allocated so far. */
  public synchronized long pagesAllocated() {
    return pagesAllocated;
  }

  /** Bounce pages the device holds (kept for reuse or in flight); see {@link #close()}. */
  public long bouncePages() {
    return engine.bouncePages();
  }

  /**
   * Frees the bounce pages kept for reuse ({@code brd_cleanup()}); the contents stay, and the disk
   * remains usable.
   */
  public void close() {
    engine.releaseBouncePool();
  }

  /**
   * The device's contents at {@code sector}, {@code count} sectors, read behind the block layer's
   * back (a test's view of the media).
   *
   * @throws KernelException {@code EINVAL} outside the capacity
   */
  public byte[] peek(long sector, int count) {
    if (sector < 0 || count < 0 || sector > capacitySectors || count > capacitySectors - sector) {
      throw new KernelException(Errno.EINVAL, "peek outside " + name);
    }
    byte[] out = new byte[count * Bio.SECTOR_SIZE];
    synchronized (this) {
      copyOut(sector, out);
    }
    return out;
  }

  /** The contents page {@code idx}, allocated on first write ({@code brd_insert_page()}). */
  private byte[] page(long idx, boolean create) {
    int d = (int) (idx >>> DIR_SHIFT);
    int i = (int) (idx & ((1 << DIR_SHIFT) - 1));
    byte[][] dir = pages[d];
    if (dir == null) {
      if (!create) {
        return null;
      }
      dir = pages[d] = new byte[1 << DIR_SHIFT][];
    }
    byte[] page = dir[i];
    if (page == null && create) {
      page = dir[i] = new byte[Page.PAGE_SIZE];
      pagesAllocated++;
    }
    return page;
  }

  /** Copies the contents from {@code sector} into {@code buf}; unwritten sectors are zeros. */
  private void copyOut(long sector, byte[] buf) {
    int pos = 0;
    while (pos < buf.length) {
      long s = sector + pos / Bio.SECTOR_SIZE;
      int off = (int) (s % SECTORS_PER_PAGE) * Bio.SECTOR_SIZE;
      int n = Math.min(Page.PAGE_SIZE - off, buf.length - pos);
      byte[] page = page(s / SECTORS_PER_PAGE, false);
      if (page == null) {
        java.util.Arrays.fill(buf, pos, pos + n, (byte) 0);
      } else {
        System.arraycopy(page, off, buf, pos, n);
      }
      pos += n;
    }
  }

  /** The device's DMA: copies between its contents and the segments' pages. */
  private void transfer(long sector, Segments segs, boolean toDevice) {
    long pos = sector * Bio.SECTOR_SIZE; // byte position on the device
    for (int i = 0; i < segs.count(); i++) {
      long pfn = segs.pfn(i);
      int off = segs.offset(i);
      int left = segs.len(i);
      while (left > 0) {
        int devOff = (int) (pos % Page.PAGE_SIZE);
        int n = Math.min(Page.PAGE_SIZE - devOff, left);
        byte[] page = page(pos / Page.PAGE_SIZE, toDevice);
        if (toDevice) {
          ram.read(pfn, off, page, devOff, n);
        } else if (page == null) {
          ram.write(pfn, off, ZEROS, 0, n);
        } else {
          ram.write(pfn, off, page, devOff, n);
        }
        pos += n;
        off += n;
        left -= n;
      }
    }
  }

  @Override
  public String toString() {
    return name + " (brd, " + capacitySectors + " sectors)";
  }

  private final class Media implements DiskEngine.Media {
    @Override
    public boolean online() {
      return true;
    }

    @Override
    public void read(long sector, Segments dst) {
      transfer(sector, dst, false);
    }

    @Override
    public void write(long sector, Segments src, boolean fua) {
      transfer(sector, src, true);
    }

    @Override
    public void flush() {}
  }
}
