package dev.refkern.mm.internal.memmap;

import static dev.refkern.mm.internal.memmap.PageDescriptor.*;
import static dev.refkern.mm.internal.memmap.Unsafes.UNSAFE;

import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.ZoneType;

/**
 * {@link Memmap} over the descriptor memory of a {@link MemmapFile}: a pfn resolves to an address
 * by one array load and a shift, like {@code __pfn_to_page()} with {@code SPARSEMEM}.
 */
public final class OffHeapMemmap implements Memmap {
  /**
   * A tail page's {@code LRU_STATE} word holds the folio's entire mapcount (tails are never on an
   * LRU).
   */
  private static final int SPARE_TAIL = LRU_STATE;

  private static final long SECTION_MASK = MemmapFile.PAGES_PER_SECTION - 1;

  private final long[] sectionBase;
  private final long nrPfns;
  private final long movableStart;
  private final long deviceStart;

  /**
   * @param movableStart first pfn of {@code ZONE_MOVABLE} (== {@code deviceStart} if none)
   * @param deviceStart first pfn of the {@code ZONE_DEVICE} range (== RAM frames)
   */
  public OffHeapMemmap(long[] sectionBase, long nrPfns, long movableStart, long deviceStart) {
    this.sectionBase = sectionBase.clone();
    this.nrPfns = nrPfns;
    this.movableStart = movableStart;
    this.deviceStart = deviceStart;
  }

  private long addr(long pfn) {
    return sectionBase[(int) (pfn >>> MemmapFile.SECTION_SHIFT)] + ((pfn & SECTION_MASK) << SHIFT);
  }

  @Override
  public long nrPfns() {
    return nrPfns;
  }

  @Override
  public boolean pfnValid(long pfn) {
    return pfn >= 0 && pfn < nrPfns;
  }

  @Override
  public void checkPfn(long pfn) {
    if (Long.compareUnsigned(pfn, nrPfns) >= 0) {
      throw Memmap.badPfn(pfn, nrPfns);
    }
  }

  @Override
  public ZoneType zone(long pfn) {
    if (pfn >= deviceStart) {
      return ZoneType.DEVICE;
    }
    return pfn >= movableStart ? ZoneType.MOVABLE : ZoneType.NORMAL;
  }

  @Override
  public long flags(long pfn) {
    return UNSAFE.getLongVolatile(null, addr(pfn) + FLAGS);
  }

  @Override
  public boolean testFlag(long pfn, int flag) {
    return (flags(pfn) & PageFlags.bit(flag)) != 0;
  }

  @Override
  public void setFlag(long pfn, int flag) {
    testAndSetFlag(pfn, flag);
  }

  @Override
  public void clearFlag(long pfn, int flag) {
    testAndClearFlag(pfn, flag);
  }

  @Override
  public boolean testAndSetFlag(long pfn, int flag) {
    long a = addr(pfn) + FLAGS;
    long bit = PageFlags.bit(flag);
    long old;
    do {
      old = UNSAFE.getLongVolatile(null, a);
      if ((old & bit) != 0) {
        return true;
      }
    } while (!UNSAFE.compareAndSwapLong(null, a, old, old | bit));
    return false;
  }

  @Override
  public boolean testAndClearFlag(long pfn, int flag) {
    long a = addr(pfn) + FLAGS;
    long bit = PageFlags.bit(flag);
    long old;
    do {
      old = UNSAFE.getLongVolatile(null, a);
      if ((old & bit) == 0) {
        return false;
      }
    } while (!UNSAFE.compareAndSwapLong(null, a, old, old & ~bit));
    return true;
  }

  @Override
  public int refcount(long pfn) {
    return UNSAFE.getIntVolatile(null, addr(pfn) + REFCOUNT);
  }

  @Override
  public int refAdd(long pfn, int delta) {
    return UNSAFE.getAndAddInt(null, addr(pfn) + REFCOUNT, delta) + delta;
  }

  @Override
  public boolean refCompareAndSet(long pfn, int expect, int update) {
    return UNSAFE.compareAndSwapInt(null, addr(pfn) + REFCOUNT, expect, update);
  }

  @Override
  public void setRefcount(long pfn, int value) {
    UNSAFE.putIntVolatile(null, addr(pfn) + REFCOUNT, value);
  }

  @Override
  public int mapcount(long pfn) {
    return UNSAFE.getIntVolatile(null, addr(pfn) + MAPCOUNT);
  }

  @Override
  public int mapcountAdd(long pfn, int delta) {
    return UNSAFE.getAndAddInt(null, addr(pfn) + MAPCOUNT, delta) + delta;
  }

  @Override
  public int pincount(long pfn) {
    return UNSAFE.getIntVolatile(null, addr(pfn) + PINCOUNT);
  }

  @Override
  public int pincountAdd(long pfn, int delta) {
    return UNSAFE.getAndAddInt(null, addr(pfn) + PINCOUNT, delta) + delta;
  }

  @Override
  public long mapping(long pfn) {
    return UNSAFE.getLongVolatile(null, addr(pfn) + MAPPING);
  }

  @Override
  public void setMapping(long pfn, long mapping) {
    UNSAFE.putLongVolatile(null, addr(pfn) + MAPPING, mapping);
  }

  @Override
  public long index(long pfn) {
    return UNSAFE.getLongVolatile(null, addr(pfn) + INDEX);
  }

  @Override
  public void setIndex(long pfn, long index) {
    UNSAFE.putLongVolatile(null, addr(pfn) + INDEX, index);
  }

  @Override
  public long privateData(long pfn) {
    return UNSAFE.getLongVolatile(null, addr(pfn) + PRIVATE);
  }

  @Override
  public void setPrivateData(long pfn, long value) {
    UNSAFE.putLongVolatile(null, addr(pfn) + PRIVATE, value);
  }

  @Override
  public int compound(long pfn) {
    return UNSAFE.getIntVolatile(null, addr(pfn) + COMPOUND);
  }

  @Override
  public void setCompound(long pfn, int value) {
    UNSAFE.putIntVolatile(null, addr(pfn) + COMPOUND, value);
  }

  @Override
  public long compoundHead(long pfn) {
    if ((flags(pfn) & PageFlags.bit(PageFlags.PG_TAIL)) != 0) {
      return pfn - compound(pfn);
    }
    return pfn;
  }

  @Override
  public int folioOrder(long head) {
    return (flags(head) & PageFlags.bit(PageFlags.PG_HEAD)) != 0 ? compound(head) : 0;
  }

  @Override
  public long lruPrev(long pfn) {
    return UNSAFE.getIntVolatile(null, addr(pfn) + LRU_PREV) - 1L;
  }

  @Override
  public long lruNext(long pfn) {
    return UNSAFE.getIntVolatile(null, addr(pfn) + LRU_NEXT) - 1L;
  }

  @Override
  public void setLruPrev(long pfn, long prev) {
    UNSAFE.putIntVolatile(null, addr(pfn) + LRU_PREV, (int) (prev + 1));
  }

  @Override
  public void setLruNext(long pfn, long next) {
    UNSAFE.putIntVolatile(null, addr(pfn) + LRU_NEXT, (int) (next + 1));
  }

  @Override
  public int lruState(long pfn) {
    return UNSAFE.getIntVolatile(null, addr(pfn) + LRU_STATE);
  }

  @Override
  public void setLruState(long pfn, int state) {
    UNSAFE.putIntVolatile(null, addr(pfn) + LRU_STATE, state);
  }

  @Override
  public int pgmap(long pfn) {
    return UNSAFE.getIntVolatile(null, addr(pfn) + PGMAP);
  }

  @Override
  public void setPgmap(long pfn, int id) {
    UNSAFE.putIntVolatile(null, addr(pfn) + PGMAP, id);
  }

  @Override
  public int entireMapcount(long head) {
    return UNSAFE.getIntVolatile(null, addr(head + 1) + SPARE_TAIL);
  }

  @Override
  public int entireMapcountAdd(long head, int delta) {
    return UNSAFE.getAndAddInt(null, addr(head + 1) + SPARE_TAIL, delta) + delta;
  }

  @Override
  public void clearDescriptor(long pfn) {
    long a = addr(pfn);
    // eight plain stores: cheaper than the native setMemory call for 64 bytes
    for (int off = 0; off < PageDescriptor.SIZE; off += Long.BYTES) {
      UNSAFE.putLong(a + off, 0L);
    }
    UNSAFE.storeFence();
  }
}
