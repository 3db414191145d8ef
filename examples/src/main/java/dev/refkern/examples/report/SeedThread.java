package dev.refkern.examples.report;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.List;
import org.apiguardian.api.API;

/**
 * One seed thread: a mailing-list discussion the lab answers, the kernel parameters it argues
 * about, and the designs its authors proposed in their own words.
 *
 * @param id the seed's number ({@code 000}..)
 * @param file the seed file's name
 * @param subject the thread's subject line
 * @param date when it was argued ({@code 2019-04})
 * @param question the question it leaves open, in one or two sentences
 * @param params the policy parameters whose values model its designs ({@code writeback.pinned})
 * @param quotes what its authors proposed, verbatim
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record SeedThread(
    String id,
    String file,
    String subject,
    String date,
    String question,
    List<String> params,
    List<Quote> quotes) {
  public SeedThread {
    params = List.copyOf(params);
    quotes = List.copyOf(quotes);
  }

  /**
   * One attributed proposal, quoted verbatim from the seed.
   *
   * @param author who wrote it, as the seed names them
   * @param date when ({@code 2019-04-16})
   * @param design the policy value it argues for, or a short label
   * @param text the words, verbatim (line breaks joined by spaces)
   */
  @API(status = EXPERIMENTAL, since = "0.1.0")
  public record Quote(String author, String date, String design, String text) {}
}
