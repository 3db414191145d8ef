package dev.refkern.mm.internal.memmap;

import static dev.refkern.mm.internal.memmap.MemmapFile.MAP_FILE;
import static dev.refkern.mm.internal.memmap.MemmapFile.PROPS_FILE;
import static dev.refkern.mm.internal.memmap.MemmapFile.SECTION_BYTES;
import static dev.refkern.mm.internal.memmap.MemmapFile.VALUE_BYTES;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Properties;
import net.openhft.chronicle.bytes.BytesStore;
import net.openhft.chronicle.bytes.RandomDataInput;
import net.openhft.chronicle.bytes.RandomDataOutput;
import net.openhft.chronicle.hash.AbstractData;
import net.openhft.chronicle.hash.Data;
import net.openhft.chronicle.hash.impl.VanillaChronicleHash;
import net.openhft.chronicle.map.ChronicleMap;
import net.openhft.chronicle.map.ChronicleMapBuilder;
import net.openhft.chronicle.map.ExternalMapQueryContext;
import net.openhft.chronicle.map.MapAbsentEntry;
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

  /**
   * Inserts section {@code s} with {@code zero}'s descriptors: a query context's insert, as {@code
   * put()} would, but the value is zeroed in place instead of copied from a 2 MiB array.
   */
  static void insert(ChronicleMap<Integer, byte[]> map, int s, ZeroSection zero) {
    try (ExternalMapQueryContext<Integer, byte[], ?> c = map.queryContext(s)) {
      c.updateLock().lock();
      MapAbsentEntry<Integer, byte[]> absent = c.absentEntry();
      if (absent == null) {
        throw new IllegalStateException("memmap section " + s + " already in a fresh map");
      }
      c.insert(absent, zero);
    }
  }

  /**
   * A section's value of all-zero descriptors. Writing it zeroes the entry in place: Chronicle's
   * {@code zeroOut} skips words already zero, so a fresh file's pages are only read, never copied
   * into (copying 2 MiB into a new file's pages per boot was most of a small kernel's boot).
   */
  static final class ZeroSection extends AbstractData<byte[]> {
    private final BytesStore<?, ?> bytes = BytesStore.wrap(new byte[VALUE_BYTES]);

    @Override
    public RandomDataInput bytes() {
      return bytes;
    }

    @Override
    public long offset() {
      return 0;
    }

    @Override
    public long size() {
      return VALUE_BYTES;
    }

    @Override
    public void writeTo(RandomDataOutput target, long targetOffset) {
      target.zeroOut(targetOffset, targetOffset + VALUE_BYTES);
    }

    @Override
    public byte[] get() {
      return new byte[VALUE_BYTES];
    }

    @Override
    public byte[] getUsing(byte[] using) {
      byte[] out = using != null && using.length == VALUE_BYTES ? using : new byte[VALUE_BYTES];
      java.util.Arrays.fill(out, (byte) 0);
      return out;
    }
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
   * address minus the mapping's start is the offset. Proved on section 0 with markers at both ends
   * of its descriptors, written through the file and read back through Chronicle's entry, so a
   * Chronicle layout change fails the boot, not a later inspection ({@code markerBuffer}: 8 bytes
   * for the markers' I/O). Markers, not a whole-section put: rewriting the 2 MiB value twice was
   * most of a small kernel's boot.
   */
  static long[] locate(
      ChronicleMap<Integer, byte[]> map, FileChannel ch, long[] bases, byte[] markerBuffer)
      throws IOException {
    long start = ((VanillaChronicleHash<?, ?, ?, ?>) map).bsAddress();
    long[] offsets = new long[bases.length];
    for (int s = 0; s < bases.length; s++) {
      offsets[s] = bases[s] - start;
    }
    long[] at = {0, SECTION_BYTES - MARKER_BYTES};
    ByteBuffer b = ByteBuffer.wrap(markerBuffer, 0, MARKER_BYTES).order(ByteOrder.nativeOrder());
    for (int m = 0; m < at.length; m++) {
      writeFully(ch, b.clear().putLong(0, MARKER + m), offsets[0] + at[m]);
    }
    boolean found;
    try (ExternalMapQueryContext<Integer, byte[], ?> c = map.queryContext(0)) {
      MapEntry<Integer, byte[]> e = c.entry();
      if (e == null) {
        throw new KernelException(Errno.EIO, "memmap section 0 missing after creation");
      }
      Data<byte[]> v = e.value();
      found = true;
      for (int m = 0; m < at.length && found; m++) {
        long raw = v.bytes().addressForRead(v.offset());
        found = v.bytes().readLong(v.offset() + (bases[0] - raw) + at[m]) == MARKER + m;
      }
    }
    for (long off : at) {
      writeFully(ch, b.clear().putLong(0, 0), offsets[0] + off); // the fresh section's zeros
    }
    if (!found) {
      throw new KernelException(
          Errno.EIO, "cannot locate the memmap's sections in " + MAP_FILE + " (Chronicle layout)");
    }
    return offsets;
  }

  private static final int MARKER_BYTES = Long.BYTES;
  private static final long MARKER = 0x5a5a_5a5a_5a5a_5a00L;

  private static void writeFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b, pos + b.position());
    }
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
