package dev.refkern.examples.report.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.List;
import java.util.Locale;
import org.apiguardian.api.API;

/**
 * Horizontal bar charts as inline SVG: one bar (or one stacked bar) per category, 95% CI whiskers.
 * Inline SVG needs no image encoder and stays sharp at any zoom, in the page and when printed.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class SvgBars {
  /** A palette readable by the colour-blind (Okabe-Ito). */
  public static final List<String> PALETTE =
      List.of("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442");

  static final int WIDTH = 460;
  static final int LABEL_W = 150;
  static final int ROW_H = 22;
  static final int TOP = 34;

  private SvgBars() {}

  /**
   * One series of a chart.
   *
   * @param name its legend entry
   * @param color its fill
   * @param values one value per category
   * @param ci the 95% CI half-width per category, or null
   */
  public record Series(String name, String color, double[] values, double[] ci) {}

  /** One panel: a title, a unit and the series over the categories. */
  public record Panel(
      String title, String unit, List<String> categories, List<Series> series, boolean stacked) {}

  /** The panels side by side, two to a row, as one {@code <svg>} element. */
  public static String render(String label, List<Panel> panels) {
    int cols = Math.min(2, panels.size());
    int[] heights = panels.stream().mapToInt(SvgBars::height).toArray();
    int total = 0;
    for (int i = 0; i < panels.size(); i += cols) {
      int h = 0;
      for (int j = i; j < Math.min(panels.size(), i + cols); j++) {
        h = Math.max(h, heights[j]);
      }
      total += h;
    }
    int w = cols * WIDTH;
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" class=\"chart\""
                + " viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" aria-label=\"%s\">",
            w,
            total,
            w,
            total,
            Html.escape(label)));
    int y = 0;
    for (int i = 0; i < panels.size(); i += cols) {
      int h = 0;
      for (int j = i; j < Math.min(panels.size(), i + cols); j++) {
        sb.append(
            String.format(Locale.ROOT, "<g transform=\"translate(%d,%d)\">", (j - i) * WIDTH, y));
        panel(sb, panels.get(j));
        sb.append("</g>");
        h = Math.max(h, heights[j]);
      }
      y += h;
    }
    return sb.append("</svg>").toString();
  }

  private static int rowsOf(Panel p) {
    return p.categories().size() * (p.stacked() ? 1 : p.series().size());
  }

  private static int height(Panel p) {
    return TOP + rowsOf(p) * ROW_H + (p.series().size() > 1 ? 40 : 24);
  }

  private static void panel(StringBuilder sb, Panel p) {
    double max = 0;
    for (int c = 0; c < p.categories().size(); c++) {
      double stack = 0;
      for (Series s : p.series()) {
        double v = s.values()[c] + (s.ci() == null ? 0 : s.ci()[c]);
        stack += s.values()[c];
        max = Math.max(max, p.stacked() ? stack : v);
      }
    }
    double scale = max <= 0 ? 0 : (WIDTH - LABEL_W - 70) / max;
    sb.append(
        String.format(
            Locale.ROOT,
            "<text x=\"8\" y=\"18\" class=\"ct\">%s</text>"
                + "<text x=\"%d\" y=\"18\" class=\"cu\" text-anchor=\"end\">%s</text>",
            Html.escape(p.title()),
            WIDTH - 12,
            Html.escape(p.unit())));
    int row = 0;
    for (int c = 0; c < p.categories().size(); c++) {
      int y0 = TOP + row * ROW_H;
      int rows = p.stacked() ? 1 : p.series().size();
      sb.append(
          String.format(
              Locale.ROOT,
              "<text x=\"%d\" y=\"%d\" class=\"cl\" text-anchor=\"end\">%s</text>",
              LABEL_W - 6,
              y0 + rows * ROW_H / 2 + 4,
              Html.escape(p.categories().get(c))));
      double x = LABEL_W;
      double stackTotal = 0;
      for (int k = 0; k < p.series().size(); k++) {
        Series s = p.series().get(k);
        double v = s.values()[c];
        double bw = Math.max(v > 0 ? 1.5 : 0, v * scale);
        int y = p.stacked() ? y0 : y0 + k * ROW_H;
        double bx = p.stacked() ? x : LABEL_W;
        sb.append(
            String.format(
                Locale.ROOT,
                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s: %s"
                    + "</title></rect>",
                bx,
                y + 3,
                bw,
                ROW_H - 6,
                s.color(),
                Html.escape(s.name()),
                Fmt.num(v)));
        if (s.ci() != null && s.ci()[c] > 0 && !p.stacked()) {
          double lo = LABEL_W + Math.max(0, v - s.ci()[c]) * scale;
          double hi = LABEL_W + (v + s.ci()[c]) * scale;
          int ym = y + ROW_H / 2;
          sb.append(
              String.format(
                  Locale.ROOT,
                  "<path d=\"M%.1f %dH%.1fM%.1f %dV%dM%.1f %dV%d\" class=\"ci\"/>",
                  lo,
                  ym,
                  hi,
                  lo,
                  ym - 4,
                  ym + 4,
                  hi,
                  ym - 4,
                  ym + 4));
        }
        if (p.stacked()) {
          x += bw;
          stackTotal += v;
        } else {
          double end = LABEL_W + (v + (s.ci() == null ? 0 : s.ci()[c])) * scale;
          sb.append(
              String.format(
                  Locale.ROOT,
                  "<text x=\"%.1f\" y=\"%d\" class=\"cv\">%s</text>",
                  end + 4,
                  y + ROW_H / 2 + 4,
                  Fmt.num(v)));
        }
      }
      if (p.stacked()) {
        sb.append(
            String.format(
                Locale.ROOT,
                "<text x=\"%.1f\" y=\"%d\" class=\"cv\">%s</text>",
                x + 4,
                y0 + ROW_H / 2 + 4,
                Fmt.num(stackTotal)));
      }
      row += rows;
    }
    int ly = TOP + rowsOf(p) * ROW_H + 14;
    sb.append(
        String.format(
            Locale.ROOT,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"ax\"/>",
            LABEL_W,
            TOP - 2,
            LABEL_W,
            ly - 12));
    if (p.series().size() > 1) {
      int lx = LABEL_W;
      for (Series s : p.series()) {
        sb.append(
            String.format(
                Locale.ROOT,
                "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                    + "<text x=\"%d\" y=\"%d\" class=\"cl\">%s</text>",
                lx,
                ly,
                s.color(),
                lx + 14,
                ly + 9,
                Html.escape(s.name())));
        lx += 24 + 7 * s.name().length();
      }
    }
  }
}
