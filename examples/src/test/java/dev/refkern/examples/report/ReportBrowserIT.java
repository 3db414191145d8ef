package dev.refkern.examples.report;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The report in a real headless Chromium: it renders with no console error, every chart loaded and
 * every table is there; a screenshot goes to {@code target/report-screenshot.png}.
 *
 * <p>How it checks: a copy of the page gets a tiny inline script that, after the load event, writes
 * what the browser saw (images loaded, SVGs laid out, tables, errors caught by {@code onerror})
 * into a {@code <pre id="selfcheck">}; {@code --dump-dom} prints the DOM after load, and {@code
 * --enable-logging=stderr} prints console messages, whose error-level lines fail the test. The
 * report itself carries no script.
 */
class ReportBrowserIT {
  static final Path CHROMIUM = Path.of(System.getProperty("refkern.chromium", "/usr/bin/chromium"));

  @TempDir Path tmp;

  static final String PROBE =
      """
      <script>
      var errs=[];window.onerror=function(m){errs.push(String(m));};
      window.addEventListener('load',function(){
        var imgs=[].slice.call(document.images);
        var bad=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0);}).length;
        var svgs=[].slice.call(document.querySelectorAll('figure svg'));
        var flat=svgs.filter(function(s){var r=s.getBoundingClientRect();return !(r.width>0&&r.height>0);}).length;
        var p=document.createElement('pre');p.id='selfcheck';
        p.textContent='SELFCHECK imgs='+imgs.length+' badimgs='+bad+' svgs='+svgs.length+' flatsvgs='+flat
          +' tables='+document.querySelectorAll('table.data').length+' errors='+errs.length+' END';
        document.body.appendChild(p);
      });
      </script>
      """;

  static List<String> chromium(Path profile, String... args) {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                CHROMIUM.toString(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--user-data-dir=" + profile));
    cmd.addAll(List.of(args));
    return cmd;
  }

  /** Runs chromium; returns stdout and stderr (merged in separate files). */
  static String[] run(List<String> cmd, Path dir) throws IOException, InterruptedException {
    Path out = dir.resolve("out.txt");
    Path err = dir.resolve("err.txt");
    Process p =
        new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    if (!p.waitFor(180, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("chromium did not finish within 180 s: " + cmd);
    }
    return new String[] {Files.readString(out), Files.readString(err)};
  }

  @Test
  void theReportRendersInChromiumWithEveryChartAndTable() throws Exception {
    assertTrue(
        Files.isExecutable(CHROMIUM),
        CHROMIUM
            + " is missing: a CI setup error, not a pass. Install it (Debian: apt-get install -y"
            + " chromium; .ci/run does it) or point -Drefkern.chromium= at a Chromium.");
    ReportData data = FakeReportData.data();
    Path file = LabReport.write(tmp.resolve("report"), data);
    String html = Files.readString(file);
    Path probed = tmp.resolve("report/probed.html");
    Files.writeString(probed, html.replace("</body>", PROBE + "</body>"));
    Files.createDirectories(tmp.resolve("p1"));
    String[] r =
        run(
            chromium(
                tmp.resolve("p1"),
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
                probed.toUri().toString()),
            Files.createDirectories(tmp.resolve("r1")));
    Matcher m =
        Pattern.compile(
                "SELFCHECK imgs=(\\d+) badimgs=(\\d+) svgs=(\\d+) flatsvgs=(\\d+) tables=(\\d+)"
                    + " errors=(\\d+) END")
            .matcher(r[0]);
    assertTrue(m.find(), "no self-check in the dumped DOM; chromium's stderr:\n" + r[1]);
    // what the report promised: one data table per measured block, one chart per chart
    var doc = LabReportTest.parse(html);
    long tables =
        LabReportTest.all(doc, "table").stream()
            .filter(t -> t.getAttribute("class").equals("data"))
            .count();
    int imgs = LabReportTest.all(doc, "img").size();
    int svgs = LabReportTest.all(doc, "svg").size();
    assertTrue(imgs > 0 && svgs > 0 && tables > 0, "the page promises nothing to check");
    assertEquals(imgs, Integer.parseInt(m.group(1)), "images in the browser");
    assertEquals(0, Integer.parseInt(m.group(2)), "images that did not load");
    assertEquals(svgs, Integer.parseInt(m.group(3)), "SVG charts in the browser");
    assertEquals(0, Integer.parseInt(m.group(4)), "SVG charts laid out with no size");
    assertEquals(tables, Integer.parseInt(m.group(5)), "tables in the browser");
    assertEquals(0, Integer.parseInt(m.group(6)), "script errors");
    List<String> consoleErrors =
        r[1].lines()
            .filter(l -> l.contains("CONSOLE") && l.matches("(?i).*(error|severe).*"))
            .toList();
    assertEquals(List.of(), consoleErrors, "console errors");

    Path shot = Path.of("target/report-screenshot.png").toAbsolutePath();
    Files.deleteIfExists(shot);
    Files.createDirectories(tmp.resolve("p2"));
    String[] s =
        run(
            chromium(
                tmp.resolve("p2"),
                "--hide-scrollbars",
                "--window-size=1280,6000",
                "--screenshot=" + shot,
                file.toUri().toString()),
            Files.createDirectories(tmp.resolve("r2")));
    assertTrue(Files.size(shot) > 10_000, "no screenshot; chromium's stderr:\n" + s[1]);
  }
}
