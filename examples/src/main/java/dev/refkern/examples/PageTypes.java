package dev.refkern.examples;

import static dev.refkern.mm.Page.*;

import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageFlags;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * A {@code page-types}-style table ({@code tools/mm/page-types.c}): flag combinations and counts.
 */
public final class PageTypes {
  private PageTypes() {}

  /** Counts frames per flag word over {@code [0, nrPfns)}. */
  public static Map<Long, Long> count(Memmap memmap, long nrPfns) {
    return count(memmap, nrPfns, done -> {});
  }

  /** As above, telling {@code progress} every 64K frames how many it has read. */
  public static Map<Long, Long> count(Memmap memmap, long nrPfns, LongConsumer progress) {
    Map<Long, Long> counts = new HashMap<>();
    for (long pfn = 0; pfn < nrPfns; pfn++) {
      counts.merge(memmap.flags(pfn), 1L, Long::sum);
      if ((pfn & 0xffff) == 0xffff) {
        progress.accept(pfn + 1);
      }
    }
    progress.accept(nrPfns);
    return counts;
  }

  /** The table as {@code page-types} prints it, most frequent combination first. */
  public static String table(Map<Long, Long> counts) {
    List<Map.Entry<Long, Long>> rows = new ArrayList<>(counts.entrySet());
    rows.sort((a, b) -> Long.compare(b.getValue(), a.getValue()));
    StringBuilder sb = new StringBuilder();
    sb.append(
        String.format(
            Locale.ROOT,
            "%18s %12s %8s  %-25s %s%n",
            "flags",
            "page-count",
            "MB",
            "symbolic-flags",
            "long-symbolic-flags"));
    long total = 0;
    for (Map.Entry<Long, Long> r : rows) {
      total += r.getValue();
      sb.append(
          String.format(
              Locale.ROOT,
              "0x%016x %12d %8d  %-25s %s%n",
              r.getKey(),
              r.getValue(),
              r.getValue() * PAGE_SIZE >> 20,
              PageFlags.shortSymbolic(r.getKey()),
              PageFlags.longSymbolic(r.getKey())));
    }
    sb.append(
        String.format(Locale.ROOT, "%18s %12d %8d%n", "total", total, total * PAGE_SIZE >> 20));
    return sb.toString();
  }

  /** One descriptor, field by field. */
  public static String describe(Memmap m, long pfn) {
    return String.format(
        Locale.ROOT,
        "pfn %d (zone %s)%n  flags     0x%016x %s%n  _refcount %d%n  mapcount  %d%n  _pincount %d%n"
            + "  compound  %d (head pfn %d)%n  mapping   %d%n  index     %d%n  private   %d%n  pgmap     %d%n",
        pfn,
        m.zone(pfn),
        m.flags(pfn),
        PageFlags.longSymbolic(m.flags(pfn)),
        m.refcount(pfn),
        m.mapcount(pfn),
        m.pincount(pfn),
        m.compound(pfn),
        m.compoundHead(pfn),
        m.mapping(pfn),
        m.index(pfn),
        m.privateData(pfn),
        m.pgmap(pfn));
  }
}
