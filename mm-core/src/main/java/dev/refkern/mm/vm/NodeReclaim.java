package dev.refkern.mm.vm;

import dev.refkern.mm.PageReclaim;

/**
 * {@code mm/vmscan.c}'s entries for the page allocator: {@code try_to_free_pages()} runs {@link
 * Vmscan#directReclaim}, {@code wakeup_kswapd()} wakes {@link Kswapd} if it runs. Physical memory
 * reaches it through the supplier the composition root gave it at boot.
 */
final class NodeReclaim implements PageReclaim {
  private final Vmscan vmscan;
  private final Kswapd kswapd;

  NodeReclaim(Vmscan vmscan, Kswapd kswapd) {
    this.vmscan = vmscan;
    this.kswapd = kswapd;
  }

  @Override
  public void directReclaim(int order) {
    vmscan.directReclaim(order);
  }

  @Override
  public void wakeKswapd() {
    kswapd.wakeup();
  }
}
