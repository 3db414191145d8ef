package dev.refkern.block;

import dev.refkern.mm.Page;
import dev.refkern.mm.PageMemory;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A drive's volatile write cache, the one {@code BLK_FEAT_WRITE_CACHE} announces and {@code
 * REQ_PREFLUSH} empties: 4 KiB slots of device pages in off-heap memory, each with a valid bit and
 * the id of the write that filled it per 512-byte sector. A device page finds its slot through a
 * two-level table, so caching a write allocates nothing per page once the slots exist. Not
 * thread-safe: the device calls it under its lock.
 */
final class WriteCache {
  private static final int PAGE = Page.PAGE_SIZE;
  private static final int SECTOR = 512;
  private static final int SECTORS_PER_PAGE = PAGE / SECTOR;
  private static final int ARENA_SHIFT = 6; // 64 slots (256 KiB) per arena chunk
  private static final int DIR_SHIFT = 10;

  /** Receives cached sectors in ascending order. */
  public interface SectorSink<E extends Exception> {
    /** The sector's 512 bytes are at {@code index} in {@code data}. */
    void sector(long sector, long writeId, ByteBuffer data, int index) throws E;
  }

  private final int capacity;
  private final ByteBuffer[] arena;
  private final long[] slotPage;
  private final byte[] slotValid;
  private final long[] writeIds;
  private final int[][] slotOf; // device page -> slot + 1, 0 for none
  private int used;
  private long sectors;
  private long[] order = new long[0];

  /** A cache of {@code capacityPages} pages in front of a device of {@code devicePages} pages. */
  public WriteCache(int capacityPages, long devicePages) {
    this.capacity = capacityPages;
    this.arena = new ByteBuffer[(capacityPages + (1 << ARENA_SHIFT) - 1) >>> ARENA_SHIFT];
    this.slotPage = new long[capacityPages];
    this.slotValid = new byte[capacityPages];
    this.writeIds = new long[capacityPages * SECTORS_PER_PAGE];
    this.slotOf = new int[Math.toIntExact((devicePages >>> DIR_SHIFT) + 1)][];
  }

  /** Sectors cached (not yet durable). */
  public long sectors() {
    return sectors;
  }

  /** Whether a write into a device page not yet cached would find no free slot. */
  public boolean full() {
    return used == capacity;
  }

  /**
   * Caches {@code len} bytes of the frame {@code pfn} from {@code off} at device byte {@code pos};
   * the range lies within one device page and is whole sectors.
   *
   * @return false, with nothing cached, if the page has no slot and the cache is {@link #full()}
   */
  public boolean put(long pos, PageMemory ram, long pfn, int off, int len, long writeId) {
    long page = pos / PAGE;
    int slot = slot(page, true);
    if (slot < 0) {
      return false;
    }
    int devOff = (int) (pos % PAGE);
    ram.read(pfn, off, arena[slot >>> ARENA_SHIFT], index(slot) + devOff, len);
    int first = devOff / SECTOR;
    int n = len / SECTOR;
    int valid = slotValid[slot] & 0xff;
    for (int s = first; s < first + n; s++) {
      if ((valid & (1 << s)) == 0) {
        valid |= 1 << s;
        sectors++;
      }
      writeIds[slot * SECTORS_PER_PAGE + s] = writeId;
    }
    slotValid[slot] = (byte) valid;
    return true;
  }

  /** Drops the cached copies of {@code count} sectors from {@code sector} (superseded). */
  public void invalidate(long sector, long count) {
    for (long s = sector; s < sector + count; ) {
      long page = s / SECTORS_PER_PAGE;
      int slot = slot(page, false);
      long pageEnd = (page + 1) * SECTORS_PER_PAGE;
      if (slot >= 0) {
        for (long t = s; t < Math.min(pageEnd, sector + count); t++) {
          int bit = 1 << (int) (t % SECTORS_PER_PAGE);
          if ((slotValid[slot] & bit) != 0) {
            slotValid[slot] &= (byte) ~bit;
            sectors--;
          }
        }
      }
      s = pageEnd;
    }
  }

  /** Copies the cached sectors among {@code count} from {@code sector} over {@code dst} from 0. */
  public void overlay(long sector, long count, ByteBuffer dst) {
    forEachIn(
        sector,
        count,
        (s, id, data, index) -> dst.put((int) (s - sector) * SECTOR, data, index, SECTOR));
  }

  /**
   * Hands the cached sectors among {@code count} from {@code sector} to {@code sink}, ascending.
   */
  public <E extends Exception> void forEachIn(long sector, long count, SectorSink<E> sink)
      throws E {
    if (sectors == 0) {
      return;
    }
    for (long s = sector; s < sector + count; ) {
      long page = s / SECTORS_PER_PAGE;
      int slot = slot(page, false);
      long pageEnd = (page + 1) * SECTORS_PER_PAGE;
      if (slot >= 0 && slotValid[slot] != 0) {
        for (long t = s; t < Math.min(pageEnd, sector + count); t++) {
          int k = (int) (t % SECTORS_PER_PAGE);
          if ((slotValid[slot] & (1 << k)) != 0) {
            sink.sector(
                t,
                writeIds[slot * SECTORS_PER_PAGE + k],
                arena[slot >>> ARENA_SHIFT],
                index(slot) + k * SECTOR);
          }
        }
      }
      s = pageEnd;
    }
  }

  /** Hands every cached sector to {@code sink} in ascending sector order. */
  public <E extends Exception> void forEach(SectorSink<E> sink) throws E {
    if (order.length < used) {
      order = new long[capacity];
    }
    for (int slot = 0; slot < used; slot++) {
      order[slot] = slotPage[slot] << 24 | slot; // a device has fewer than 2^39 pages
    }
    Arrays.sort(order, 0, used);
    for (int i = 0; i < used; i++) {
      int slot = (int) (order[i] & ((1 << 24) - 1));
      int valid = slotValid[slot] & 0xff;
      for (int k = 0; valid != 0 && k < SECTORS_PER_PAGE; k++) {
        if ((valid & (1 << k)) != 0) {
          sink.sector(
              slotPage[slot] * SECTORS_PER_PAGE + k,
              writeIds[slot * SECTORS_PER_PAGE + k],
              arena[slot >>> ARENA_SHIFT],
              index(slot) + k * SECTOR);
        }
      }
    }
  }

  /** Empties the cache; the slots' memory is kept for reuse. */
  public void clear() {
    for (int slot = 0; slot < used; slot++) {
      long page = slotPage[slot];
      slotOf[(int) (page >>> DIR_SHIFT)][(int) (page & ((1 << DIR_SHIFT) - 1))] = 0;
      slotValid[slot] = 0;
    }
    used = 0;
    sectors = 0;
  }

  private static int index(int slot) {
    return (slot & ((1 << ARENA_SHIFT) - 1)) * PAGE;
  }

  private int slot(long page, boolean create) {
    int d = (int) (page >>> DIR_SHIFT);
    int i = (int) (page & ((1 << DIR_SHIFT) - 1));
    int[] dir = slotOf[d];
    if (dir != null && dir[i] != 0) {
      return dir[i] - 1;
    }
    if (!create || used == capacity) {
      return -1;
    }
    if (dir == null) {
      dir = slotOf[d] = new int[1 << DIR_SHIFT];
    }
    int slot = used++;
    if (arena[slot >>> ARENA_SHIFT] == null) {
      arena[slot >>> ARENA_SHIFT] = ByteBuffer.allocateDirect(PAGE << ARENA_SHIFT);
    }
    slotPage[slot] = page;
    slotValid[slot] = 0;
    dir[i] = slot + 1;
    return slot;
  }
}
