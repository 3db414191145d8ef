package dev.refkern.mm.internal.pageops;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.ZoneType;
import org.apiguardian.api.API;

/**
 * The memmap ({@code struct page} array) as the public API sees it: every pfn is checked against
 * {@code [0, nrPfns)} with one unsigned compare before the descriptor is touched, so a bad pfn is
 * {@code EINVAL} rather than an out-of-bounds or wild memory access. Handed out as the read-only
 * {@link dev.refkern.mm.Memmap}; its checked writers are for the memmap benchmarks only (see
 * mm-core's {@code module-info}).
 */
@API(status = INTERNAL, since = "0.1.0")
public final class CheckedMemmap implements MemmapOps {
  private final MemmapOps raw;

  /** Checks every pfn before it reaches {@code raw}. */
  public CheckedMemmap(MemmapOps raw) {
    this.raw = raw;
  }

  @Override
  public void checkPfn(long pfn) {
    raw.checkPfn(pfn);
  }

  @Override
  public long nrPfns() {
    return raw.nrPfns();
  }

  @Override
  public boolean pfnValid(long pfn) {
    return raw.pfnValid(pfn);
  }

  @Override
  public ZoneType zone(long pfn) {
    raw.checkPfn(pfn);
    return raw.zone(pfn);
  }

  @Override
  public long flags(long pfn) {
    raw.checkPfn(pfn);
    return raw.flags(pfn);
  }

  @Override
  public boolean testFlag(long pfn, int flag) {
    raw.checkPfn(pfn);
    return raw.testFlag(pfn, flag);
  }

  @Override
  public void setFlag(long pfn, int flag) {
    raw.checkPfn(pfn);
    raw.setFlag(pfn, flag);
  }

  @Override
  public void clearFlag(long pfn, int flag) {
    raw.checkPfn(pfn);
    raw.clearFlag(pfn, flag);
  }

  @Override
  public boolean testAndSetFlag(long pfn, int flag) {
    raw.checkPfn(pfn);
    return raw.testAndSetFlag(pfn, flag);
  }

  @Override
  public boolean testAndClearFlag(long pfn, int flag) {
    raw.checkPfn(pfn);
    return raw.testAndClearFlag(pfn, flag);
  }

  @Override
  public int refcount(long pfn) {
    raw.checkPfn(pfn);
    return raw.refcount(pfn);
  }

  @Override
  public int refAdd(long pfn, int delta) {
    raw.checkPfn(pfn);
    return raw.refAdd(pfn, delta);
  }

  @Override
  public boolean refCompareAndSet(long pfn, int expect, int update) {
    raw.checkPfn(pfn);
    return raw.refCompareAndSet(pfn, expect, update);
  }

  @Override
  public boolean refTryAdd(long pfn, int delta) {
    raw.checkPfn(pfn);
    return raw.refTryAdd(pfn, delta);
  }

  @Override
  public void setRefcount(long pfn, int value) {
    raw.checkPfn(pfn);
    raw.setRefcount(pfn, value);
  }

  @Override
  public int mapcount(long pfn) {
    raw.checkPfn(pfn);
    return raw.mapcount(pfn);
  }

  @Override
  public int mapcountAdd(long pfn, int delta) {
    raw.checkPfn(pfn);
    return raw.mapcountAdd(pfn, delta);
  }

  @Override
  public int pincount(long pfn) {
    raw.checkPfn(pfn);
    return raw.pincount(pfn);
  }

  @Override
  public int pincountAdd(long pfn, int delta) {
    raw.checkPfn(pfn);
    return raw.pincountAdd(pfn, delta);
  }

  @Override
  public long mapping(long pfn) {
    raw.checkPfn(pfn);
    return raw.mapping(pfn);
  }

  @Override
  public void setMapping(long pfn, long mapping) {
    raw.checkPfn(pfn);
    raw.setMapping(pfn, mapping);
  }

  @Override
  public long index(long pfn) {
    raw.checkPfn(pfn);
    return raw.index(pfn);
  }

  @Override
  public void setIndex(long pfn, long index) {
    raw.checkPfn(pfn);
    raw.setIndex(pfn, index);
  }

  @Override
  public long privateData(long pfn) {
    raw.checkPfn(pfn);
    return raw.privateData(pfn);
  }

  @Override
  public void setPrivateData(long pfn, long value) {
    raw.checkPfn(pfn);
    raw.setPrivateData(pfn, value);
  }

  @Override
  public int compound(long pfn) {
    raw.checkPfn(pfn);
    return raw.compound(pfn);
  }

  @Override
  public void setCompound(long pfn, int value) {
    raw.checkPfn(pfn);
    raw.setCompound(pfn, value);
  }

  @Override
  public long compoundHead(long pfn) {
    raw.checkPfn(pfn);
    return raw.compoundHead(pfn);
  }

  @Override
  public int folioOrder(long head) {
    raw.checkPfn(head);
    return raw.folioOrder(head);
  }

  @Override
  public long lruPrev(long pfn) {
    raw.checkPfn(pfn);
    return raw.lruPrev(pfn);
  }

  @Override
  public long lruNext(long pfn) {
    raw.checkPfn(pfn);
    return raw.lruNext(pfn);
  }

  @Override
  public void setLruPrev(long pfn, long prev) {
    raw.checkPfn(pfn);
    raw.setLruPrev(pfn, prev);
  }

  @Override
  public void setLruNext(long pfn, long next) {
    raw.checkPfn(pfn);
    raw.setLruNext(pfn, next);
  }

  @Override
  public int lruState(long pfn) {
    raw.checkPfn(pfn);
    return raw.lruState(pfn);
  }

  @Override
  public void setLruState(long pfn, int state) {
    raw.checkPfn(pfn);
    raw.setLruState(pfn, state);
  }

  @Override
  public int pgmap(long pfn) {
    raw.checkPfn(pfn);
    return raw.pgmap(pfn);
  }

  @Override
  public void setPgmap(long pfn, int id) {
    raw.checkPfn(pfn);
    raw.setPgmap(pfn, id);
  }

  @Override
  public int entireMapcount(long head) {
    raw.checkPfn(head);
    return raw.entireMapcount(head);
  }

  @Override
  public int entireMapcountAdd(long head, int delta) {
    raw.checkPfn(head);
    return raw.entireMapcountAdd(head, delta);
  }

  @Override
  public void clearDescriptor(long pfn) {
    raw.checkPfn(pfn);
    raw.clearDescriptor(pfn);
  }
}
