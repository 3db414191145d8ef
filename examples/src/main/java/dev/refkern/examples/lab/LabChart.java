package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.apiguardian.api.API;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.CategoryStyler;
import org.knowm.xchart.style.Styler;

/**
 * The lab's rows as a PNG (XChart, headless): one panel per key column (corrupted blocks, bytes
 * lost, stall p99, bytes bounced, leaked pins), grouped bars: a group per policy (per workload and
 * policy when there are several workloads), a bar per filesystem; with several seeds a bar is the
 * mean and carries a 95% confidence interval as an error bar.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LabChart {
  /** The columns drawn, one panel each, with their titles. */
  public static final List<String> COLUMNS =
      List.of("corrupted_blocks", "bytes_lost", "stall_p99_ns", "bytes_bounced", "leaked_pins");

  private static final List<String> TITLES =
      List.of(
          "Corrupted blocks",
          "Bytes lost at the power cut",
          "Stall p99 (virtual ns)",
          "Bytes bounced",
          "Leaked pins");
  private static final int PANEL_W = 560;
  private static final int PANEL_H = 360;
  private static final int COLS = 3;
  private static final int HEADER_H = 54;
  private static final Color[] FS_COLORS = {
    new Color(0x2E86C1), new Color(0xE67E22), new Color(0x16A085), new Color(0x8E44AD)
  };

  private LabChart() {}

  /** The chart of {@code rows} under {@code title}, as PNG bytes. */
  public static byte[] png(String title, List<LabRow> rows) {
    System.setProperty("java.awt.headless", "true"); // before the first AWT class loads
    List<LabStats.Group> groups = LabStats.aggregate(rows);
    boolean manyWorkloads = rows.stream().map(r -> r.cell().workload()).distinct().count() > 1;
    Set<String> xs = new LinkedHashSet<>();
    Set<String> fss = new LinkedHashSet<>();
    for (LabStats.Group g : groups) {
      xs.add(x(g.cell(), manyWorkloads));
      fss.add(g.cell().fs());
    }
    int seeds = LabStats.seeds(rows);
    int rowsOfPanels = (COLUMNS.size() + COLS - 1) / COLS;
    BufferedImage img =
        new BufferedImage(
            COLS * PANEL_W, HEADER_H + rowsOfPanels * PANEL_H, BufferedImage.TYPE_INT_RGB);
    Graphics2D g2 = img.createGraphics();
    try {
      g2.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g2.setRenderingHint(
          RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g2.setColor(Color.WHITE);
      g2.fillRect(0, 0, img.getWidth(), img.getHeight());
      g2.setColor(Color.BLACK);
      g2.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 20));
      g2.drawString(title, 16, 26);
      g2.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
      g2.drawString(
          seeds > 1
              ? "mean over " + seeds + " seeds, error bars: 95% confidence interval"
              : "one seed; virtual time from the seeded scheduler",
          16,
          46);
      for (int i = 0; i < COLUMNS.size(); i++) {
        CategoryChart c =
            panel(TITLES.get(i), COLUMNS.get(i), List.copyOf(xs), fss, groups, manyWorkloads);
        BufferedImage p = BitmapEncoder.getBufferedImage(c);
        g2.drawImage(p, (i % COLS) * PANEL_W, HEADER_H + (i / COLS) * PANEL_H, null);
      }
    } finally {
      g2.dispose();
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      if (!ImageIO.write(img, "png", out)) {
        throw new IOException("no PNG writer in this JDK");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** Writes {@link #png} to {@code file} (parent directories created). */
  public static void write(Path file, String title, List<LabRow> rows) throws IOException {
    byte[] png = png(title, rows);
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.write(file, png);
  }

  private static String x(LabCell c, boolean manyWorkloads) {
    return manyWorkloads ? c.workload() + "/" + c.policy() : c.policy();
  }

  private static CategoryChart panel(
      String title,
      String column,
      List<String> xs,
      Set<String> fss,
      List<LabStats.Group> groups,
      boolean manyWorkloads) {
    CategoryChart c =
        new CategoryChartBuilder().width(PANEL_W).height(PANEL_H).title(title).build();
    CategoryStyler s = c.getStyler();
    s.setChartBackgroundColor(Color.WHITE);
    s.setPlotBackgroundColor(Color.WHITE);
    s.setPlotBorderVisible(false);
    s.setPlotGridVerticalLinesVisible(false);
    s.setChartTitleBoxVisible(false);
    s.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
    s.setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    s.setLegendPosition(Styler.LegendPosition.InsideNW);
    s.setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    s.setYAxisDecimalPattern("#,##0");
    s.setAvailableSpaceFill(0.7);
    s.setYAxisMin(0.0);
    s.setErrorBarsColor(Color.BLACK);
    double max = 0;
    List<Color> colors = new ArrayList<>();
    int k = 0;
    for (String fs : fss) {
      List<Double> ys = new ArrayList<>();
      List<Double> errs = new ArrayList<>();
      for (String x : xs) {
        LabStats.Stat st = null;
        for (LabStats.Group g : groups) {
          if (g.cell().fs().equals(fs) && x(g.cell(), manyWorkloads).equals(x)) {
            st = g.stat(column);
          }
        }
        double y = st == null ? 0 : st.mean();
        double e = st == null ? 0 : st.ci95();
        ys.add(y);
        errs.add(e);
        max = Math.max(max, y + e);
      }
      c.addSeries(fs, xs, ys, errs);
      colors.add(FS_COLORS[k++ % FS_COLORS.length]);
    }
    s.setSeriesColors(colors.toArray(Color[]::new));
    s.setYAxisMax(max <= 0 ? 1.0 : max * 1.25); // an all-zero panel still gets an axis
    return c;
  }
}
