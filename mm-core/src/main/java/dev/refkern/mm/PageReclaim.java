package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * What the page allocator needs of {@code mm/vmscan.c}: {@code try_to_free_pages()} and {@code
 * wakeup_kswapd()}. page_alloc.c and vmscan.c call each other in the kernel; here the lower layer
 * (physical memory) defines this interface and receives it through its constructor as a lazily
 * resolved supplier, which the composition root ({@code VirtualMemory.boot}, or Dagger's {@code
 * MmModule}) binds to the virtual memory built on top.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface PageReclaim {
  /**
   * {@code try_to_free_pages()}: run by an allocation of {@code 2^order} pages that may sleep,
   * before it fails; counts {@code allocstall}.
   */
  void directReclaim(int order);

  /**
   * {@code wakeup_kswapd()}: an allocation found a zone below its low watermark. Does nothing while
   * kswapd does not run.
   */
  void wakeKswapd();

  /**
   * No reclaim: physical memory booted alone, with nothing above it to reclaim from. An allocation
   * that would reclaim fails with {@code NO_PFN} ({@code ENOMEM} to its callers) instead.
   */
  PageReclaim NONE =
      new PageReclaim() {
        @Override
        public void directReclaim(int order) {}

        @Override
        public void wakeKswapd() {}

        @Override
        public String toString() {
          return "PageReclaim.NONE";
        }
      };
}
