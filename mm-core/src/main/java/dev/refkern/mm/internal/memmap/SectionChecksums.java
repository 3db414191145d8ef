package dev.refkern.mm.internal.memmap;

import static dev.refkern.mm.internal.memmap.MemmapFile.MAP_FILE;
import static dev.refkern.mm.internal.memmap.MemmapFile.PAGES_PER_SECTION;
import static dev.refkern.mm.internal.memmap.MemmapFile.PROPS_FILE;
import static dev.refkern.mm.internal.memmap.MemmapFile.SECTION_BYTES;
import static dev.refkern.mm.internal.memmap.MemmapFile.SECTION_SHIFT;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Properties;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;

/**
 * The checksums of a stopped kernel's memmap ({@code struct mem_section}s in a {@code vmcore}): a
 * CRC32C per section recorded in {@code kernel.properties} at close, and a CRC32 of the file's
 * header recorded at boot. Computed only then and at inspection, never on a hot path.
 */
final class SectionChecksums {
  static final String CRC_KEY = "section_crc32c";
  private static final int HEADER_CRC_BYTES = 64;

  private SectionChecksums() {}

  /**
   * True if {@code props} recorded section checksums (the kernel stopped or crashed, then closed).
   */
  static boolean present(Properties props) {
    return props.getProperty(CRC_KEY) != null;
  }

  /**
   * Records each section's CRC32C in {@code props}, read through {@code ch}: the kernel's one
   * channel on the memmap, as closing another fd of the file would drop its lock.
   */
  static void record(Properties props, FileChannel ch, long[] offsets) throws IOException {
    long[] crcs = sectionCrcs(ch, offsets);
    StringBuilder sb = new StringBuilder();
    for (long c : crcs) {
      sb.append(sb.length() == 0 ? "" : ",").append(Long.toHexString(c));
    }
    props.setProperty(CRC_KEY, sb.toString());
  }

  /** See {@link MemmapFile#verifyChecksums()}; an inspection's own channel, no kernel lock held. */
  static int verify(Path dir, Properties props, long[] offsets) {
    String[] crcs = props.getProperty(CRC_KEY, "").split(",");
    if (crcs.length != offsets.length) {
      throw new KernelException(
          Errno.EUCLEAN,
          "memmap checksums list "
              + crcs.length
              + " sections, expected "
              + offsets.length
              + " ("
              + dir.resolve(PROPS_FILE)
              + ")");
    }
    long[] actual;
    try (FileChannel ch = FileChannel.open(dir.resolve(MAP_FILE), StandardOpenOption.READ)) {
      actual = sectionCrcs(ch, offsets);
    } catch (IOException e) {
      throw StateDir.ioError("cannot read memmap in " + dir, e);
    }
    for (int s = 0; s < crcs.length; s++) {
      long want;
      try {
        want = Long.parseUnsignedLong(crcs[s], 16);
      } catch (NumberFormatException e) {
        throw new KernelException(
            Errno.EUCLEAN, "memmap section " + s + ": checksum '" + crcs[s] + "' unreadable");
      }
      if (want != actual[s]) {
        long first = (long) s << SECTION_SHIFT;
        throw new KernelException(
            Errno.EUCLEAN,
            String.format(
                "memmap section %d (pfns %d-%d) fails its CRC32C: recorded %08x, found %08x;"
                    + " the memmap in %s was modified after its kernel stopped",
                s, first, first + PAGES_PER_SECTION - 1, want, actual[s], dir));
      }
    }
    return crcs.length;
  }

  /** CRC32C of each section's descriptors, read through the file (the page cache). */
  private static long[] sectionCrcs(FileChannel ch, long[] offsets) throws IOException {
    ByteBuffer b = ByteBuffer.allocateDirect(SECTION_BYTES);
    CRC32C crc = new CRC32C();
    long[] out = new long[offsets.length];
    for (int s = 0; s < offsets.length; s++) {
      readFully(ch, b, offsets[s]);
      crc.reset();
      crc.update(b);
      out[s] = crc.getValue();
    }
    return out;
  }

  /** CRC32 of the file's first bytes (Chronicle's header), to tell a foreign or rewritten file. */
  static long headerCrc(FileChannel ch) throws IOException {
    ByteBuffer head = ByteBuffer.allocate((int) Math.min(HEADER_CRC_BYTES, ch.size()));
    readFully(ch, head, 0);
    CRC32 crc = new CRC32();
    crc.update(head);
    return crc.getValue();
  }

  /** Fills {@code b} from {@code pos} on, then flips it. */
  static void readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
    b.clear();
    while (b.hasRemaining()) {
      int n = ch.read(b, pos + b.position());
      if (n < 0) {
        throw new IOException("short read at " + pos);
      }
    }
    b.flip();
  }
}
