package dev.refkern.mm.internal.memmap;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SectionBuffersTest {
  @TempDir Path dir;

  @Test
  void descriptorWritesLandInChroniclesValueOfTheirSection() {
    long pfns = 3 * MemmapFile.PAGES_PER_SECTION;
    try (MemmapFile f = MemmapFile.create(dir, pfns, "t", false, Map.of())) {
      ByteBuffer[] bufs = f.sectionBuffers();
      assertEquals(3, bufs.length);
      OffHeapMemmap m = new OffHeapMemmap(bufs, pfns, pfns, pfns);
      long last = MemmapFile.PAGES_PER_SECTION - 1;
      for (int s = 0; s < 3; s++) {
        long pfn = s * MemmapFile.PAGES_PER_SECTION + (s == 1 ? last : 5);
        m.setIndex(pfn, 0x1234_5678_0000L + s);
        m.refAdd(pfn, 3 + s);
        // an atomic straddling a cache line would be a split lock
        assertEquals(0, bufs[s].alignmentOffset(0, PageDescriptor.SIZE), "section " + s);
      }
      for (int s = 0; s < 3; s++) {
        ByteBuffer v = ByteBuffer.wrap(f.sectionValue(s)).order(ByteOrder.nativeOrder());
        int pad = findPad(v, 0x1234_5678_0000L + s, s == 1 ? last : 5);
        long slot = (s == 1 ? last : 5) * PageDescriptor.SIZE + pad;
        assertEquals(0x1234_5678_0000L + s, v.getLong((int) slot + PageDescriptor.INDEX));
        assertEquals(3 + s, v.getInt((int) slot + PageDescriptor.REFCOUNT));
      }
    }
  }

  /** The alignment padding Chronicle's value starts with: where the written index shows up. */
  private static int findPad(ByteBuffer v, long index, long slot) {
    for (int pad = 0; pad < PageDescriptor.SIZE; pad++) {
      int at = (int) (slot * PageDescriptor.SIZE) + pad + PageDescriptor.INDEX;
      if (at + 8 <= v.capacity() && v.getLong(at) == index) {
        return pad;
      }
    }
    return fail("index " + index + " not found in the section's Chronicle value");
  }
}
