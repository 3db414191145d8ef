package dev.refkern.mm.spi;

import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.PageMemory;
import org.apiguardian.api.API;

/**
 * Where anonymous pages go when reclaim swaps them out (the backing of a {@code swap_info_struct}):
 * a fixed number of page-sized slots. The block layer can supply a real one; {@link
 * dev.refkern.mm.RamSwapDevice} keeps them in memory.
 */
@API(status = STABLE, since = "0.1.0")
public interface SwapDevice {
  /** Slots of 4 KiB this device holds. */
  long nrSlots();

  /** {@code swap_writepage()}: stores the frame's contents in {@code slot}. */
  void writePage(long slot, PageMemory ram, long pfn);

  /** {@code swap_read_folio()}: fills the frame from {@code slot}. */
  void readPage(long slot, PageMemory ram, long pfn);

  /** The slot is free again ({@code swap_free}); its contents may be dropped. */
  default void discard(long slot) {}
}
