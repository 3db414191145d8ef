package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code refkern hmmfilebench} in process, tiny: one row per {@code hmm.file_pages=} value. */
class HmmFileBenchCommandTest {
  @Test
  void aTinyRunPrintsOneRowPerPolicyWithBouncesOrMigrations() throws Exception {
    CliRun r =
        CliRun.run("hmmfilebench", "--fs", "xfs", "--pages", "4", "--rounds", "2", "--seed", "3");
    assertEquals(0, r.exit(), r.out() + r.err());
    List<String> lines = r.out().lines().toList();
    String header = lines.stream().filter(l -> l.startsWith("fs ")).findFirst().orElseThrow();
    List<String> h = List.of(header.trim().split("\\s+"));
    String off = row(lines, "off");
    String back = row(lines, "migrate_back");
    String bounce = row(lines, "bounce");
    assertTrue(Long.parseLong(cell(h, off, "dma-failed")) >= 4, "off: the GPU's DMA fails");
    assertEquals("0", cell(h, off, "gpu-writes"), r.out());
    assertEquals("0", cell(h, back, "bounced-B"), r.out());
    assertTrue(Long.parseLong(cell(h, back, "migrations-back")) >= 4, r.out());
    assertEquals("0", cell(h, bounce, "migrations-back"), r.out());
    assertTrue(Long.parseLong(cell(h, bounce, "bounced-B")) >= 4 * 4096, r.out());
    for (String row : List.of(off, back, bounce)) {
      assertEquals("0", cell(h, row, "synced-lost"), r.out());
    }
  }

  private static String row(List<String> lines, String policy) {
    return lines.stream()
        .filter(l -> l.startsWith("xfs ") && l.trim().split("\\s+")[1].equals(policy))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no row for " + policy + " in " + lines));
  }

  private static String cell(List<String> headers, String row, String name) {
    return row.trim().split("\\s+")[headers.indexOf(name)];
  }
}
