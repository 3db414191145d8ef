package dev.refkern.mm.vm;

import dev.refkern.mm.spi.SwapDevice;

/**
 * Swap areas ({@code mm/swapfile.c}): {@code swapon()} and the swap-count operations the page
 * tables' swap entries need ({@code swap_duplicate()}, {@code free_swap_and_cache()}).
 */
final class Swapfile {
  private volatile SwapSpace swap;

  /** {@code swapon()}: reclaim may now swap anonymous pages out to {@code device}. */
  SwapSpace swapon(SwapDevice device) {
    SwapSpace s = new SwapSpace(device);
    swap = s;
    return s;
  }

  /** The swap area in use, null before {@code swapon()}. */
  SwapSpace current() {
    return swap;
  }

  /** {@code swap_duplicate()}: one more pte names the swap entry {@code pte}. */
  void swapDuplicate(long pte) {
    swap.dup(Pte.swapOffset(pte));
  }

  /** {@code free_swap_and_cache()}: a pte naming the entry {@code pte} went away. */
  void freeSwapAndCache(long pte) {
    swap.put(Pte.swapOffset(pte));
  }
}
