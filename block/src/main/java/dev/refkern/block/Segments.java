package dev.refkern.block;

import dev.refkern.mm.PageMemory;

/**
 * The pages a device transfers for one bio, in order: the bio's own segments, or for a bounced
 * write the bounce pages standing in for them (same offsets and lengths, as {@code
 * __blk_queue_bounce()} swaps {@code bv_page}). Indexed access, nothing allocated per page.
 */
final class Segments {
  private final Bio bio;
  private final long[] bounce;

  Segments(Bio bio, long[] bounce) {
    this.bio = bio;
    this.bounce = bounce;
  }

  public int count() {
    return bio.vecCount();
  }

  public long pfn(int i) {
    return bounce != null ? bounce[i] : bio.vecPfn(i);
  }

  public int offset(int i) {
    return bio.vecOffset(i);
  }

  public int len(int i) {
    return bio.vecLen(i);
  }

  /** Total bytes. */
  public long bytes() {
    return bio.size();
  }

  /** The CRC32C guard tag of every 512-byte sector, in order. */
  int[] guards(PageMemory ram) {
    int[] g = new int[Math.toIntExact(bio.size() / Integrity.INTERVAL)];
    int k = 0;
    for (int i = 0; i < count(); i++) {
      long pfn = pfn(i);
      int off = offset(i);
      for (int b = 0; b < len(i); b += Integrity.INTERVAL) {
        g[k++] = ram.crc32c(pfn, off + b, Integrity.INTERVAL);
      }
    }
    return g;
  }
}
