package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.spi.SwapDevice;
import java.util.concurrent.ConcurrentHashMap;
import org.apiguardian.api.API;

/**
 * A swap device in memory, like {@code zram} without compression: each written slot keeps a copy of
 * the page (for tests and demos).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class RamSwapDevice implements SwapDevice {
  private final long nrSlots;
  private final ConcurrentHashMap<Long, byte[]> slots = new ConcurrentHashMap<>();

  public RamSwapDevice(long nrSlots) {
    if (nrSlots <= 0) {
      throw new KernelException(Errno.EINVAL, "swap device needs at least one slot");
    }
    this.nrSlots = nrSlots;
  }

  @Override
  public long nrSlots() {
    return nrSlots;
  }

  @Override
  public void writePage(long slot, PageMemory ram, long pfn) {
    byte[] b = new byte[Page.PAGE_SIZE];
    ram.read(pfn, 0, b, 0, b.length);
    slots.put(slot, b);
  }

  @Override
  public void readPage(long slot, PageMemory ram, long pfn) {
    byte[] b = slots.get(slot);
    if (b == null) {
      throw new KernelException(Errno.EIO, "swap slot " + slot + " was never written");
    }
    ram.write(pfn, 0, b, 0, b.length);
  }

  @Override
  public void discard(long slot) {
    slots.remove(slot);
  }

  /** Slots holding data now. */
  public int slotsInUse() {
    return slots.size();
  }
}
