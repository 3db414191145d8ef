package dev.refkern.mm.internal.memmap;

import static dev.refkern.mm.internal.memmap.PageDescriptor.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.Memmap;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.internal.pageops.MemmapOps;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.apiguardian.api.API;

/**
 * {@link MemmapOps} over the descriptor memory of a {@link MemmapFile}: a pfn resolves to its
 * section's buffer by one array load and to the descriptor by a shift, like {@code __pfn_to_page()}
 * with {@code SPARSEMEM}. Fields are read and written with volatile loads and stores, atomic adds
 * and compare-and-set: on raw addresses where {@code sun.misc.Unsafe} is silent (JDK 17-23),
 * through byte-buffer view {@code VarHandle}s from JDK 24 on (see {@link RawMemory}).
 */
@API(status = INTERNAL, since = "0.1.0")
public final class OffHeapMemmap implements MemmapOps {
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

  /** Raw-address access where it is silent (JDK 17-23); null: the VarHandles. */
  private static final sun.misc.Unsafe U = RawMemory.UNSAFE;

  private final ByteBuffer[] sections;
  private final long[] base; // each section's address, for U
  private final long nrPfns;
  private final long movableStart;
  private final long deviceStart;

  /**
   * @param movableStart first pfn of {@code ZONE_MOVABLE} (== {@code deviceStart} if none)
   * @param deviceStart first pfn of the {@code ZONE_DEVICE} range (== RAM frames)
   */
  public OffHeapMemmap(ByteBuffer[] sections, long nrPfns, long movableStart, long deviceStart) {
    this.sections = sections.clone();
    this.base = new long[sections.length];
    if (U != null) {
      for (int i = 0; i < sections.length; i++) {
        base[i] = RawMemory.address(sections[i]);
      }
    }
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

  private long addr(long pfn, int field) {
    return base[(int) (pfn >>> MemmapFile.SECTION_SHIFT)] + off(pfn) + field;
  }

  // One branch on a static final: the JIT keeps only the path of the running JDK.

  private long getLong(long pfn, int field) {
    return U != null
        ? U.getLongVolatile(null, addr(pfn, field))
        : (long) LONG.getVolatile(sec(pfn), off(pfn) + field);
  }

  private void setLong(long pfn, int field, long v) {
    if (U != null) {
      U.putLongVolatile(null, addr(pfn, field), v);
    } else {
      LONG.setVolatile(sec(pfn), off(pfn) + field, v);
    }
  }

  private boolean casLong(long pfn, int field, long expect, long update) {
    return U != null
        ? U.compareAndSwapLong(null, addr(pfn, field), expect, update)
        : LONG.compareAndSet(sec(pfn), off(pfn) + field, expect, update);
  }

  private int getInt(long pfn, int field) {
    return U != null
        ? U.getIntVolatile(null, addr(pfn, field))
        : (int) INT.getVolatile(sec(pfn), off(pfn) + field);
  }

  private void setInt(long pfn, int field, int v) {
    if (U != null) {
      U.putIntVolatile(null, addr(pfn, field), v);
    } else {
      INT.setVolatile(sec(pfn), off(pfn) + field, v);
    }
  }

  private int addInt(long pfn, int field, int delta) {
    return U != null
        ? U.getAndAddInt(null, addr(pfn, field), delta)
        : (int) INT.getAndAdd(sec(pfn), off(pfn) + field, delta);
  }

  private boolean casInt(long pfn, int field, int expect, int update) {
    return U != null
        ? U.compareAndSwapInt(null, addr(pfn, field), expect, update)
        : INT.compareAndSet(sec(pfn), off(pfn) + field, expect, update);
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
    return getLong(pfn, FLAGS);
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
    long bit = PageFlags.bit(flag);
    long old;
    do {
      old = getLong(pfn, FLAGS);
      if ((old & bit) != 0) {
        return true;
      }
    } while (!casLong(pfn, FLAGS, old, old | bit));
    return false;
  }

  @Override
  public boolean testAndClearFlag(long pfn, int flag) {
    long bit = PageFlags.bit(flag);
    long old;
    do {
      old = getLong(pfn, FLAGS);
      if ((old & bit) == 0) {
        return false;
      }
    } while (!casLong(pfn, FLAGS, old, old & ~bit));
    return true;
  }

  @Override
  public int refcount(long pfn) {
    return getInt(pfn, REFCOUNT);
  }

  @Override
  public int refAdd(long pfn, int delta) {
    return addInt(pfn, REFCOUNT, delta) + delta;
  }

  @Override
  public boolean refCompareAndSet(long pfn, int expect, int update) {
    return casInt(pfn, REFCOUNT, expect, update);
  }

  @Override
  public void setRefcount(long pfn, int value) {
    setInt(pfn, REFCOUNT, value);
  }

  @Override
  public int mapcount(long pfn) {
    return getInt(pfn, MAPCOUNT);
  }

  @Override
  public int mapcountAdd(long pfn, int delta) {
    return addInt(pfn, MAPCOUNT, delta) + delta;
  }

  @Override
  public int pincount(long pfn) {
    return getInt(pfn, PINCOUNT);
  }

  @Override
  public int pincountAdd(long pfn, int delta) {
    return addInt(pfn, PINCOUNT, delta) + delta;
  }

  @Override
  public long mapping(long pfn) {
    return getLong(pfn, MAPPING);
  }

  @Override
  public void setMapping(long pfn, long mapping) {
    setLong(pfn, MAPPING, mapping);
  }

  @Override
  public long index(long pfn) {
    return getLong(pfn, INDEX);
  }

  @Override
  public void setIndex(long pfn, long index) {
    setLong(pfn, INDEX, index);
  }

  @Override
  public long privateData(long pfn) {
    return getLong(pfn, PRIVATE);
  }

  @Override
  public void setPrivateData(long pfn, long value) {
    setLong(pfn, PRIVATE, value);
  }

  @Override
  public int compound(long pfn) {
    return getInt(pfn, COMPOUND);
  }

  @Override
  public void setCompound(long pfn, int value) {
    setInt(pfn, COMPOUND, value);
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
    return getInt(pfn, LRU_PREV) - 1L;
  }

  @Override
  public long lruNext(long pfn) {
    return getInt(pfn, LRU_NEXT) - 1L;
  }

  @Override
  public void setLruPrev(long pfn, long prev) {
    setInt(pfn, LRU_PREV, (int) (prev + 1));
  }

  @Override
  public void setLruNext(long pfn, long next) {
    setInt(pfn, LRU_NEXT, (int) (next + 1));
  }

  @Override
  public int lruState(long pfn) {
    return getInt(pfn, LRU_STATE);
  }

  @Override
  public void setLruState(long pfn, int state) {
    setInt(pfn, LRU_STATE, state);
  }

  @Override
  public int pgmap(long pfn) {
    return getInt(pfn, PGMAP);
  }

  @Override
  public void setPgmap(long pfn, int id) {
    setInt(pfn, PGMAP, id);
  }

  @Override
  public int entireMapcount(long head) {
    return getInt(head + 1, SPARE_TAIL);
  }

  @Override
  public int entireMapcountAdd(long head, int delta) {
    return addInt(head + 1, SPARE_TAIL, delta) + delta;
  }

  @Override
  public void clearDescriptor(long pfn) {
    if (U != null) {
      U.setMemory(base[(int) (pfn >>> MemmapFile.SECTION_SHIFT)] + off(pfn), SIZE, (byte) 0);
    } else {
      ByteBuffer b = sec(pfn);
      int a = off(pfn);
      for (int o = 0; o < SIZE; o += Long.BYTES) {
        LONG.set(b, a + o, 0L);
      }
    }
    VarHandle.releaseFence(); // the plain stores are seen before whatever publishes the page
  }
}
