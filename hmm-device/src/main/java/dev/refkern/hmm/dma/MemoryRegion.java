package dev.refkern.hmm.dma;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;

/** The page span of a registered memory region ({@code ib_umem_num_dma_blocks()}'s arithmetic). */
final class MemoryRegion {
  private MemoryRegion() {}

  /** The page holding {@code addr}. */
  static long first(long addr) {
    return addr & ~(long) (Page.PAGE_SIZE - 1);
  }

  /**
   * Pages spanned by {@code [addr, addr + length)}.
   *
   * @throws KernelException {@code EINVAL} for an empty, wrapping or too large region
   */
  static int npages(long addr, long length) {
    long end = addr + length;
    if (length <= 0 || end < addr || end > Long.MAX_VALUE - Page.PAGE_SIZE) {
      throw new KernelException(Errno.EINVAL, "memory region of " + length + " bytes");
    }
    long npages = (end - first(addr) + Page.PAGE_SIZE - 1) / Page.PAGE_SIZE;
    if (npages > Integer.MAX_VALUE) {
      throw new KernelException(Errno.EINVAL, "memory region of " + npages + " pages");
    }
    return (int) npages;
  }
}
