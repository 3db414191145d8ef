package dev.refkern.examples.report.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.Locale;
import org.apiguardian.api.API;

/** Numbers as the report prints them: integers plain, others with a few significant digits. */
@API(status = INTERNAL, since = "0.1.0")
public final class Fmt {
  private Fmt() {}

  /** {@code v} with thousands separators, decimals only where they say something. */
  public static String num(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e15) {
      return String.format(Locale.ROOT, "%,d", (long) v);
    }
    double a = Math.abs(v);
    if (a >= 100) {
      return String.format(Locale.ROOT, "%,.0f", v);
    }
    if (a >= 1) {
      return String.format(Locale.ROOT, "%.1f", v);
    }
    return String.format(Locale.ROOT, "%.2f", v);
  }

  /** A mean and its 95% CI half-width: {@code 12.5 ± 1.2}, or the mean alone when exact. */
  public static String meanCi(double mean, double ci) {
    return ci > 0 ? num(mean) + " ± " + num(ci) : num(mean);
  }
}
