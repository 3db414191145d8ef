package dev.refkern.examples.report;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.List;
import org.apiguardian.api.API;

/**
 * A table of the report, already formatted: the HTML and the Markdown render the same cells.
 *
 * @param caption one line saying what the rows are
 * @param headers the column names
 * @param rows the cells, one list per row, as many as {@code headers}
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record ReportTable(String caption, List<String> headers, List<List<String>> rows) {
  public ReportTable {
    headers = List.copyOf(headers);
    rows = rows.stream().map(List::copyOf).toList();
    for (List<String> r : rows) {
      if (r.size() != headers.size()) {
        throw new IllegalArgumentException(
            "row " + r + " has " + r.size() + " cells for " + headers.size() + " columns");
      }
    }
  }
}
