package dev.refkern.examples.report.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;

/**
 * Mean and 95% confidence interval of a sample (Student's t: the report may show three seeds or ten
 * thousand).
 *
 * @param n the sample size
 * @param mean its mean
 * @param ci the half-width of the 95% confidence interval of the mean (0 when n is 1 or all agree)
 */
@API(status = INTERNAL, since = "0.1.0")
public record Stats(int n, double mean, double ci) {
  /** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom. */
  private static final double[] T975 = {
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042
  };

  /** The statistics of {@code xs}. */
  public static Stats of(double[] xs) {
    int n = xs.length;
    if (n == 0) {
      return new Stats(0, 0, 0);
    }
    double sum = 0;
    for (double x : xs) {
      sum += x;
    }
    double mean = sum / n;
    if (n == 1) {
      return new Stats(1, mean, 0);
    }
    double ss = 0;
    for (double x : xs) {
      ss += (x - mean) * (x - mean);
    }
    double sd = Math.sqrt(ss / (n - 1));
    double t = n - 1 <= T975.length ? T975[n - 2] : 1.96;
    return new Stats(n, mean, t * sd / Math.sqrt(n));
  }
}
