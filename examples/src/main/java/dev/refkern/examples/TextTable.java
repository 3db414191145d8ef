package dev.refkern.examples;

import java.util.List;

/**
 * Aligned text columns for the command line's tables: the first column left, the rest right.
 *
 * <p>Kept rather than a library: picocli's {@code Help.TextTable} left-aligns every cell in
 * fixed-width columns (made for usage help), and asciitable would add three jars without stable
 * module names for these thirty lines; tests and scripts split these rows on whitespace.
 */
public final class TextTable {
  private TextTable() {}

  /** Renders {@code rows} (the header row first), two spaces between columns. */
  public static String render(List<String[]> rows) {
    int cols = 0;
    for (String[] row : rows) {
      cols = Math.max(cols, row.length);
    }
    int[] w = new int[cols];
    for (String[] row : rows) {
      for (int i = 0; i < row.length; i++) {
        w[i] = Math.max(w[i], row[i].length());
      }
    }
    StringBuilder sb = new StringBuilder();
    for (String[] row : rows) {
      for (int i = 0; i < row.length; i++) {
        if (i == 0) {
          sb.append(String.format("%-" + w[i] + "s", row[i]));
        } else {
          sb.append("  ").append(String.format("%" + w[i] + "s", row[i]));
        }
      }
      sb.append('\n');
    }
    return sb.toString();
  }
}
