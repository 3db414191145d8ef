package dev.refkern.hmm.dma;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * A device's page table as its DMA engine sees it, the IOMMU / device MMU mapping of one buffer
 * ({@code struct ib_umem}'s scatterlist, {@code ib_umem_odp}'s {@code pfn_list}).
 *
 * <p>The engine holds the target's monitor ({@code synchronized (target)}) from {@link #dmaPfn} to
 * the end of the bytes it moves into that page, so a driver whose invalidation takes the same
 * monitor knows that no DMA reaches a page once it has unmapped it (the kernel's {@code umem_mutex}
 * / {@code notifier_lock}). No method may sleep while that monitor is held.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public interface DmaTarget {
  /** {@link #dmaPfn}: the device has no mapping for the page; {@link #dmaFault} may make one. */
  long NOT_MAPPED = -1;

  /** Or-ed into a {@link #dmaPfn} answer: the page is the device's dummy page (revoked). */
  long REDIRECTED = 1L << 62;

  /** The device's pages, numbered from 0. */
  int dmaPages();

  /**
   * The pfn device page {@code index} is mapped to, with {@link #REDIRECTED} if it is the dummy
   * page, or {@link #NOT_MAPPED}. Called with the target's monitor held.
   */
  long dmaPfn(int index, boolean write);

  /**
   * A device page fault on {@code index}: maps it if the driver can. Called without the monitor;
   * may sleep.
   *
   * @return false if the page cannot be mapped: the transfer is aborted
   */
  boolean dmaFault(int index, boolean write);

  /**
   * Told, with the monitor held, that {@code bytes} of a transfer went to the dummy page of {@code
   * index}. The default does nothing.
   */
  default void dmaRedirected(int index, int bytes) {}
}
