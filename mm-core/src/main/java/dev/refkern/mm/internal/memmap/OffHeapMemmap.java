package dev.refkern.mm.internal.memmap;

import static dev.refkern.mm.internal.memmap.PageDescriptor.*;

import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.ZoneType;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@link Memmap} over the descriptor memory of a {@link MemmapFile}: a pfn resolves to its
 * section's buffer by one array load and to the descriptor by a shift, like {@code __pfn_to_page()}
 * with {@code SPARSEMEM}. Fields are read and written through byte-buffer view {@code VarHandle}s
 * (volatile, atomic add, compare-and-set on aligned offsets).
 */
public final class OffHeapMemmap implements Memmap {
  /**
   * A tail page's {@code LRU_STATE} word holds the folio's entire mapcount (tails are never on an
   * LRU).
   */
  private static final int SPARE_TAIL = LRU_STATE;

  private static final long SECTION_MASK = MemmapFile.PAGES_PER_SECTION - 1;

  private static final VarHandle LONG =
      MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());
  private static final VarHandle INT =
      MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.nativeOrder());

  private final ByteBuffer[] sections;
  private final long nrPfns;
  private final long movableStart;
  private final long deviceStart;

  /**
   * @param movableStart first pfn of {@code ZONE_MOVABLE} (== {@code deviceStart} if none)
   * @param deviceStart first pfn of the {@code ZONE_DEVICE} range (== RAM frames)
   */
  public OffHeapMemmap(ByteBuffer[] sections, long nrPfns, long movableStart, long deviceStart) {
    this.sections = sections.clone();
    this.nrPfns = nrPfns;
    this.movableStart = movableStart;
    this.deviceStart = deviceStart;
  }

  private ByteBuffer sec(long pfn) {
    return sections[(int) (pfn >>> MemmapFile.SECTION_SHIFT)];
  }

  private static int off(long pfn) {
    return (int) ((pfn & SECTION_MASK) << SHIFT);
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
    return (long) LONG.getVolatile(sec(pfn), off(pfn) + FLAGS);
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
    ByteBuffer b = sec(pfn);
    int a = off(pfn) + FLAGS;
    long bit = PageFlags.bit(flag);
    long old;
    do {
      old = (long) LONG.getVolatile(b, a);
      if ((old & bit) != 0) {
        return true;
      }
    } while (!LONG.compareAndSet(b, a, old, old | bit));
    return false;
  }

  @Override
  public boolean testAndClearFlag(long pfn, int flag) {
    ByteBuffer b = sec(pfn);
    int a = off(pfn) + FLAGS;
    long bit = PageFlags.bit(flag);
    long old;
    do {
      old = (long) LONG.getVolatile(b, a);
      if ((old & bit) == 0) {
        return false;
      }
    } while (!LONG.compareAndSet(b, a, old, old & ~bit));
    return true;
  }

  @Override
  public int refcount(long pfn) {
    return (int) INT.getVolatile(sec(pfn), off(pfn) + REFCOUNT);
  }

  @Override
  public int refAdd(long pfn, int delta) {
    return (int) INT.getAndAdd(sec(pfn), off(pfn) + REFCOUNT, delta) + delta;
  }

  @Override
  public boolean refCompareAndSet(long pfn, int expect, int update) {
    return INT.compareAndSet(sec(pfn), off(pfn) + REFCOUNT, expect, update);
  }

  @Override
  public void setRefcount(long pfn, int value) {
    INT.setVolatile(sec(pfn), off(pfn) + REFCOUNT, value);
  }

  @Override
  public int mapcount(long pfn) {
    return (int) INT.getVolatile(sec(pfn), off(pfn) + MAPCOUNT);
  }

  @Override
  public int mapcountAdd(long pfn, int delta) {
    return (int) INT.getAndAdd(sec(pfn), off(pfn) + MAPCOUNT, delta) + delta;
  }

  @Override
  public int pincount(long pfn) {
    return (int) INT.getVolatile(sec(pfn), off(pfn) + PINCOUNT);
  }

  @Override
  public int pincountAdd(long pfn, int delta) {
    return (int) INT.getAndAdd(sec(pfn), off(pfn) + PINCOUNT, delta) + delta;
  }

  @Override
  public long mapping(long pfn) {
    return (long) LONG.getVolatile(sec(pfn), off(pfn) + MAPPING);
  }

  @Override
  public void setMapping(long pfn, long mapping) {
    LONG.setVolatile(sec(pfn), off(pfn) + MAPPING, mapping);
  }

  @Override
  public long index(long pfn) {
    return (long) LONG.getVolatile(sec(pfn), off(pfn) + INDEX);
  }

  @Override
  public void setIndex(long pfn, long index) {
    LONG.setVolatile(sec(pfn), off(pfn) + INDEX, index);
  }

  @Override
  public long privateData(long pfn) {
    return (long) LONG.getVolatile(sec(pfn), off(pfn) + PRIVATE);
  }

  @Override
  public void setPrivateData(long pfn, long value) {
    LONG.setVolatile(sec(pfn), off(pfn) + PRIVATE, value);
  }

  @Override
  public int compound(long pfn) {
    return (int) INT.getVolatile(sec(pfn), off(pfn) + COMPOUND);
  }

  @Override
  public void setCompound(long pfn, int value) {
    INT.setVolatile(sec(pfn), off(pfn) + COMPOUND, value);
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
    return (int) INT.getVolatile(sec(pfn), off(pfn) + LRU_PREV) - 1L;
  }

  @Override
  public long lruNext(long pfn) {
    return (int) INT.getVolatile(sec(pfn), off(pfn) + LRU_NEXT) - 1L;
  }

  @Override
  public void setLruPrev(long pfn, long prev) {
    INT.setVolatile(sec(pfn), off(pfn) + LRU_PREV, (int) (prev + 1));
  }

  @Override
  public void setLruNext(long pfn, long next) {
    INT.setVolatile(sec(pfn), off(pfn) + LRU_NEXT, (int) (next + 1));
  }

  @Override
  public int lruState(long pfn) {
    return (int) INT.getVolatile(sec(pfn), off(pfn) + LRU_STATE);
  }

  @Override
  public void setLruState(long pfn, int state) {
    INT.setVolatile(sec(pfn), off(pfn) + LRU_STATE, state);
  }

  @Override
  public int pgmap(long pfn) {
    return (int) INT.getVolatile(sec(pfn), off(pfn) + PGMAP);
  }

  @Override
  public void setPgmap(long pfn, int id) {
    INT.setVolatile(sec(pfn), off(pfn) + PGMAP, id);
  }

  @Override
  public int entireMapcount(long head) {
    return (int) INT.getVolatile(sec(head + 1), off(head + 1) + SPARE_TAIL);
  }

  @Override
  public int entireMapcountAdd(long head, int delta) {
    return (int) INT.getAndAdd(sec(head + 1), off(head + 1) + SPARE_TAIL, delta) + delta;
  }

  @Override
  public void clearDescriptor(long pfn) {
    ByteBuffer b = sec(pfn);
    int a = off(pfn);
    // eight plain stores, then a release fence as Unsafe.storeFence() was
    for (int o = 0; o < PageDescriptor.SIZE; o += Long.BYTES) {
      LONG.set(b, a + o, 0L);
    }
    VarHandle.releaseFence();
  }
}
