package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PageMemory;
import dev.refkern.mm.spi.SwapDevice;
import org.apiguardian.api.API;

/**
 * A swap area ({@code struct swap_info_struct} and its {@code swap_map}): which slots are in use
 * and how many page-table entries name each, so the slot is freed when the last one goes.
 *
 * <p>Deviation: there is no swap cache; each process that faults on a shared swap entry reads its
 * own copy, which keeps copy-on-write semantics for private memory.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class SwapSpace {
  private final SwapDevice device;
  private final int[] map;
  private final boolean[] writing;
  private int cursor;
  private long used;

  SwapSpace(SwapDevice device) {
    if (device.nrSlots() > Integer.MAX_VALUE - 1) {
      throw new IllegalArgumentException("swap device too large");
    }
    this.device = device;
    this.map = new int[(int) device.nrSlots()];
    this.writing = new boolean[map.length];
  }

  /** {@code folio_alloc_swap()}: a free slot with count 0 reserved, or -1 when swap is full. */
  synchronized long alloc() {
    for (int k = 0; k < map.length; k++) {
      int s = (cursor + k) % map.length;
      if (map[s] == 0) {
        map[s] = -1; // reserved until a pte names it
        cursor = s + 1;
        used++;
        return s;
      }
    }
    return -1;
  }

  /** {@code swap_duplicate()}: one more pte names the slot. */
  synchronized void dup(long slot) {
    map[(int) slot] = map[(int) slot] < 0 ? 1 : map[(int) slot] + 1;
  }

  /** {@code swap_free()}: one pte fewer; the slot is freed with the last. */
  synchronized void put(long slot) {
    int s = (int) slot;
    if (map[s] <= 1) {
      map[s] = 0;
      used--;
      device.discard(slot);
    } else {
      map[s]--;
    }
  }

  /** How many ptes name {@code slot} ({@code swp_swapcount()}). */
  public synchronized int count(long slot) {
    return Math.max(0, map[(int) slot]);
  }

  /** Slots in use ({@code SwapTotal - SwapFree} in pages). */
  public synchronized long usedSlots() {
    return used;
  }

  /** Marks the slot as being written: a swap-in must wait (the swap cache's locked folio). */
  synchronized void startWrite(long slot) {
    writing[(int) slot] = true;
  }

  synchronized boolean writing(long slot) {
    return writing[(int) slot];
  }

  /** Writes the page (if {@code pfn >= 0}) and ends the in-flight state. */
  void finishWrite(long slot, PageMemory ram, long pfn) {
    if (pfn >= 0) {
      device.writePage(slot, ram, pfn);
    }
    synchronized (this) {
      writing[(int) slot] = false;
    }
  }

  /** Reads the slot if a pte still names it; false means the caller should retry its fault. */
  synchronized boolean readIfNamed(long slot, PageMemory ram, long pfn) {
    if (map[(int) slot] <= 0 || writing[(int) slot]) {
      return false;
    }
    device.readPage(slot, ram, pfn);
    return true;
  }
}
