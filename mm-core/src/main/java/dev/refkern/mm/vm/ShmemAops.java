package dev.refkern.mm.vm;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.spi.AddressSpaceOperations;

/**
 * {@code shmem_aops}: the page cache of anonymous shared memory. A page is read in as zeros and
 * never written back (there is no swap yet), so it needs no dirty tracking.
 */
final class ShmemAops implements AddressSpaceOperations {
  @Override
  public int readFolio(AddressSpace mapping, long pfn) {
    mapping.physicalMemory().ram().zeroPage(pfn);
    mapping.folios().folioMarkUptodate(pfn);
    mapping.folios().folioUnlock(pfn);
    return 0;
  }

  @Override
  public int writepages(AddressSpace mapping, long startIndex, long endIndex) {
    return 0; // shmem pages stay in memory
  }
}
