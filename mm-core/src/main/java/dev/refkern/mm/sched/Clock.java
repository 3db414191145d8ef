package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** The kernel's tick counter, {@code jiffies}, at {@code HZ} ticks a second. */
@API(status = STABLE, since = "0.1.0")
public interface Clock {

  /** Ticks per second, {@code CONFIG_HZ}. */
  int HZ = 1000;

  /** Ticks since boot, {@code jiffies}. */
  long jiffies();

  /** Nanoseconds since boot, {@code ktime_get_ns()}. */
  long nanos();

  /**
   * Converts milliseconds to ticks, rounding up as {@code msecs_to_jiffies()} does.
   *
   * @throws IllegalArgumentException if {@code msecs} is negative
   */
  static long msecsToJiffies(long msecs) {
    if (msecs < 0) {
      throw new IllegalArgumentException("negative duration: " + msecs + " ms");
    }
    return (msecs * HZ + 999) / 1000;
  }

  /** Converts ticks to milliseconds, {@code jiffies_to_msecs()}. */
  static long jiffiesToMsecs(long jiffies) {
    return jiffies * 1000 / HZ;
  }
}
