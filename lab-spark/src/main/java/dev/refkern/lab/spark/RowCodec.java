package dev.refkern.lab.spark;

import dev.refkern.examples.lab.LabCell;
import dev.refkern.examples.lab.LabRow;
import java.util.ArrayList;
import java.util.List;

/** One {@link LabRow} as one CSV line in {@link LabRow#COLUMNS} order, and back (RFC 4180). */
final class RowCodec {
  private RowCodec() {}

  /** The header line. */
  static String header() {
    return String.join(",", LabRow.COLUMNS);
  }

  static String encode(LabRow row) {
    StringBuilder b = new StringBuilder();
    for (Object v : row.values()) {
      if (b.length() > 0) {
        b.append(',');
      }
      String s = String.valueOf(v);
      if (s.indexOf(',') >= 0 || s.indexOf('"') >= 0 || s.indexOf('\n') >= 0) {
        b.append('"').append(s.replace("\"", "\"\"")).append('"');
      } else {
        b.append(s);
      }
    }
    return b.toString();
  }

  static LabRow decode(String line) {
    List<String> f = split(line);
    if (f.size() != LabRow.COLUMNS.size()) {
      throw new IllegalArgumentException(
          "a row has " + LabRow.COLUMNS.size() + " fields, not " + f.size() + ": " + line);
    }
    int i = 0;
    LabCell cell =
        new LabCell(f.get(i++), f.get(i++), f.get(i++), f.get(i++), Long.parseLong(f.get(i++)));
    return new LabRow(
        cell,
        f.get(i++),
        f.get(i++),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Boolean.parseBoolean(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Long.parseLong(f.get(i++)),
        Double.parseDouble(f.get(i)));
  }

  private static List<String> split(String line) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (quoted) {
        if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
          cur.append('"');
          i++;
        } else if (c == '"') {
          quoted = false;
        } else {
          cur.append(c);
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        out.add(cur.toString());
        cur.setLength(0);
      } else {
        cur.append(c);
      }
    }
    out.add(cur.toString());
    return out;
  }

  /**
   * A cell as one tab-separated line: what an RDD carries (a {@link LabCell} is not Serializable).
   */
  static String encodeCell(LabCell c) {
    return String.join(
        "\t", c.comparison(), c.workload(), c.policy(), c.fs(), Long.toUnsignedString(c.seed()));
  }

  static LabCell decodeCell(String s) {
    String[] f = s.split("\t", -1);
    return new LabCell(f[0], f[1], f[2], f[3], Long.parseUnsignedLong(f[4]));
  }
}
