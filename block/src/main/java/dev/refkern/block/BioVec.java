package dev.refkern.block;

import static dev.refkern.mm.Page.*;
import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * One segment of a bio ({@code struct bio_vec}): {@code len} bytes at {@code offset} in the page
 * {@code pfn}. Offsets and lengths are multiples of the 512-byte sector.
 */
@API(status = STABLE, since = "0.1.0")
public record BioVec(long pfn, int offset, int len) {
  public BioVec {
    if (offset < 0 || len <= 0 || offset + len > PAGE_SIZE) {
      throw new IllegalArgumentException("bio_vec [" + offset + ", +" + len + ") outside a page");
    }
  }
}
