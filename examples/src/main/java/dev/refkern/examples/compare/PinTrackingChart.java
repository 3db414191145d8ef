package dev.refkern.examples.compare;

import dev.refkern.examples.compare.PinTrackingComparison.Row;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.CategoryStyler;
import org.knowm.xchart.style.Styler;

/**
 * The comparison as a PNG: six bar-chart panels (XChart), one bar per policy, rendered headless.
 */
public final class PinTrackingChart {
  static final int PANEL_W = 520;
  static final int PANEL_H = 360;
  static final int COLS = 3;
  static final int HEADER_H = 54;

  private static final Color BAD = new Color(0xC0392B);
  private static final Color WARN = new Color(0xE67E22);
  private static final Color COST = new Color(0x2E86C1);
  private static final Color COST2 = new Color(0x85C1E9);
  private static final Color MEM = new Color(0x8E44AD);
  private static final Color WORK = new Color(0x16A085);
  private static final Color WORK2 = new Color(0x76D7C4);

  private PinTrackingChart() {}

  /** One panel: a title, a unit, and one or more series of one value per policy. */
  private record Panel(String title, String unit, boolean decimals, List<Series> series) {}

  private record Series(String name, Color color, ToDoubleFunction<Row> value) {}

  /** Writes the chart to {@code out} (parent directories created). */
  public static void write(List<Row> rows, Path out, String subtitle) throws IOException {
    System.setProperty("java.awt.headless", "true"); // before the first AWT class loads
    List<Panel> panels =
        List.of(
            new Panel(
                "Missed pins (pinned, looked unpinned)",
                "pages",
                false,
                List.of(new Series("missed", BAD, Row::missedPins))),
            new Panel(
                "Pinned pages lost under DMA",
                "pages",
                false,
                List.of(new Series("corrupted", BAD, Row::corrupted))),
            new Panel(
                "False positives (unpinned, looked pinned)",
                "pages",
                false,
                List.of(new Series("false+", WARN, Row::falsePositives))),
            new Panel(
                "Cost of a direct-I/O pin and unpin",
                "ns per page",
                true,
                List.of(
                    new Series("pin", COST, Row::pinNsPerPage),
                    new Series("unpin", COST2, Row::unpinNsPerPage))),
            new Panel(
                "Tracking memory at peak",
                "bytes",
                false,
                List.of(new Series("overhead", MEM, Row::peakOverheadBytes))),
            new Panel(
                "Migrations refused",
                "folios",
                false,
                List.of(
                    new Series("compaction pin-blocked", WORK, Row::compactPinBlocked),
                    new Series("migrate -EAGAIN", WORK2, Row::migrateEagain))));

    List<String> names = new ArrayList<>();
    for (Row r : rows) {
      names.add(r.policy());
    }
    int rowsOfPanels = (panels.size() + COLS - 1) / COLS;
    BufferedImage img =
        new BufferedImage(
            COLS * PANEL_W, HEADER_H + rowsOfPanels * PANEL_H, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(
          RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, img.getWidth(), img.getHeight());
      g.setColor(Color.BLACK);
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 20));
      g.drawString("refkern compare pin-tracking: how a page remembers a pin", 16, 26);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
      g.drawString(subtitle, 16, 46);
      for (int i = 0; i < panels.size(); i++) {
        BufferedImage p = BitmapEncoder.getBufferedImage(chart(panels.get(i), names, rows));
        g.drawImage(p, (i % COLS) * PANEL_W, HEADER_H + (i / COLS) * PANEL_H, null);
      }
    } finally {
      g.dispose();
    }
    Path parent = out.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    if (!ImageIO.write(img, "png", out.toFile())) {
      throw new IOException("no PNG writer in this JDK");
    }
  }

  private static CategoryChart chart(Panel panel, List<String> names, List<Row> rows) {
    CategoryChart c =
        new CategoryChartBuilder()
            .width(PANEL_W)
            .height(PANEL_H)
            .title(panel.title())
            .yAxisTitle(panel.unit())
            .build();
    CategoryStyler s = c.getStyler();
    s.setChartBackgroundColor(Color.WHITE);
    s.setPlotBackgroundColor(Color.WHITE);
    s.setPlotBorderVisible(false);
    s.setPlotGridVerticalLinesVisible(false);
    s.setChartTitleBoxVisible(false);
    s.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
    s.setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    s.setAxisTitleFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    s.setLegendVisible(panel.series().size() > 1);
    s.setLegendPosition(Styler.LegendPosition.InsideNW);
    s.setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    s.setLabelsVisible(true);
    s.setLabelsFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
    s.setLabelsFontColorAutomaticEnabled(false);
    s.setLabelsFontColor(Color.BLACK);
    s.setLabelsPosition(1.0);
    s.setDecimalPattern(panel.decimals() ? "#,##0.0" : "#,##0");
    s.setYAxisDecimalPattern("#,##0");
    s.setAvailableSpaceFill(0.7);
    s.setYAxisMin(0.0);
    double max = 0;
    Color[] colors = new Color[panel.series().size()];
    for (int k = 0; k < colors.length; k++) {
      Series series = panel.series().get(k);
      colors[k] = series.color();
      List<Double> values = new ArrayList<>();
      for (Row r : rows) {
        double v = series.value().applyAsDouble(r);
        values.add(v);
        max = Math.max(max, v);
      }
      c.addSeries(series.name(), names, values);
    }
    s.setSeriesColors(colors);
    // headroom for the value labels and the legend; an all-zero panel still gets an axis
    s.setYAxisMax(max <= 0 ? 1.0 : max * (panel.series().size() > 1 ? 1.35 : 1.15));
    return c;
  }
}
