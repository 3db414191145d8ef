package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.Map;
import org.apiguardian.api.API;

/**
 * One policy's counters, the same shape for every policy (like a {@code /proc/vmstat} excerpt), so
 * comparisons, charts and reports need no per-policy code.
 *
 * @param param the dotted kernel parameter, e.g. {@code gup.pin_tracking}
 * @param name the policy's name, e.g. {@code bias}
 * @param counters counter name to value, in a stable order; a policy reports only what it counts
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record PolicyStats(String param, String name, Map<String, Long> counters) {
  /** Copies {@code counters} so the record stays a snapshot. */
  public PolicyStats {
    counters = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(counters));
  }

  /** A counter's value, 0 when the policy does not report it. */
  public long get(String counter) {
    return counters.getOrDefault(counter, 0L);
  }
}
