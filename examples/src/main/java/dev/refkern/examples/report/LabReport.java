package dev.refkern.examples.report;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.examples.lab.Comparison;
import dev.refkern.examples.report.SeedThread.Quote;
import dev.refkern.examples.report.internal.Html;
import dev.refkern.examples.report.internal.LabSummary;
import dev.refkern.examples.report.internal.PowerCutSummary;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * The lab's report: one self-contained HTML page (CSS inline, charts inline SVG or {@code data:}
 * PNGs, no script, nothing fetched) with a section per seed thread, its authors' designs and what
 * refkern measured of each, and the same story as Markdown for the README. Works from the shared
 * records only ({@code LabRow}, {@code Comparison}, {@code PowerCutRow}), so a comparison added
 * later appears with no change here.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LabReport {
  /** The file {@link #write} writes in its directory. */
  public static final String FILE = "report.html";

  /** The Markdown section's heading. */
  public static final String MARKDOWN_HEADING =
      "## What the seeds argued and what refkern measured";

  private LabReport() {}

  /** Writes {@code dir/report.html} (directories created) and returns its path. */
  public static Path write(Path dir, ReportData data) throws IOException {
    Files.createDirectories(dir);
    Path out = dir.resolve(FILE);
    Files.writeString(out, html(data), StandardCharsets.UTF_8);
    return out;
  }

  /** One measured block of a seed or a section: a comparison with rows, rendered. */
  private record Measured(
      String id,
      String title,
      String question,
      String command,
      List<String> sentences,
      List<ReportTable> tables,
      List<ReportChart> charts) {}

  private static Measured measured(ReportData data, Comparison c) {
    var groups = LabSummary.groups(c, data.labRows());
    if (groups.isEmpty()) {
      return new Measured(
          "cmp-" + c.name(),
          "compare " + c.name(),
          c.question(),
          data.command(c.name()),
          List.of("Not measured in this run (no rows)."),
          List.of(),
          List.of());
    }
    return new Measured(
        "cmp-" + c.name(),
        "compare " + c.name(),
        c.question(),
        data.command(c.name()),
        LabSummary.sentences(c, groups),
        List.of(LabSummary.table(c, groups)),
        List.of(
            ReportChart.png(
                c.name() + ": each " + c.policyParam() + " value on each filesystem",
                LabSummary.chart(c, groups))));
  }

  private static Measured measured(ReportSection s) {
    return new Measured(
        s.id(), s.title(), s.question(), s.command(), s.summary(), s.tables(), s.charts());
  }

  /** The power-cut matrix as a section, or null without rows. */
  static ReportSection powerCut(ReportData data) {
    if (data.powerCut().isEmpty()) {
      return null;
    }
    var cells = PowerCutSummary.cells(data.powerCut());
    return new ReportSection(
        "power-cut",
        "The power-cut matrix",
        "Which writeback.pinned × truncate.pinned configurations recover consistent after a power"
            + " cut at any FLUSH/FUA point, and which lose what they promised to keep?",
        List.of("writeback.pinned", "truncate.pinned"),
        data.command(ReportData.POWER_CUT),
        PowerCutSummary.sentences(cells),
        List.of(PowerCutSummary.table(cells)),
        List.of(
            ReportChart.svg(
                "power-cut matrix: crash states by outcome per configuration",
                PowerCutSummary.chart(cells))));
  }

  /** Every section that is not a comparison: the power-cut matrix, then the extras. */
  static List<ReportSection> sections(ReportData data) {
    List<ReportSection> out = new ArrayList<>();
    ReportSection pc = powerCut(data);
    if (pc != null) {
      out.add(pc);
    }
    out.addAll(data.extras());
    return out;
  }

  static List<Comparison> comparisonsOf(ReportData data, SeedThread seed) {
    return data.comparisons().stream()
        .filter(c -> seed.params().contains(c.policyParam()))
        .toList();
  }

  static List<ReportSection> sectionsOf(List<ReportSection> sections, SeedThread seed) {
    return sections.stream()
        .filter(s -> s.params().stream().anyMatch(seed.params()::contains))
        .toList();
  }

  static List<Comparison> unclaimed(ReportData data) {
    Set<String> params = new LinkedHashSet<>();
    data.seeds().forEach(s -> params.addAll(s.params()));
    return data.comparisons().stream().filter(c -> !params.contains(c.policyParam())).toList();
  }

  // ---------------------------------------------------------------- HTML

  /** The page. */
  public static String html(ReportData data) {
    List<ReportSection> sections = sections(data);
    List<Comparison> unclaimed = unclaimed(data);
    StringBuilder h = new StringBuilder(1 << 16);
    ReportHeader hd = data.header();
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>")
        .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>")
        .append("<title>refkern report: what the seeds argued and what refkern measured</title>")
        .append("<style>")
        .append(CSS)
        .append("</style></head>\n<body>\n<header><h1>What the seeds argued, and what refkern")
        .append(" measured</h1><p class=\"lead\">Each seed thread is a mailing-list argument about")
        .append(" pinned (GUP/DMA) pages. Below: its question, the designs its authors proposed")
        .append(" in their own words, and refkern's measurement of each design on the same")
        .append(" seeded workloads, with the command that reproduces it.</p>")
        .append("<table class=\"meta\"><tbody>");
    meta(h, "refkern", hd.version());
    meta(h, "seeds", hd.seeds());
    meta(h, "date", hd.date());
    meta(h, "machine", hd.machine());
    meta(h, "JDK", hd.jdk());
    h.append("</tbody></table></header>\n<nav><h2>Contents</h2><ol>");
    for (SeedThread s : data.seeds()) {
      link(h, "seed-" + s.id(), "Seed " + s.id() + ": " + s.subject());
    }
    for (ReportSection s : sections) {
      link(h, s.id(), s.title());
    }
    if (!unclaimed.isEmpty()) {
      link(h, "other", "Other comparisons");
    }
    link(h, "columns", "How to read the tables");
    h.append("</ol></nav>\n<main>\n");
    for (SeedThread s : data.seeds()) {
      seed(h, data, sections, s);
    }
    for (ReportSection s : sections) {
      h.append("<section id=\"").append(Html.escape(s.id())).append("\">");
      h.append("<h2>").append(Html.escape(s.title())).append("</h2>");
      block(h, measured(s), false);
      h.append("</section>\n");
    }
    if (!unclaimed.isEmpty()) {
      h.append("<section id=\"other\"><h2>Other comparisons</h2>");
      for (Comparison c : unclaimed) {
        block(h, measured(data, c), true);
      }
      h.append("</section>\n");
    }
    h.append("<section id=\"columns\"><h2>How to read the tables</h2><ul>")
        .append("<li>Each number is the mean over the seeds, ± the half-width of its 95%")
        .append(" confidence interval (Student's t) when the seeds disagree.</li>")
        .append("<li>Stalls are in virtual nanoseconds of the seeded simulated scheduler, so they")
        .append(" are the same on every machine; only <em>cost of a pin</em> is wall-clock.</li>")
        .append("<li>A column that is zero in every row is left out; <em>refused</em> names the")
        .append(" errno that refused the workload's setup.</li>")
        .append("<li>Every command reproduces its numbers: same seeds, same rows.</li></ul>")
        .append("</section>\n</main>\n<footer>Generated by ")
        .append(Html.escape(hd.version()))
        .append(" on ")
        .append(Html.escape(hd.date()))
        .append(". Self-contained: no script, no fonts, nothing fetched.</footer>\n")
        .append("</body></html>\n");
    return h.toString();
  }

  private static void meta(StringBuilder h, String k, String v) {
    h.append("<tr><th>")
        .append(Html.escape(k))
        .append("</th><td>")
        .append(Html.escape(v))
        .append("</td></tr>");
  }

  private static void link(StringBuilder h, String id, String text) {
    h.append("<li><a href=\"#")
        .append(Html.escape(id))
        .append("\">")
        .append(Html.escape(text))
        .append("</a></li>");
  }

  private static void seed(
      StringBuilder h, ReportData data, List<ReportSection> sections, SeedThread s) {
    h.append("<section class=\"seed\" id=\"seed-").append(Html.escape(s.id())).append("\">");
    h.append("<h2><span class=\"tag\">Seed ")
        .append(Html.escape(s.id()))
        .append("</span> ")
        .append(Html.escape(s.subject()))
        .append("</h2><p class=\"src\">")
        .append(Html.escape(s.file()))
        .append(" · ")
        .append(Html.escape(s.date()))
        .append(" · parameters: ");
    for (int i = 0; i < s.params().size(); i++) {
      h.append(i > 0 ? ", " : "").append("<code>").append(Html.escape(s.params().get(i)));
      h.append("</code>");
    }
    h.append("</p><p class=\"question\">").append(Html.escape(s.question())).append("</p>");
    h.append("<h3>The designs proposed</h3><div class=\"quotes\">");
    for (Quote q : s.quotes()) {
      h.append("<blockquote><p>")
          .append(Html.escape(q.text()))
          .append("</p><footer>")
          .append(Html.escape(q.author()))
          .append(", ")
          .append(Html.escape(q.date()))
          .append(" <span class=\"design\">")
          .append(Html.escape(q.design()))
          .append("</span></footer></blockquote>");
    }
    h.append("</div><h3>What refkern measured</h3>");
    List<Comparison> cs = comparisonsOf(data, s);
    List<ReportSection> ss = sectionsOf(sections, s);
    if (cs.isEmpty() && ss.isEmpty()) {
      h.append("<p class=\"none\">Not measured in this run: no comparison varies ")
          .append(Html.escape(String.join(", ", s.params())))
          .append(".</p>");
    }
    for (Comparison c : cs) {
      Measured m = measured(data, c);
      block(
          h,
          new Measured(
              "seed-" + s.id() + "-" + m.id(),
              m.title(),
              m.question(),
              m.command(),
              m.sentences(),
              m.tables(),
              m.charts()),
          true);
    }
    for (ReportSection x : ss) {
      h.append("<div class=\"see\"><p>See <a href=\"#")
          .append(Html.escape(x.id()))
          .append("\">")
          .append(Html.escape(x.title()))
          .append("</a>: ")
          .append(Html.escape(x.question()))
          .append("</p><ul>");
      x.summary().forEach(l -> h.append("<li>").append(Html.escape(l)).append("</li>"));
      h.append("</ul></div>");
    }
    h.append("</section>\n");
  }

  private static void block(StringBuilder h, Measured m, boolean heading) {
    h.append("<div class=\"measured\" id=\"").append(Html.escape(m.id())).append("\">");
    if (heading) {
      h.append("<h4>").append(Html.escape(m.title())).append("</h4>");
    }
    h.append("<p class=\"q\">").append(Html.escape(m.question())).append("</p>");
    for (ReportTable t : m.tables()) {
      table(h, t);
    }
    for (ReportChart c : m.charts()) {
      h.append("<figure>");
      if (c.svg() != null) {
        h.append(c.svg());
      } else {
        h.append("<img class=\"chart\" alt=\"")
            .append(Html.escape(c.alt()))
            .append("\" src=\"data:image/png;base64,")
            .append(Base64.getEncoder().encodeToString(c.png()))
            .append("\"/>");
      }
      h.append("<figcaption>").append(Html.escape(c.alt())).append("</figcaption></figure>");
    }
    if (!m.sentences().isEmpty()) {
      h.append("<ul class=\"findings\">");
      m.sentences().forEach(l -> h.append("<li>").append(Html.escape(l)).append("</li>"));
      h.append("</ul>");
    }
    h.append("<p class=\"cmdl\">Reproduce:</p><pre class=\"cmd\"><code>")
        .append(Html.escape(m.command()))
        .append("</code></pre></div>");
  }

  private static void table(StringBuilder h, ReportTable t) {
    h.append("<div class=\"tw\"><table class=\"data\"><caption>")
        .append(Html.escape(t.caption()))
        .append("</caption><thead><tr>");
    t.headers().forEach(x -> h.append("<th>").append(Html.escape(x)).append("</th>"));
    h.append("</tr></thead><tbody>");
    for (List<String> r : t.rows()) {
      h.append("<tr>");
      for (int i = 0; i < r.size(); i++) {
        h.append(i == 0 ? "<th scope=\"row\">" : "<td>")
            .append(Html.escape(r.get(i)))
            .append(i == 0 ? "</th>" : "</td>");
      }
      h.append("</tr>");
    }
    h.append("</tbody></table></div>");
  }

  // ---------------------------------------------------------------- Markdown

  /** The README section: per seed, its question, designs, measured result and command. */
  public static String markdown(ReportData data) {
    List<ReportSection> sections = sections(data);
    StringBuilder m = new StringBuilder();
    ReportHeader hd = data.header();
    m.append(MARKDOWN_HEADING).append("\n\n");
    m.append("Measured by `")
        .append(hd.version())
        .append("` on ")
        .append(hd.date())
        .append(", seeds ")
        .append(hd.seeds())
        .append(" (")
        .append(hd.jdk())
        .append("). Numbers are means ± 95% CI over the seeds; stalls are virtual time.\n\n");
    for (SeedThread s : data.seeds()) {
      m.append("### Seed ").append(s.id()).append(": ").append(md(s.subject())).append("\n\n");
      m.append("`").append(s.file()).append("`, ").append(s.date()).append(". ");
      m.append("**Question.** ").append(md(s.question())).append("\n\n");
      m.append("The designs proposed:\n\n");
      for (Quote q : s.quotes()) {
        m.append("- `")
            .append(q.design())
            .append("`: ")
            .append(md(q.author()))
            .append(", ")
            .append(q.date())
            .append(": “")
            .append(md(q.text()))
            .append("”\n");
      }
      m.append("\nWhat refkern measured:\n\n");
      List<Comparison> cs = comparisonsOf(data, s);
      List<ReportSection> ss = sectionsOf(sections, s);
      if (cs.isEmpty() && ss.isEmpty()) {
        m.append("Not measured yet: no comparison varies `")
            .append(String.join("`, `", s.params()))
            .append("`.\n\n");
      }
      for (Comparison c : cs) {
        mdBlock(m, measured(data, c), true);
      }
      for (ReportSection x : ss) {
        mdBlock(m, measured(x), false);
      }
    }
    return m.toString();
  }

  private static void mdBlock(StringBuilder m, Measured b, boolean withTable) {
    m.append("**").append(md(b.title())).append("** — ").append(md(b.question())).append("\n\n");
    if (withTable) {
      for (ReportTable t : b.tables()) {
        m.append("| ").append(String.join(" | ", t.headers().stream().map(LabReport::md).toList()));
        m.append(" |\n|").append("---|".repeat(t.headers().size())).append('\n');
        for (List<String> r : t.rows()) {
          m.append("| ").append(String.join(" | ", r.stream().map(LabReport::md).toList()));
          m.append(" |\n");
        }
        m.append('\n');
      }
    }
    for (String l : b.sentences()) {
      m.append("- ").append(md(l)).append('\n');
    }
    m.append("\nReproduce: `").append(b.command()).append("`\n\n");
  }

  /** Markdown-safe text: table pipes escaped, line breaks joined. */
  static String md(String s) {
    return s.replace("|", "\\|").replace('\n', ' ');
  }

  private static final String CSS =
      """
      :root{--fg:#1d2330;--muted:#5b6575;--line:#dde2ea;--bg:#fff;--soft:#f5f7fa;--acc:#0b5cad}
      *{box-sizing:border-box}
      body{margin:0;font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
      header,nav,main>section,body>footer{max-width:1080px;margin:0 auto;padding:0 24px}
      header{padding-top:28px}
      h1{font-size:30px;line-height:1.2;margin:0 0 8px}
      h2{font-size:23px;margin:36px 0 6px;padding-top:14px;border-top:3px solid var(--line)}
      h3{font-size:17px;margin:22px 0 8px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
      h4{font-size:18px;margin:18px 0 4px}
      .lead{color:var(--muted);max-width:70ch}
      .tag{display:inline-block;background:var(--acc);color:#fff;border-radius:4px;padding:0 8px;margin-right:6px;font-size:18px}
      table.meta{border-collapse:collapse;font-size:14px;margin:12px 0}
      table.meta th{text-align:left;color:var(--muted);font-weight:600;padding:2px 14px 2px 0}
      nav ol{columns:2;font-size:15px}
      a{color:var(--acc)}
      .src{color:var(--muted);font-size:14px;margin:2px 0}
      .question{font-size:18px;font-weight:500;border-left:4px solid var(--acc);padding:4px 12px;background:var(--soft)}
      .quotes{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
      blockquote{margin:0;padding:10px 14px;background:var(--soft);border-radius:6px;font-size:15px}
      blockquote p{margin:0 0 6px;font-style:italic}
      blockquote footer{font-size:13px;color:var(--muted)}
      .design{font-family:ui-monospace,Menlo,Consolas,monospace;background:#e6eefb;color:#123;border-radius:3px;padding:0 5px;margin-left:4px}
      .measured{margin:10px 0 26px}
      .q{color:var(--muted);margin:2px 0 8px}
      .tw{overflow-x:auto}
      table.data{border-collapse:collapse;font-size:13.5px;margin:6px 0 10px;font-variant-numeric:tabular-nums}
      table.data caption{caption-side:top;text-align:left;color:var(--muted);font-size:13px;padding-bottom:4px}
      table.data th,table.data td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:right;white-space:nowrap}
      table.data thead th{background:var(--soft);font-weight:600;white-space:normal;vertical-align:bottom;min-width:70px}
      table.data tbody th{text-align:left;font-weight:600}
      table.data tbody tr:nth-child(even){background:#fafbfc}
      figure{margin:8px 0}
      figure svg,figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
      figcaption{font-size:13px;color:var(--muted)}
      svg .ct{font:600 14px system-ui,sans-serif;fill:#1d2330}
      svg .cu,svg .cl{font:12px system-ui,sans-serif;fill:#5b6575}
      svg .cv{font:600 12px system-ui,sans-serif;fill:#1d2330}
      svg .ci{stroke:#1d2330;stroke-width:1.3;fill:none}
      svg .ax{stroke:#9aa3b2;stroke-width:1}
      .findings{font-size:15px}
      .cmdl{margin:6px 0 2px;font-size:13px;color:var(--muted)}
      pre.cmd{background:#1d2330;color:#e8edf5;padding:8px 12px;border-radius:6px;overflow-x:auto;font-size:13.5px;margin:0}
      .see{background:var(--soft);border-radius:6px;padding:2px 14px;margin:10px 0}
      .none{color:var(--muted);font-style:italic}
      body>footer{color:var(--muted);font-size:13px;padding:30px 24px 40px}
      @media print{nav{display:none}h2{break-before:page}}
      """;
}
