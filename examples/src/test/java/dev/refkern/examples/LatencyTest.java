package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** {@link Latency}: HdrHistogram's percentiles on data sets whose answer is known. */
class LatencyTest {
  @Test
  void oneToHundred() {
    Latency l = new Latency();
    for (int v = 100; v >= 1; v--) {
      l.record(v);
    }
    assertEquals(100, l.count());
    assertEquals(50, l.p50(), 50 * 1e-3);
    assertEquals(99, l.p99(), 99 * 1e-3);
    assertEquals(100, l.percentile(100), 100 * 1e-3);
  }

  @Test
  void aFewSlowSamplesMoveP99NotTheMedian() {
    Latency l = new Latency();
    for (int i = 0; i < 97; i++) {
      l.record(12.5);
    }
    for (int i = 0; i < 3; i++) {
      l.record(4000);
    }
    assertEquals(12.5, l.p50(), 12.5 * 1e-3);
    assertEquals(4000, l.p99(), 4000 * 1e-3);
  }

  @Test
  void fractionalNanosecondsKeepTheirDigits() {
    Latency l = new Latency();
    l.record(3.25);
    l.record(3.75);
    l.record(7.5);
    assertEquals(3.75, l.p50(), 3.75 * 1e-3);
    assertEquals(7.5, l.p99(), 7.5 * 1e-3);
  }

  @Test
  void noSamplesIsZero() {
    assertEquals(0, new Latency().p50());
    assertEquals(0, new Latency().p99());
  }
}
