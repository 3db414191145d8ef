package dev.refkern.block.internal.disk;

import dev.refkern.block.Bio;
import dev.refkern.block.BioVec;
import dev.refkern.mm.PageMemory;

/** Copies a bio's data between its pages and a flat buffer, the device's DMA. */
public final class BioData {
  private BioData() {}

  /** Reads the bio's pages, in segment order, into a new buffer ({@code DMA_TO_DEVICE}). */
  public static byte[] gather(PageMemory ram, Bio bio) {
    byte[] buf = new byte[Math.toIntExact(bio.size())];
    int pos = 0;
    for (BioVec v : bio.vecs()) {
      ram.read(v.pfn(), v.offset(), buf, pos, v.len());
      pos += v.len();
    }
    return buf;
  }

  /** Writes {@code buf} into the bio's pages, in segment order ({@code DMA_FROM_DEVICE}). */
  public static void scatter(PageMemory ram, Bio bio, byte[] buf) {
    int pos = 0;
    for (BioVec v : bio.vecs()) {
      ram.write(v.pfn(), v.offset(), buf, pos, v.len());
      pos += v.len();
    }
  }
}
