package dev.refkern.examples.report;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Every quote of the report is verbatim in its seed file (when the seeds are at hand). */
class SeedQuotesTest {
  static final Path SEEDS = Path.of(System.getProperty("refkern.seeds", "/work/shared/seeds"));

  /** The seed's words without quote markers ({@code > > }) and with whitespace collapsed. */
  static String plain(String s) {
    return s.replaceAll("(^|\\s)(>\\s*)+", " ").replaceAll("\\s+", " ").trim();
  }

  @Test
  void everyQuoteIsInItsSeedVerbatim() throws Exception {
    Assumptions.assumeTrue(
        Files.isDirectory(SEEDS), "the seed files are not here (" + SEEDS + "): nothing to check");
    for (SeedThread s : SeedThreads.ALL) {
      String text = plain(Files.readString(SEEDS.resolve(s.file())));
      for (SeedThread.Quote q : s.quotes()) {
        assertTrue(
            text.contains(plain(q.text())),
            "seed " + s.file() + ": the quote of " + q.author() + " is not verbatim: " + q.text());
      }
    }
  }
}
