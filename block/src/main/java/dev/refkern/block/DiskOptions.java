package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.sched.Workqueue;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * How a simulated disk ({@link RamDisk}, {@link FileDisk}) is set up, the model's {@code struct
 * queue_limits} plus its driver's module parameters: its name, whether it carries protection
 * information ({@code blk_integrity}), whether it bounces written data at submission, whether it
 * has a volatile write cache, and when it <em>consumes</em> a submitted bio.
 *
 * <p>Immutable; every setter returns a copy. {@link #defaults()}: no integrity, no bounce, a write
 * cache, synchronous consumption inside {@code submit_bio()} (like {@code brd}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class DiskOptions {

  /** When the device consumes a bio: copies its data to or from its media or cache. */
  public enum Consumption {
    /** Inside {@link BlockDevice#submitBio}, like {@code brd}. */
    SYNCHRONOUS,
    /** In a work item on the workqueue given to {@link #asyncCompletion}, in submission order. */
    WORKQUEUE,
    /** Only when the test calls {@code consume()}/{@code consumeAll()} on the device. */
    MANUAL
  }

  /** The write cache of a drive of the model's era: 64 MiB. */
  public static final long DEFAULT_WRITE_CACHE_BYTES = 64L << 20;

  private String name;
  private boolean integrity;
  private boolean bounce;
  private boolean writeCache = true;
  private long writeCacheBytes = DEFAULT_WRITE_CACHE_BYTES;
  private Consumption consumption = Consumption.SYNCHRONOUS;
  private Workqueue workqueue;
  private boolean hostSync = true;

  private DiskOptions() {}

  private DiskOptions copy() {
    DiskOptions o = new DiskOptions();
    o.name = name;
    o.integrity = integrity;
    o.bounce = bounce;
    o.writeCache = writeCache;
    o.writeCacheBytes = writeCacheBytes;
    o.consumption = consumption;
    o.workqueue = workqueue;
    o.hostSync = hostSync;
    return o;
  }

  /** No integrity, no bounce, a write cache, synchronous consumption, the device's default name. */
  public static DiskOptions defaults() {
    return new DiskOptions();
  }

  /** The disk name ({@code disk->disk_name}); null keeps the device's default. */
  public DiskOptions name(String name) {
    DiskOptions o = copy();
    o.name = name;
    return o;
  }

  /**
   * Protection information on writes ({@code blk_integrity_register()}, see {@link Integrity}); the
   * device then advertises {@code BLK_FEAT_STABLE_WRITES}.
   */
  public DiskOptions integrity(boolean on) {
    DiskOptions o = copy();
    o.integrity = on;
    return o;
  }

  /**
   * Copies a write's data at submission into bounce pages ({@code blk_queue_bounce()}), so changes
   * to the pages after submission do not reach the device; the device reads the bounce pages and
   * they are freed at completion.
   */
  public DiskOptions bounce(boolean on) {
    DiskOptions o = copy();
    o.bounce = on;
    return o;
  }

  /**
   * Whether a {@link FileDisk} has a volatile write cache ({@code BLK_FEAT_WRITE_CACHE | FUA}).
   * Without one every write is durable when it completes and FLUSH has nothing to do. A {@link
   * RamDisk} ignores it (it has no cache and nothing is durable).
   */
  public DiskOptions writeCache(boolean on) {
    DiskOptions o = copy();
    o.writeCache = on;
    return o;
  }

  /**
   * The size of a {@link FileDisk}'s write cache (default {@value #DEFAULT_WRITE_CACHE_BYTES}
   * bytes). When a write finds it full, the drive destages every cached sector to the media first,
   * as a drive does on its own: those sectors become durable without a FLUSH.
   *
   * @throws KernelException {@code EINVAL} unless a positive multiple of 4 KiB
   */
  public DiskOptions writeCacheSize(long bytes) {
    if (bytes <= 0 || bytes % Page.PAGE_SIZE != 0 || bytes / Page.PAGE_SIZE > 1 << 24) {
      throw new KernelException(
          Errno.EINVAL, "write cache of " + bytes + " bytes: need 4 KiB .. 64 GiB in whole pages");
    }
    DiskOptions o = copy();
    o.writeCacheBytes = bytes;
    return o;
  }

  /**
   * Consumes each bio later, in a work item of {@code wq} ({@code blk_mq_run_hw_queues()} from a
   * kblockd-like workqueue), in submission order; completion follows consumption.
   */
  public DiskOptions asyncCompletion(Workqueue wq) {
    DiskOptions o = copy();
    o.consumption = Consumption.WORKQUEUE;
    o.workqueue = Objects.requireNonNull(wq);
    return o;
  }

  /** Holds every bio until the device's {@code consume()}/{@code consumeAll()} is called. */
  public DiskOptions manualConsumption() {
    DiskOptions o = copy();
    o.consumption = Consumption.MANUAL;
    o.workqueue = null;
    return o;
  }

  /**
   * Whether a {@link FileDisk} forces its image file to the host's storage ({@link
   * java.nio.channels.FileChannel#force}) where the drive makes data durable: FLUSH, FUA, creation
   * (default true). The model's durability is the write cache's: a {@link FileDisk#powerCut} loses
   * the same sectors either way, and a later open of the image on the same host reads the same
   * bytes. Off, a crash of the host itself may lose the image; for throwaway images (the lab's
   * cells), where a host fsync per FLUSH was most of a cell's wall time.
   */
  public DiskOptions hostSync(boolean on) {
    DiskOptions o = copy();
    o.hostSync = on;
    return o;
  }

  /** Whether a {@link FileDisk} forces its image file at FLUSH, FUA and creation. */
  public boolean hasHostSync() {
    return hostSync;
  }

  /** The configured name, or null for the device's default. */
  public String name() {
    return name;
  }

  public boolean hasIntegrity() {
    return integrity;
  }

  public boolean bounces() {
    return bounce;
  }

  public boolean hasWriteCache() {
    return writeCache;
  }

  /** The write cache's size in bytes (meaningful with {@link #hasWriteCache()}). */
  public long writeCacheBytes() {
    return writeCacheBytes;
  }

  public Consumption consumption() {
    return consumption;
  }

  /** The workqueue for {@link Consumption#WORKQUEUE}, else null. */
  public Workqueue workqueue() {
    return workqueue;
  }

  @Override
  public String toString() {
    return "DiskOptions[name="
        + name
        + ", integrity="
        + integrity
        + ", bounce="
        + bounce
        + ", writeCache="
        + writeCache
        + ", writeCacheBytes="
        + writeCacheBytes
        + ", consumption="
        + consumption
        + "]";
  }
}
