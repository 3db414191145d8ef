package dev.refkern.examples;

import static dev.refkern.examples.CliRun.run;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code refkern run dio}: a small run is clean and reports every design; bad input is EINVAL. */
class RunDioTest {
  private static final List<String> DESIGNS =
      dev.refkern.mm.PolicyRegistry.global().names(dev.refkern.block.BioPinTracking.PARAM);

  @TempDir Path tmp;

  @Test
  void smallRunIsCleanAndComparesEveryDesign() {
    CliRun r =
        run(
            "run",
            "dio",
            "--mb",
            "2",
            "--design-pages",
            "64",
            "--cmdline",
            "mem=64M",
            "--state",
            tmp.toString());
    assertEquals(0, r.exit(), r.out() + r.err());
    assertTrue(r.out().contains("pins balanced: yes"), r.out());
    assertTrue(r.out().contains("debug_vm: clean"), r.out());
    assertTrue(r.out().contains("integrity errors: 0"), r.out());
    assertTrue(r.out().contains("data verified: yes"), r.out());
    assertTrue(r.out().contains("flushed data is intact: yes"), r.out());
    assertTrue(r.out().contains("the task sees its last writes: yes"), r.out());
    assertTrue(r.out().matches("(?s).*write: 2 MiB, 2 requests, 8 bios: [0-9.]+ MB/s.*"), r.out());
    assertTrue(r.err().contains("run dio: "), "progress on stderr: " + r.err());
    assertTrue(Files.exists(tmp.resolve("disk0.img")), "the image stays in --state");

    Map<String, Map<String, String>> t = r.table("design");
    assertEquals(DESIGNS.size(), t.size(), r.out());
    for (String d : DESIGNS) {
      assertTrue(t.containsKey(d), "no row for " + d + " in\n" + r.out());
      assertTrue(Double.parseDouble(t.get(d).get("ns/page")) > 0, r.out());
    }
    // 64 pages: 4 journal groups of 1 referenced header + 16 pinned pages
    assertEquals("7", t.get("bio_flag").get("splits"), r.out());
    assertEquals("0", t.get("bvec_pfn_flag").get("splits"), r.out());
    assertEquals("4", t.get("bias_all").get("extra-pins"), r.out());
    assertEquals("0", t.get("bio_flag").get("extra-pins"), r.out());
    assertEquals(t.get("page_ptr_bit").get("pages"), t.get("page_ptr_bit").get("mask-ops"));
    assertEquals("0", t.get("bvec_pfn_flag").get("mask-ops"), r.out());
  }

  @Test
  void withoutPowerCutAndWithATemporaryState() {
    CliRun r = run("run", "dio", "--mb", "1", "--design-pages", "16", "--no-power-cut");
    assertEquals(0, r.exit(), r.out() + r.err());
    assertFalse(r.out().contains("power cut"), r.out());
    assertTrue(r.out().contains("pins balanced: yes"), r.out());
  }

  @Test
  void badInputIsEinval() {
    CliRun mb = run("run", "dio", "--mb", "0", "--state", tmp.toString());
    assertEquals(22, mb.exit(), mb.out() + mb.err());
    assertTrue(mb.err().contains("--mb 0"), mb.err());
    assertEquals("", mb.out());

    assertEquals(22, run("run", "dio", "--design-pages", "100", "--mb", "1").exit());
    CliRun design =
        run("run", "dio", "--mb", "1", "--cmdline", "mem=64M block.bio_pin_tracking=magic");
    assertEquals(22, design.exit(), design.out() + design.err());
  }
}
