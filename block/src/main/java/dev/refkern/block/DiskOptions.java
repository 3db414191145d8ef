package dev.refkern.block;

import dev.refkern.mm.sched.Workqueue;
import java.util.Objects;

/**
 * How a simulated disk ({@link RamDisk}, {@link FileDisk}) is set up, the model's {@code struct
 * queue_limits} plus its driver's module parameters: its name, whether it carries protection
 * information ({@code blk_integrity}), whether it bounces written data at submission, whether it
 * has a volatile write cache, and when it <em>consumes</em> a submitted bio.
 *
 * <p>Immutable; every setter returns a copy. {@link #defaults()}: no integrity, no bounce, a write
 * cache, synchronous consumption inside {@code submit_bio()} (like {@code brd}).
 */
public final class DiskOptions {

  /** When the device consumes a bio: copies its data to or from its media or cache. */
  public enum Consumption {
    /** Inside {@link dev.refkern.block.spi.BlockDevice#submitBio}, like {@code brd}. */
    SYNCHRONOUS,
    /** In a work item on the workqueue given to {@link #asyncCompletion}, in submission order. */
    WORKQUEUE,
    /** Only when the test calls {@code consume()}/{@code consumeAll()} on the device. */
    MANUAL
  }

  private final String name;
  private final boolean integrity;
  private final boolean bounce;
  private final boolean writeCache;
  private final Consumption consumption;
  private final Workqueue workqueue;

  private DiskOptions(
      String name,
      boolean integrity,
      boolean bounce,
      boolean writeCache,
      Consumption consumption,
      Workqueue workqueue) {
    this.name = name;
    this.integrity = integrity;
    this.bounce = bounce;
    this.writeCache = writeCache;
    this.consumption = consumption;
    this.workqueue = workqueue;
  }

  /** No integrity, no bounce, a write cache, synchronous consumption, the device's default name. */
  public static DiskOptions defaults() {
    return new DiskOptions(null, false, false, true, Consumption.SYNCHRONOUS, null);
  }

  /** The disk name ({@code disk->disk_name}); null keeps the device's default. */
  public DiskOptions name(String name) {
    return new DiskOptions(name, integrity, bounce, writeCache, consumption, workqueue);
  }

  /**
   * Protection information on writes ({@code blk_integrity_register()}, see {@link Integrity}); the
   * device then advertises {@code BLK_FEAT_STABLE_WRITES}.
   */
  public DiskOptions integrity(boolean on) {
    return new DiskOptions(name, on, bounce, writeCache, consumption, workqueue);
  }

  /**
   * Copies a write's data at submission into a private buffer ({@code bounce buffer}), so changes
   * to the pages after submission do not reach the device.
   */
  public DiskOptions bounce(boolean on) {
    return new DiskOptions(name, integrity, on, writeCache, consumption, workqueue);
  }

  /**
   * Whether a {@link FileDisk} has a volatile write cache ({@code BLK_FEAT_WRITE_CACHE | FUA}).
   * Without one every write is durable when it completes and FLUSH has nothing to do. A {@link
   * RamDisk} ignores it (it has no cache and nothing is durable).
   */
  public DiskOptions writeCache(boolean on) {
    return new DiskOptions(name, integrity, bounce, on, consumption, workqueue);
  }

  /**
   * Consumes each bio later, in a work item of {@code wq} ({@code blk_mq_run_hw_queues()} from a
   * kblockd-like workqueue), in submission order; completion follows consumption.
   */
  public DiskOptions asyncCompletion(Workqueue wq) {
    return new DiskOptions(
        name, integrity, bounce, writeCache, Consumption.WORKQUEUE, Objects.requireNonNull(wq));
  }

  /** Holds every bio until the device's {@code consume()}/{@code consumeAll()} is called. */
  public DiskOptions manualConsumption() {
    return new DiskOptions(name, integrity, bounce, writeCache, Consumption.MANUAL, null);
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
        + ", consumption="
        + consumption
        + "]";
  }
}
