package dev.refkern.examples;

import org.HdrHistogram.DoubleHistogram;

/**
 * Latency percentiles of a measured cost (no kernel object: the role {@code perf}'s histograms
 * play), kept in an HdrHistogram with three significant digits.
 *
 * <p>A percentile is the histogram's value at that rank, within 0.1% of the exact sample; the
 * median of an even count is the lower middle sample rather than the mean of the two.
 */
public final class Latency {
  private final DoubleHistogram h = new DoubleHistogram(3);

  /** Records one sample (e.g. nanoseconds per page of one batch); negative samples count as 0. */
  public void record(double value) {
    h.recordValue(Math.max(0, value));
  }

  /** How many samples were recorded. */
  public long count() {
    return h.getTotalCount();
  }

  /** The value at {@code percentile} (0 to 100), 0 with no samples. */
  public double percentile(double percentile) {
    return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(percentile);
  }

  /** The median. */
  public double p50() {
    return percentile(50);
  }

  /** The 99th percentile. */
  public double p99() {
    return percentile(99);
  }
}
