package dev.refkern.mm.internal.memmap;

import static dev.refkern.mm.internal.memmap.MemmapFile.MAP_FILE;
import static dev.refkern.mm.internal.memmap.MemmapFile.PROPS_FILE;
import static dev.refkern.mm.internal.memmap.MemmapFile.SECTION_BYTES;
import static dev.refkern.mm.internal.memmap.MemmapFile.VALUE_BYTES;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Properties;
import net.openhft.chronicle.hash.Data;
import net.openhft.chronicle.hash.impl.VanillaChronicleHash;
import net.openhft.chronicle.map.ChronicleMap;
import net.openhft.chronicle.map.ChronicleMapBuilder;
import net.openhft.chronicle.map.ExternalMapQueryContext;
import net.openhft.chronicle.map.MapEntry;

/**
 * Where the memmap's {@code struct mem_section}s lie in the Chronicle Map file: the map's shape,
 * each section's descriptor address (queried once, then reached by arithmetic as {@code
 * pfn_to_page()} does), and their file offsets as {@code kernel.properties} records them.
 *
 * <p>Reached only through {@link MemmapFile}, whose initialiser configures Chronicle first.
 */
final class ChronicleLayout {
  private ChronicleLayout() {}

  static ChronicleMapBuilder<Integer, byte[]> builder(int sections) {
    return ChronicleMapBuilder.of(Integer.class, byte[].class)
        .name("refkern-memmap")
        .entries(sections)
        .actualSegments(1) // one segment: no per-segment over-allocation, file = sections x 2 MiB
        .constantValueSizeBySample(new byte[VALUE_BYTES])
        // Chronicle's close-on-exit hook would unmap the memmap under running threads (SIGSEGV);
        // the kernel closes it itself, after its tasks stopped
        .skipCloseOnExitHook(true);
  }

  /** Bytes the memmap file takes: the sections' values, their entry headers and Chronicle's own. */
  static long estimateBytes(int sections) {
    return (long) sections * (VALUE_BYTES + 4096) + (1L << 20);
  }

  /** Each section's first descriptor, cache-line aligned inside its value. */
  static long[] addresses(ChronicleMap<Integer, byte[]> map, int sections) {
    long[] bases = new long[sections];
    for (int s = 0; s < sections; s++) {
      try (ExternalMapQueryContext<Integer, byte[], ?> c = map.queryContext(s)) {
        MapEntry<Integer, byte[]> e = c.entry();
        if (e == null) {
          throw new KernelException(Errno.EINVAL, "memmap section " + s + " missing");
        }
        Data<byte[]> v = e.value();
        if (v.size() != VALUE_BYTES) {
          throw new KernelException(Errno.EINVAL, "memmap section " + s + " has wrong size");
        }
        long raw = v.bytes().addressForRead(v.offset());
        bases[s] = (raw + PageDescriptor.SIZE - 1) & -PageDescriptor.SIZE;
      }
    }
    return bases;
  }

  /**
   * File offsets of each section's descriptors: Chronicle maps the whole file from offset 0, so an
   * address minus the mapping's start is the offset. Proved on section 0 with a marker read back
   * through the file, so a Chronicle layout change fails the boot, not a later inspection.
   */
  static long[] locate(ChronicleMap<Integer, byte[]> map, FileChannel ch, long[] bases, byte[] zero)
      throws IOException {
    long start = ((VanillaChronicleHash<?, ?, ?, ?>) map).bsAddress();
    long[] offsets = new long[bases.length];
    for (int s = 0; s < bases.length; s++) {
      offsets[s] = bases[s] - start;
    }
    byte[] marker = new byte[VALUE_BYTES];
    java.util.Arrays.fill(marker, (byte) 0x5a);
    map.put(0, marker);
    ByteBuffer b = ByteBuffer.allocate(SECTION_BYTES);
    SectionChecksums.readFully(ch, b, offsets[0]);
    map.put(0, zero);
    for (int i = 0; i < SECTION_BYTES; i++) {
      if (b.get(i) != 0x5a) {
        throw new KernelException(
            Errno.EIO,
            "cannot locate the memmap's sections in " + MAP_FILE + " (Chronicle layout)");
      }
    }
    if (addresses(map, 1)[0] != bases[0]) {
      throw new KernelException(Errno.EIO, "memmap section 0 moved on update");
    }
    return offsets;
  }

  /** Offsets as "first+stride" when evenly spaced (the usual case), else a comma list. */
  static String encodeOffsets(long[] offsets) {
    long stride = offsets.length > 1 ? offsets[1] - offsets[0] : 0;
    boolean even = true;
    for (int s = 1; s < offsets.length && even; s++) {
      even = offsets[s] - offsets[s - 1] == stride;
    }
    if (even) {
      return offsets[0] + "+" + stride;
    }
    StringBuilder sb = new StringBuilder();
    for (long o : offsets) {
      sb.append(sb.length() == 0 ? "" : ",").append(o);
    }
    return sb.toString();
  }

  static long[] decodeOffsets(Path dir, Properties p, int sections) {
    String v = p.getProperty("section_offsets", "");
    long[] out = new long[sections];
    try {
      int plus = v.indexOf('+');
      if (plus > 0) {
        long first = Long.parseLong(v.substring(0, plus));
        long stride = Long.parseLong(v.substring(plus + 1));
        for (int s = 0; s < sections; s++) {
          out[s] = first + s * stride;
        }
        return out;
      }
      String[] parts = v.split(",");
      if (parts.length != sections) {
        throw new NumberFormatException();
      }
      for (int s = 0; s < sections; s++) {
        out[s] = Long.parseLong(parts[s]);
      }
      return out;
    } catch (NumberFormatException e) {
      throw new KernelException(
          Errno.EINVAL, "corrupt state: section_offsets=" + v + " in " + dir.resolve(PROPS_FILE));
    }
  }
}
