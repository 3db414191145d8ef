package dev.refkern.examples;

import static dev.refkern.examples.CliRun.run;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code refkern compare pin-tracking}: each seed's claim shows in the table (timings are not
 * asserted), and the chart is a PNG.
 */
class ComparePinTrackingTest {
  private static final String[] SMALL = {
    "compare", "pin-tracking", "--pages", "256", "--cmdline", "mem=128M movablecore=32M"
  };

  @TempDir Path tmp;

  private static String[] with(String... more) {
    String[] all = Arrays.copyOf(SMALL, SMALL.length + more.length);
    System.arraycopy(more, 0, all, SMALL.length, more.length);
    return all;
  }

  private static long num(Map<String, String> row, String column) {
    assertNotNull(row.get(column), "no column " + column + " in " + row);
    return Math.round(Double.parseDouble(row.get(column)));
  }

  @Test
  void eachDesignShowsWhatItsSeedClaims() {
    CliRun r = run(with("--no-chart"));
    assertEquals(0, r.exit(), r.out() + r.err());
    Map<String, Map<String, String>> t = r.table("policy");
    assertEquals(
        java.util.Set.copyOf(
            dev.refkern.mm.PolicyRegistry.global()
                .names(dev.refkern.mm.vm.PinTrackingPolicy.PARAM)),
        t.keySet(),
        "every registered policy\n" + r.out());

    Map<String, String> bias = t.get("bias");
    assertEquals(0, num(bias, "missed"), "mainline never misses a pin\n" + r.out());
    assertEquals(0, num(bias, "corrupt"), r.out());
    assertTrue(num(bias, "false+") > 0, "1024 plain references look like a pin\n" + r.out());
    assertEquals("yes", bias.get("fast-path"), r.out());
    assertTrue(num(bias, "fast-pages") > 0, r.out());

    Map<String, String> flag = t.get("page_flag");
    assertTrue(num(flag, "missed") > 0, "one bit cannot count two pins\n" + r.out());
    assertTrue(num(flag, "corrupt") > 0, "the fork loses the DMA page\n" + r.out());

    Map<String, String> fake = t.get("fake_vma");
    assertEquals("no", fake.get("fast-path"), r.out());
    assertEquals(0, num(fake, "fast-pages"), "no pin without the lock\n" + r.out());
    assertTrue(num(fake, "overhead-B") > 0, "a fake VMA per pinned page\n" + r.out());
    assertEquals(0, num(fake, "missed"), r.out());

    for (Map.Entry<String, Map<String, String>> e : t.entrySet()) {
      assertTrue(num(e.getValue(), "pin-ns/pg") > 0, e.getKey() + "\n" + r.out());
      assertTrue(num(e.getValue(), "eagain") > 0, "pinned pages never migrate\n" + r.out());
    }
    assertFalse(r.out().contains("chart written"), r.out());
    assertTrue(r.err().contains("bias: done"), "progress on stderr\n" + r.err());
  }

  @Test
  void countsAreDeterministicForASeed() {
    CliRun a = run(with("--no-chart", "--seed", "7"));
    CliRun b = run(with("--no-chart", "--seed", "7"));
    assertEquals(0, a.exit(), a.out() + a.err());
    assertEquals(0, b.exit(), b.out() + b.err());
    Map<String, Map<String, String>> ta = a.table("policy");
    Map<String, Map<String, String>> tb = b.table("policy");
    assertEquals(ta.keySet(), tb.keySet());
    for (String policy : ta.keySet()) {
      for (String col :
          List.of(
              "missed", "corrupt", "false+", "overhead-B", "cmp-blocked", "eagain", "scanned")) {
        assertEquals(
            ta.get(policy).get(col), tb.get(policy).get(col), policy + " " + col + "\n" + a.out());
      }
    }
  }

  @Test
  void writesAPngChart() throws Exception {
    Path png = tmp.resolve("charts/pin-tracking.png");
    CliRun r = run(with("--out", png.toString()));
    assertEquals(0, r.exit(), r.out() + r.err());
    assertTrue(Files.isRegularFile(png), r.out());
    byte[] head = Arrays.copyOf(Files.readAllBytes(png), 8);
    assertArrayEquals(
        new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, head, "PNG magic");
    assertTrue(Files.size(png) > 10_000, "a chart, not an empty image: " + Files.size(png));
    assertTrue(r.out().contains("chart written to " + png.toAbsolutePath().normalize()), r.out());
  }

  @Test
  void tooFewPagesIsEinval() {
    CliRun r = run("compare", "pin-tracking", "--pages", "8", "--no-chart");
    assertEquals(22, r.exit(), r.out() + r.err());
    assertTrue(r.err().contains("--pages 8"), r.err());
  }

  @Test
  void aBadCommandLineIsTheUsersErrorNotAMissingPolicy() {
    CliRun r =
        run(
            "compare",
            "pin-tracking",
            "--pages",
            "256",
            "--no-chart",
            "--cmdline",
            "mem=128M movablecore=32M sched=bogus");
    assertNotEquals(0, r.exit());
    assertTrue(r.err().contains("bad scheduler spec"), r.err());
    assertFalse((r.out() + r.err()).contains("not in this build"), r.out() + r.err());
  }
}
