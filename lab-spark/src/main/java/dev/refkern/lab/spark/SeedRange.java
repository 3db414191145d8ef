package dev.refkern.lab.spark;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import org.apiguardian.api.API;

/**
 * The seeds of a sweep, {@code first..last} inclusive, as {@code --seeds} spells them.
 *
 * @param first the first seed
 * @param last the last seed, not below {@code first}
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record SeedRange(long first, long last) {
  public SeedRange {
    if (first < 0 || last < first) {
      throw new KernelException(
          Errno.EINVAL, "seeds " + first + ".." + last + " is empty or negative; use A..B, A <= B");
    }
  }

  /**
   * {@code A..B} or a single seed {@code N}.
   *
   * @throws KernelException EINVAL for anything else, or for an empty range
   */
  public static SeedRange parse(String s) {
    String t = s == null ? "" : s.strip();
    int dots = t.indexOf("..");
    try {
      if (dots < 0) {
        long n = Long.parseLong(t);
        return new SeedRange(n, n);
      }
      return new SeedRange(
          Long.parseLong(t.substring(0, dots).strip()),
          Long.parseLong(t.substring(dots + 2).strip()));
    } catch (NumberFormatException e) {
      throw new KernelException(Errno.EINVAL, "bad seeds '" + s + "'; use A..B (e.g. 1..10000)");
    }
  }

  /** How many seeds. */
  public long count() {
    return last - first + 1;
  }

  @Override
  public String toString() {
    return first + ".." + last;
  }
}
