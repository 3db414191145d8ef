package dev.refkern.examples.report;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/** The report's HTML and Markdown, from fake comparisons: structure, not numbers of a real run. */
class LabReportTest {
  static void walk(Element e, java.util.function.Consumer<Element> f) {
    f.accept(e);
    NodeList k = e.getChildNodes();
    for (int i = 0; i < k.getLength(); i++) {
      if (k.item(i) instanceof Element c) {
        walk(c, f);
      }
    }
  }

  @TempDir Path tmp;

  static Document parse(String html) throws Exception {
    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
    f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", false);
    f.setNamespaceAware(false);
    // the page is written as well-formed XML (XHTML syntax) so that a parser can check it
    return f.newDocumentBuilder()
        .parse(new ByteArrayInputStream(html.getBytes(StandardCharsets.UTF_8)));
  }

  static List<Element> all(Document d, String tag) {
    NodeList n = d.getElementsByTagName(tag);
    List<Element> out = new ArrayList<>();
    for (int i = 0; i < n.getLength(); i++) {
      out.add((Element) n.item(i));
    }
    return out;
  }

  @Test
  void thePageIsWellFormedWithASectionPerSeedAndEveryCommand() throws Exception {
    Path file = LabReport.write(tmp.resolve("out"), FakeReportData.data());
    assertEquals(tmp.resolve("out/report.html"), file);
    String html = Files.readString(file);
    Document d = parse(html);
    for (SeedThread s : SeedThreads.ALL) {
      Element sec = d.getElementById("seed-" + s.id());
      if (sec == null) {
        sec =
            all(d, "section").stream()
                .filter(e -> e.getAttribute("id").equals("seed-" + s.id()))
                .findFirst()
                .orElse(null);
      }
      assertNotNull(sec, "no section for seed " + s.id());
      String text = sec.getTextContent();
      assertTrue(text.contains(s.question()), "seed " + s.id() + " lacks its question");
      for (SeedThread.Quote q : s.quotes()) {
        assertTrue(text.contains(q.text()), "seed " + s.id() + " lacks the quote of " + q.author());
        assertTrue(text.contains(q.author()), "seed " + s.id() + " lacks " + q.author());
      }
    }
    for (String c : FakeReportData.COMMANDS) {
      assertTrue(html.contains(c), "the page lacks the command " + c);
    }
    for (String id : List.of("power-cut", "pin-tracking", "other", "columns")) {
      assertTrue(
          all(d, "section").stream().anyMatch(e -> e.getAttribute("id").equals(id)),
          "no section " + id);
    }
    assertTrue(html.contains("Seed 001") && html.contains("cmp-writeback"));
  }

  @Test
  void aSeedShowsTheComparisonsOfItsParametersAndOthersGoToTheirOwnSection() throws Exception {
    Document d = parse(LabReport.html(FakeReportData.data()));
    List<String> ids = all(d, "div").stream().map(e -> e.getAttribute("id")).toList();
    // writeback.pinned is argued by seeds 001 and 003, not by 000, 002, 004
    assertTrue(ids.contains("seed-001-cmp-writeback"), ids.toString());
    assertTrue(ids.contains("seed-003-cmp-writeback"), ids.toString());
    assertFalse(ids.contains("seed-000-cmp-writeback"), ids.toString());
    assertFalse(ids.contains("seed-004-cmp-writeback"), ids.toString());
    // a comparison of a parameter no seed argues still shows up
    assertTrue(ids.contains("cmp-unargued"), ids.toString());
    // tables: writeback twice (seeds 001, 003), unargued, power cut, pin-tracking
    assertEquals(
        5, all(d, "table").stream().filter(t -> t.getAttribute("class").equals("data")).count());
    // charts: the lab's PNGs for writeback twice, unargued and pin-tracking; power cut as SVG
    assertEquals(1, all(d, "svg").size());
    assertEquals(4, all(d, "img").size());
    assertTrue(all(d, "img").get(0).getAttribute("src").startsWith("data:image/png;base64,"));
  }

  @Test
  void thePageReferencesNothingOnTheNetwork() throws Exception {
    String html = LabReport.html(FakeReportData.data());
    Document d = parse(html);
    List<String> bad = new ArrayList<>();
    walk(
        d.getDocumentElement(),
        e -> {
          NamedNodeMap a = e.getAttributes();
          for (int i = 0; i < a.getLength(); i++) {
            Node n = a.item(i);
            if (n.getNodeName().startsWith("xmlns")
                || n.getNodeValue().matches("data:image/png;base64,[A-Za-z0-9+/=]+")) {
              continue; // the SVG namespace is a name, an inline PNG is no fetch
            }
            if (n.getNodeValue().matches("(?is).*(https?:|//[a-z]).*")) {
              bad.add(e.getTagName() + " " + n.getNodeName() + "=" + n.getNodeValue());
            }
          }
        });
    assertEquals(List.of(), bad);
    assertTrue(all(d, "script").isEmpty(), "a script in the page");
    assertTrue(all(d, "link").isEmpty(), "a linked resource in the page");
    Matcher m = Pattern.compile("url\\(").matcher(html);
    assertFalse(m.find(), "CSS fetches a url()");
  }

  @Test
  void numbersAreMeansWithConfidenceIntervalsOverTheSeeds() {
    String html = LabReport.html(FakeReportData.data());
    // ignore: corrupted blocks 3 + seed % 3 over seeds 1..3 = 4, 5, 3: mean 4, CI 2.484
    assertTrue(html.contains("<td>4 ± 2.5</td>"), "no mean ± CI of the corrupted blocks");
    // power cut: ext4 · ignore · orphan sums 3 seeds of 12 states, 2 lost each
    assertTrue(html.contains("<td>36</td><td>30</td><td>6</td>"), "power-cut sums");
    assertTrue(html.contains("seed 1: entry 7: stale data"), "first bad state with its seed");
    assertTrue(html.contains("EFAULT"), "the errno that refused a policy");
  }

  @Test
  void theMarkdownTellsEachSeedWithItsDesignsNumbersAndCommands() {
    String md = LabReport.markdown(FakeReportData.data());
    assertTrue(md.startsWith(LabReport.MARKDOWN_HEADING + "\n"));
    for (SeedThread s : SeedThreads.ALL) {
      assertTrue(md.contains("### Seed " + s.id() + ": "), "no Markdown for seed " + s.id());
      for (SeedThread.Quote q : s.quotes()) {
        assertTrue(md.contains(q.text().replace("|", "\\|")), "seed " + s.id() + ": " + q.author());
      }
    }
    assertTrue(md.contains("| writeback.pinned | fs | seeds |"), md);
    assertTrue(md.contains("Reproduce: `./refkern compare writeback --seeds 1..3`"));
    assertTrue(md.contains("Reproduce: `./refkern compare pin-tracking --seed 1 --pages 512`"));
    assertTrue(md.contains("Corrupted blocks: most under ignore · "), md);
  }
}
