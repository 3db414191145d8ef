package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The kernel command line ({@code Documentation/admin-guide/kernel-parameters.txt}): {@code mem=},
 * {@code movablecore=}, {@code kernelcore=}, {@code min_free_kbytes=}, refkern's {@code
 * zone_device=} (memmap reserved for {@code dev_pagemap} ranges), and dotted policy keys such as
 * {@code gup.pin_tracking=bias} that later layers read.
 *
 * <p>Like the kernel, an undotted parameter it does not know is kept (the kernel passes it to init)
 * and reported by {@link #unknown()}; a known parameter with a bad value is {@code -EINVAL}. Unlike
 * the kernel, which keeps unknown dotted keys for modules loaded later, a dotted key that no layer
 * declares ({@link PolicyRegistry}) is {@code -EINVAL}: refkern has no loadable modules, and a typo
 * would silently run the default policy.
 */
@API(status = STABLE, since = "0.1.0")
public final class BootParams {
  /** Default memory when {@code mem=} is absent. */
  public static final long DEFAULT_MEM = 1L << 30;

  /** Largest {@code mem=} accepted (the pfn must fit the memmap's 31-bit links). */
  public static final long MAX_MEM = 4L << 40;

  /** {@code zone_device=} when absent. */
  public static final long DEFAULT_ZONE_DEVICE = 256L << 20;

  /** The kernel's floor for {@code min_free_kbytes} ({@code init_per_zone_wmark_min()}). */
  public static final long MIN_MIN_FREE_KBYTES = 128;

  private static final java.util.Set<String> KNOWN =
      java.util.Set.of(
          "mem", "movablecore", "kernelcore", "min_free_kbytes", "zone_device", "sched");

  private final String cmdline;
  private final Map<String, String> values;
  private final long memBytes;
  private final long movableBytes;
  private final long zoneDeviceBytes;
  private final long minFreeKbytes;
  private final DirtySysctls dirty;

  private BootParams(String cmdline, Map<String, String> values) {
    this.cmdline = cmdline;
    this.values = Collections.unmodifiableMap(values);
    this.memBytes = roundDownToPage(sizeOr("mem", DEFAULT_MEM));
    if (memBytes < (16L << 20) || memBytes > MAX_MEM) {
      throw invalid("mem=" + values.get("mem") + " must be between 16M and 4T");
    }
    long movable = 0;
    if (values.containsKey("movablecore")) {
      movable = sizeOrPercent("movablecore", memBytes);
    }
    if (values.containsKey("kernelcore")) {
      long kernelcore = sizeOrPercent("kernelcore", memBytes);
      movable = Math.max(movable, memBytes - kernelcore);
    }
    movable = roundDownToPage(movable);
    if (movable < 0 || movable >= memBytes) {
      throw invalid("ZONE_MOVABLE would take all memory (" + movable + " of " + memBytes + ")");
    }
    this.movableBytes = movable;
    this.zoneDeviceBytes = roundDownToPage(sizeOr("zone_device", DEFAULT_ZONE_DEVICE));
    long maxZoneDevice = maxZoneDeviceBytes(memBytes);
    if (zoneDeviceBytes > maxZoneDevice) {
      throw invalid(
          "zone_device="
              + values.get("zone_device")
              + " must be at most "
              + (maxZoneDevice >> 20)
              + "M (the larger of mem= and 256M): its memmap, 64 bytes per 4 KiB frame, comes out"
              + " of RAM as memremap_pages() takes it without an altmap");
    }
    long mfk = -1;
    if (values.containsKey("min_free_kbytes")) {
      long max = maxMinFreeKbytes(memBytes);
      mfk = parseLong("min_free_kbytes", values.get("min_free_kbytes"));
      if (mfk < MIN_MIN_FREE_KBYTES || mfk > max) {
        throw invalid(
            "min_free_kbytes="
                + values.get("min_free_kbytes")
                + " must be between "
                + MIN_MIN_FREE_KBYTES
                + " and "
                + max
                + " (a quarter of mem=, in kB: the watermarks must leave memory to allocate)");
      }
    }
    this.minFreeKbytes = mfk;
    this.dirty = DirtySysctls.parse(values);
    checkDottedKeys(values);
  }

  /** The largest {@code zone_device=} for {@code mem=}: its memmap must fit RAM comfortably. */
  static long maxZoneDeviceBytes(long memBytes) {
    return Math.max(memBytes, DEFAULT_ZONE_DEVICE);
  }

  /** The largest {@code min_free_kbytes=} for {@code mem=}: a quarter of memory. */
  static long maxMinFreeKbytes(long memBytes) {
    return memBytes / 4 / 1024;
  }

  /**
   * Rejects a dotted key no policy answers ({@link PolicyRegistry#global()}) and a value naming no
   * policy of its key: a typo must not silently run the default policy.
   */
  private static void checkDottedKeys(Map<String, String> values) {
    PolicyRegistry registry = PolicyRegistry.global();
    values.forEach(
        (k, v) -> {
          if (k.indexOf('.') < 0 || DirtySysctls.KEYS.contains(k)) {
            return; // the vm.dirty_* numbers are checked by DirtySysctls
          }
          if (!registry.hasParam(k)) {
            throw invalid(
                "unknown parameter "
                    + k
                    + "=; known dotted keys: "
                    + registry.params()
                    + " and "
                    + DirtySysctls.KEYS);
          }
          List<String> names = registry.names(k);
          if (!names.contains(v)) {
            throw invalid(k + "=" + v + ": choose one of " + names);
          }
        });
  }

  /**
   * Every dotted key the registered policies answer, sorted, with the names each accepts
   * (mainline's first).
   */
  public static Map<String, List<String>> knownDottedKeys() {
    PolicyRegistry registry = PolicyRegistry.global();
    Map<String, List<String>> all = new TreeMap<>();
    for (String param : registry.params()) {
      all.put(param, registry.names(param));
    }
    return Collections.unmodifiableMap(all);
  }

  /** Parses a command line such as {@code "mem=64G movablecore=8G gup.pin_tracking=bias"}. */
  public static BootParams parse(String cmdline) {
    String line = cmdline == null ? "" : cmdline.trim();
    Map<String, String> values = new LinkedHashMap<>();
    if (!line.isEmpty()) {
      for (String word : line.split("\\s+")) {
        int eq = word.indexOf('=');
        String key = eq < 0 ? word : word.substring(0, eq);
        String value = eq < 0 ? "" : word.substring(eq + 1);
        if (key.isEmpty()) {
          throw invalid("empty parameter name in '" + word + "'");
        }
        values.put(key, value); // later words win, as in the kernel
      }
    }
    return new BootParams(line, values);
  }

  /** Parses {@code memparse()} sizes: a number with an optional K, M, G or T suffix. */
  public static long memparse(String s) {
    if (s == null || s.isEmpty()) {
      throw invalid("empty size");
    }
    char last = Character.toUpperCase(s.charAt(s.length() - 1));
    int shift =
        switch (last) {
          case 'K' -> 10;
          case 'M' -> 20;
          case 'G' -> 30;
          case 'T' -> 40;
          default -> 0;
        };
    String digits = shift == 0 ? s : s.substring(0, s.length() - 1);
    long n = parseLong("size", digits);
    if (n < 0 || (shift > 0 && n > (Long.MAX_VALUE >> shift))) {
      throw invalid("size out of range: " + s);
    }
    return n << shift;
  }

  private static long parseLong(String what, String s) {
    try {
      return Long.parseLong(s);
    } catch (NumberFormatException e) {
      throw invalid(what + ": not a number: '" + s + "'");
    }
  }

  private long sizeOr(String key, long dflt) {
    String v = values.get(key);
    return v == null ? dflt : memparse(v);
  }

  private long sizeOrPercent(String key, long total) {
    String v = values.get(key);
    if (v.endsWith("%")) {
      long pct = parseLong(key, v.substring(0, v.length() - 1));
      if (pct < 0 || pct > 100) {
        throw invalid(key + "=" + v);
      }
      return total * pct / 100;
    }
    return memparse(v);
  }

  private static long roundDownToPage(long bytes) {
    return bytes & Page.PAGE_MASK;
  }

  private static KernelException invalid(String message) {
    return new KernelException(Errno.EINVAL, "bad kernel command line: " + message);
  }

  /** The command line as given. */
  public String cmdline() {
    return cmdline;
  }

  /** Bytes of RAM ({@code mem=}), page aligned. */
  public long memBytes() {
    return memBytes;
  }

  /** Bytes of RAM in {@code ZONE_MOVABLE} ({@code movablecore=} / {@code kernelcore=}). */
  public long movableBytes() {
    return movableBytes;
  }

  /** Bytes of physical address space reserved for {@code ZONE_DEVICE} memmap. */
  public long zoneDeviceBytes() {
    return zoneDeviceBytes;
  }

  /** {@code min_free_kbytes=}, or -1 to compute it as the kernel does. */
  public long minFreeKbytes() {
    return minFreeKbytes;
  }

  /** The {@code vm.dirty_*} writeback sysctls. */
  public DirtySysctls dirtySysctls() {
    return dirty;
  }

  /** A parameter's value (empty for a bare flag), or {@code dflt} when absent. */
  public String get(String key, String dflt) {
    return values.getOrDefault(key, dflt);
  }

  /** True when the parameter was given. */
  public boolean has(String key) {
    return values.containsKey(key);
  }

  /** Every parameter, in command-line order. */
  public Map<String, String> all() {
    return values;
  }

  /** Parameters that are neither known to mm-core nor dotted policy keys of a later layer. */
  public Map<String, String> unknown() {
    Map<String, String> u = new LinkedHashMap<>();
    values.forEach(
        (k, v) -> {
          if (!KNOWN.contains(k) && k.indexOf('.') < 0) {
            u.put(k, v);
          }
        });
    return u;
  }

  @Override
  public String toString() {
    return cmdline;
  }
}
