package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apiguardian.api.API;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/**
 * The power-cut matrix as a PNG (XChart, headless): one stacked bar per row ({@code
 * fs/writeback/truncate}), its crash states split into consistent, data lost and metadata corrupt.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PowerCutChart {
  private static final Color CONSISTENT = new Color(0x27AE60);
  private static final Color LOST = new Color(0xE67E22);
  private static final Color CORRUPT = new Color(0xC0392B);

  private PowerCutChart() {}

  /** The chart of {@code rows} under {@code title}, as PNG bytes. */
  public static byte[] png(String title, List<PowerCutRow> rows) throws IOException {
    System.setProperty("java.awt.headless", "true"); // before the first AWT class loads
    CategoryChart c =
        new CategoryChartBuilder()
            .width(Math.max(900, 60 * rows.size() + 200))
            .height(560)
            .title(title)
            .xAxisTitle("fs / writeback.pinned / truncate.pinned")
            .yAxisTitle("crash states (FLUSH/FUA points)")
            .build();
    c.getStyler().setStacked(true);
    c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
    c.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
    c.getStyler().setXAxisLabelRotation(60);
    c.getStyler().setChartBackgroundColor(Color.WHITE);
    c.getStyler().setSeriesColors(new Color[] {CONSISTENT, LOST, CORRUPT});
    List<String> xs =
        rows.stream().map(r -> r.fs() + "/" + r.writeback() + "/" + r.truncate()).toList();
    c.addSeries("consistent", xs, rows.stream().map(r -> (Number) r.consistent()).toList());
    c.addSeries("data lost", xs, rows.stream().map(r -> (Number) r.dataLost()).toList());
    c.addSeries(
        "metadata corrupt", xs, rows.stream().map(r -> (Number) r.metadataCorrupt()).toList());
    return BitmapEncoder.getBitmapBytes(c, BitmapEncoder.BitmapFormat.PNG);
  }

  /** Writes {@link #png} to {@code file} (parent directories created). */
  public static void write(Path file, String title, List<PowerCutRow> rows) throws IOException {
    byte[] png = png(title, rows);
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.write(file, png);
  }
}
