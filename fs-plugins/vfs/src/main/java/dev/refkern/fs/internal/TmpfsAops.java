package dev.refkern.fs.internal;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.spi.AddressSpaceOperations;

/**
 * {@code shmem_aops} for tmpfs files: a hole reads as zeros and nothing is ever written back (no
 * swap of shmem yet), so {@code ->writepages} has nothing to do.
 */
final class TmpfsAops implements AddressSpaceOperations {
  @Override
  public int readFolio(AddressSpace mapping, long pfn) {
    mapping.physicalMemory().ram().zeroPage(pfn);
    mapping.folios().folioMarkUptodate(pfn);
    mapping.folios().folioUnlock(pfn);
    return 0;
  }

  @Override
  public int writepages(AddressSpace mapping, long startIndex, long endIndex) {
    return 0; // shmem folios stay in memory and stay dirty
  }
}
