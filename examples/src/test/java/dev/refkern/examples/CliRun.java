package dev.refkern.examples;

import dev.refkern.examples.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** One in-process {@code refkern} command: its exit status and what it printed. */
record CliRun(int exit, String out, String err) {

  /** Runs {@code refkern args...}, capturing stdout and stderr (one at a time: they are global). */
  static synchronized CliRun run(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit;
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      exit = Main.execute(args);
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
    return new CliRun(
        exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  /** Lines of stdout that match {@code p}. */
  long count(Pattern p) {
    return out.lines().filter(l -> p.matcher(l).matches()).count();
  }

  /**
   * A table on stdout: the first cell of each row to its cells, keyed by the header row (the line
   * starting with {@code firstHeader}); lines starting with {@code #} are comments.
   */
  Map<String, Map<String, String>> table(String firstHeader) {
    List<String> lines = out.lines().filter(l -> !l.startsWith("#")).toList();
    int h = -1;
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).startsWith(firstHeader + " ")) {
        h = i;
        break;
      }
    }
    if (h < 0) {
      throw new AssertionError("no table header '" + firstHeader + "' in:\n" + out);
    }
    String[] headers = lines.get(h).trim().split("\\s+");
    Map<String, Map<String, String>> rows = new HashMap<>();
    for (String line : lines.subList(h + 1, lines.size())) {
      String[] cells = line.trim().split("\\s+");
      if (cells.length != headers.length) {
        continue;
      }
      Map<String, String> row = new HashMap<>();
      for (int i = 0; i < cells.length; i++) {
        row.put(headers[i], cells[i]);
      }
      rows.put(cells[0], row);
    }
    return rows;
  }
}
