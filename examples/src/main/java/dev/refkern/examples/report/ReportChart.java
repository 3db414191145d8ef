package dev.refkern.examples.report;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.Objects;
import org.apiguardian.api.API;

/**
 * A chart of the report, embedded in the page: a PNG (as a {@code data:} URI) or inline SVG.
 *
 * @param alt what it shows, for the {@code alt} text and the caption
 * @param png the PNG's bytes, or null
 * @param svg an {@code <svg>} element, or null
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record ReportChart(String alt, byte[] png, String svg) {
  public ReportChart {
    Objects.requireNonNull(alt, "alt");
    if ((png == null) == (svg == null)) {
      throw new IllegalArgumentException("a chart is either a PNG or an SVG");
    }
  }

  /** A PNG chart. */
  public static ReportChart png(String alt, byte[] png) {
    return new ReportChart(alt, png.clone(), null);
  }

  /** An inline SVG chart. */
  public static ReportChart svg(String alt, String svg) {
    return new ReportChart(alt, null, svg);
  }
}
