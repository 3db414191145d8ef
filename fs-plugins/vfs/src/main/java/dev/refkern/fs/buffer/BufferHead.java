package dev.refkern.fs.buffer;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import org.apiguardian.api.API;

/**
 * One block of a folio, {@code struct buffer_head} ({@code include/linux/buffer_head.h}): its
 * device block {@code b_blocknr}, size {@code b_size}, place in the folio and {@code b_state} bits.
 * The folio's buffers are its private data ({@code folio->private}), kept by {@link Buffers}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class BufferHead {
  /** {@code BH_Uptodate}: the buffer holds valid data. */
  public static final int BH_UPTODATE = 0;

  /** {@code BH_Dirty}: the buffer must be written. */
  public static final int BH_DIRTY = 1;

  /** {@code BH_Lock}: I/O is under way. */
  public static final int BH_LOCK = 2;

  /** {@code BH_Mapped}: {@code b_blocknr} is valid. */
  public static final int BH_MAPPED = 4;

  /** {@code BH_New}: {@code get_block} just allocated the block; its disk contents are junk. */
  public static final int BH_NEW = 5;

  /** {@code BH_Delay}: delayed allocation, not yet mapped. */
  public static final int BH_DELAY = 8;

  private final AddressSpace mapping;
  private volatile long pfn;
  private final int offset;
  private final int size;
  private volatile long blocknr = -1;
  private volatile int state;

  BufferHead(AddressSpace mapping, long pfn, int offset, int size) {
    this.mapping = mapping;
    this.pfn = pfn;
    this.offset = offset;
    this.size = size;
  }

  /** {@code b_blocknr}: the device block, in {@link #size()} units; -1 unless mapped. */
  public long blocknr() {
    return blocknr;
  }

  /** {@code b_size}. */
  public int size() {
    return size;
  }

  /** {@code bh_offset()}: the byte in its folio where the buffer starts. */
  public int offset() {
    return offset;
  }

  /** {@code b_folio}: the head pfn of its folio. */
  public long folio() {
    return pfn;
  }

  /** {@code folio_set_bh()} in {@code __buffer_migrate_folio()}: the folio moved to {@code pfn}. */
  void setFolio(long pfn) {
    this.pfn = pfn;
  }

  AddressSpace mapping() {
    return mapping;
  }

  /** {@code buffer_*()}: whether state bit {@code bit} is set. */
  public synchronized boolean test(int bit) {
    return (state & (1 << bit)) != 0;
  }

  /** {@code set_buffer_*()}. */
  public synchronized void set(int bit) {
    state |= 1 << bit;
  }

  /** {@code clear_buffer_*()}. */
  public synchronized void clear(int bit) {
    state &= ~(1 << bit);
  }

  /** {@code test_set_buffer_*()}: sets the bit, answering whether it was set. */
  public synchronized boolean testAndSet(int bit) {
    boolean was = test(bit);
    state |= 1 << bit;
    return was;
  }

  /** {@code map_bh()}: the buffer is device block {@code block}. */
  public synchronized void mapBh(long block) {
    blocknr = block;
    state |= 1 << BH_MAPPED;
  }

  synchronized void unmap() {
    blocknr = -1;
    state = 0;
  }

  @Override
  public String toString() {
    return "bh[block " + blocknr + " +" + size + " state " + Integer.toBinaryString(state) + "]";
  }
}
