package dev.refkern.examples.report;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.List;
import org.apiguardian.api.API;

/**
 * A measured section that is not a lab {@code Comparison} (the power-cut matrix, {@code compare
 * pin-tracking}, the bio pin-tracking designs): its tables and charts, already made, and the
 * command that reproduces them. Seed threads that argue one of its {@code params} link to it.
 *
 * @param id the HTML anchor ({@code pin-tracking})
 * @param title its heading
 * @param question one line: what it answers
 * @param params the policy parameters it varies
 * @param command the exact command line that reproduces it, with its seed
 * @param summary sentences generated from its numbers (for the seed sections and the Markdown)
 * @param tables its tables
 * @param charts its charts
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record ReportSection(
    String id,
    String title,
    String question,
    List<String> params,
    String command,
    List<String> summary,
    List<ReportTable> tables,
    List<ReportChart> charts) {
  public ReportSection {
    params = List.copyOf(params);
    summary = List.copyOf(summary);
    tables = List.copyOf(tables);
    charts = List.copyOf(charts);
  }
}
