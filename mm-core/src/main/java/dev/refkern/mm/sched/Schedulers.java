package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.Locale;
import org.apiguardian.api.API;

/**
 * Creates the {@link Scheduler} a kernel boots with ({@code sched=} on the kernel command line),
 * the choice between real threads and a seeded simulated CPU; {@link #fromSpec} reads it from the
 * command line.
 */
@API(status = STABLE, since = "0.1.0")
public final class Schedulers {

  private Schedulers() {}

  /** A scheduler on real threads. */
  public static ThreadScheduler threads() {
    return new ThreadScheduler();
  }

  /** A deterministic one-CPU simulation replaying {@code seed}. */
  public static SimScheduler simulated(long seed) {
    return new SimScheduler(seed);
  }

  /**
   * Parses {@code "threads"} or {@code "sim:SEED"}, SEED decimal or {@code 0x} hexadecimal (64-bit,
   * as printed in failure messages).
   *
   * @throws IllegalArgumentException naming the bad spec and the accepted forms
   */
  public static Scheduler fromSpec(String spec) {
    if (spec == null) {
      throw bad(null, "no spec given");
    }
    String s = spec.trim();
    if (s.equalsIgnoreCase("threads")) {
      return threads();
    }
    if (s.regionMatches(true, 0, "sim:", 0, 4)) {
      return simulated(parseSeed(spec, s.substring(4).trim()));
    }
    throw bad(spec, "unknown scheduler");
  }

  private static long parseSeed(String spec, String seed) {
    if (seed.isEmpty()) {
      throw bad(spec, "missing seed");
    }
    try {
      String lower = seed.toLowerCase(Locale.ROOT);
      if (lower.startsWith("0x")) {
        return Long.parseUnsignedLong(lower.substring(2), 16);
      }
      return Long.parseLong(seed);
    } catch (NumberFormatException e) {
      throw bad(spec, "seed '" + seed + "' is not a 64-bit decimal or 0x-hex number");
    }
  }

  private static IllegalArgumentException bad(String spec, String why) {
    return new IllegalArgumentException(
        "bad scheduler spec "
            + (spec == null ? "null" : "'" + spec + "'")
            + ": "
            + why
            + "; expected 'threads' or 'sim:SEED' (SEED decimal or 0x-hex, e.g. sim:42, sim:0x2a)");
  }
}
