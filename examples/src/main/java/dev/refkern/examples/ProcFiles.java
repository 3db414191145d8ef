package dev.refkern.examples;

import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.ZoneInfo;
import dev.refkern.mm.ZoneType;
import java.util.Locale;
import java.util.Map;

/**
 * Renders what {@code /proc/meminfo}, {@code /proc/zoneinfo}, {@code /proc/buddyinfo} and {@code
 * /proc/vmstat} would show.
 */
public final class ProcFiles {
  private ProcFiles() {}

  private static String zoneName(ZoneType t) {
    return switch (t) {
      case NORMAL -> "Normal";
      case MOVABLE -> "Movable";
      case DEVICE -> "Device";
    };
  }

  /** {@code /proc/meminfo} (the fields refkern models), in kB as the kernel prints them. */
  public static String meminfo(PhysicalMemory mem) {
    long totalPages = mem.ramPfns();
    long free = mem.allocator().nrFreePages();
    long low = 0;
    for (ZoneInfo z : mem.allocator().zones()) {
      low += z.wmarkLow();
    }
    StringBuilder sb = new StringBuilder();
    line(sb, "MemTotal", totalPages * 4);
    line(sb, "MemFree", free * 4);
    line(sb, "MemAvailable", Math.max(0, free - low) * 4);
    line(sb, "Memmap", mem.memmap().nrPfns() * 64 / 1024);
    return sb.toString();
  }

  private static void line(StringBuilder sb, String key, long kb) {
    sb.append(String.format(Locale.ROOT, "%-16s%8d kB%n", key + ":", kb));
  }

  /** {@code /proc/zoneinfo}. */
  public static String zoneinfo(PhysicalMemory mem) {
    StringBuilder sb = new StringBuilder();
    for (ZoneInfo z : mem.allocator().zones()) {
      sb.append(String.format(Locale.ROOT, "Node 0, zone %8s%n", zoneName(z.type())));
      sb.append(String.format(Locale.ROOT, "  pages free     %d%n", z.freePages()));
      sb.append(String.format(Locale.ROOT, "        min      %d%n", z.wmarkMin()));
      sb.append(String.format(Locale.ROOT, "        low      %d%n", z.wmarkLow()));
      sb.append(String.format(Locale.ROOT, "        high     %d%n", z.wmarkHigh()));
      sb.append(String.format(Locale.ROOT, "        spanned  %d%n", z.spannedPages()));
      sb.append(String.format(Locale.ROOT, "        present  %d%n", z.presentPages()));
      sb.append(String.format(Locale.ROOT, "        managed  %d%n", z.managedPages()));
      sb.append(String.format(Locale.ROOT, "  start_pfn:           %d%n", z.startPfn()));
    }
    return sb.toString();
  }

  /** {@code /proc/buddyinfo}: free blocks per order. */
  public static String buddyinfo(PhysicalMemory mem) {
    StringBuilder sb = new StringBuilder();
    for (ZoneInfo z : mem.allocator().zones()) {
      if (z.type() == ZoneType.DEVICE) {
        continue;
      }
      sb.append(String.format(Locale.ROOT, "Node 0, zone %8s", zoneName(z.type())));
      for (int o = 0; o <= PageAllocator.MAX_ORDER; o++) {
        sb.append(String.format(Locale.ROOT, " %6d", z.freeByOrder()[o]));
      }
      sb.append('\n');
    }
    return sb.toString();
  }

  /** {@code /proc/vmstat}. */
  public static String vmstat(PhysicalMemory mem) {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<VmItem, Long> e : mem.vmstat().snapshot().entrySet()) {
      sb.append(e.getKey().procName()).append(' ').append(e.getValue()).append('\n');
    }
    return sb.toString();
  }
}
