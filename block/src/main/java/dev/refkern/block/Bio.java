package dev.refkern.block;

import static dev.refkern.mm.Page.*;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.block.internal.trace.BlockTraceEvents;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.apiguardian.api.API;

/**
 * A block I/O ({@code struct bio}): an operation on consecutive 512-byte sectors from {@link
 * #sector()}, carried by page segments, with {@code REQ_FUA}/{@code REQ_PREFLUSH} flags and an
 * {@code bi_end_io} callback that runs in completion context (it may not sleep).
 */
@API(status = STABLE, since = "0.1.0")
public final class Bio {
  public static final int SECTOR_SIZE = 512;

  /** {@code REQ_FUA}: this write is durable when it completes. */
  public static final int REQ_FUA = 1;

  /** {@code REQ_PREFLUSH}: flush the cache before this write. */
  public static final int REQ_PREFLUSH = 1 << 1;

  /** {@code BIO_PAGE_PINNED}: the pages were pinned and completion must unpin them. */
  public static final int BIO_PAGE_PINNED = 1 << 8;

  private final BioOp op;
  private long sector;
  private final int flags;
  // bi_io_vec: parallel primitive arrays, so building and walking a bio allocates nothing per page
  private long[] pfns;
  private int[] offsets;
  private int[] lens;
  private int vcnt;
  private long size;
  private final java.util.BitSet vecMarks = new java.util.BitSet();
  private volatile int bioFlags;
  private volatile int status;
  private final java.util.concurrent.atomic.AtomicInteger remaining =
      new java.util.concurrent.atomic.AtomicInteger(1);
  private Consumer<Bio> endIo = b -> {};

  public Bio(BioOp op, long sector, int flags) {
    this(op, sector, flags, 4);
  }

  /** {@code bio_alloc()} with room for {@code nrVecs} segments (it grows past them if needed). */
  public Bio(BioOp op, long sector, int flags, int nrVecs) {
    if (sector < 0) {
      throw new IllegalArgumentException("negative sector");
    }
    this.op = op;
    this.sector = sector;
    this.flags = flags;
    int n = Math.max(1, nrVecs);
    pfns = new long[n];
    offsets = new int[n];
    lens = new int[n];
  }

  public BioOp op() {
    return op;
  }

  /** {@code bi_iter.bi_sector}. */
  public long sector() {
    return sector;
  }

  /** {@code bi_opf} flags ({@link #REQ_FUA}, {@link #REQ_PREFLUSH}). */
  public int flags() {
    return flags;
  }

  /** {@code bio_add_page()}. */
  public Bio addPage(long pfn, int offset, int len) {
    if (offset < 0 || len <= 0 || offset + len > PAGE_SIZE) {
      throw new IllegalArgumentException("bio_vec [" + offset + ", +" + len + ") outside a page");
    }
    append(pfn, offset, len);
    return this;
  }

  private void append(long pfn, int offset, int len) {
    if (vcnt == pfns.length) {
      int n = vcnt * 2;
      pfns = Arrays.copyOf(pfns, n);
      offsets = Arrays.copyOf(offsets, n);
      lens = Arrays.copyOf(lens, n);
    }
    pfns[vcnt] = pfn;
    offsets[vcnt] = offset;
    lens[vcnt] = len;
    vcnt++;
    size += len;
  }

  /** {@code bi_vcnt}: the number of segments. */
  public int vecCount() {
    return vcnt;
  }

  /** The page of segment {@code i}. */
  public long vecPfn(int i) {
    return pfns[java.util.Objects.checkIndex(i, vcnt)];
  }

  /** The offset in its page of segment {@code i}. */
  public int vecOffset(int i) {
    return offsets[java.util.Objects.checkIndex(i, vcnt)];
  }

  /** The length of segment {@code i}. */
  public int vecLen(int i) {
    return lens[java.util.Objects.checkIndex(i, vcnt)];
  }

  /** The segments as records (a read-only view that allocates per access; not for hot paths). */
  public List<BioVec> vecs() {
    return new AbstractList<>() {
      @Override
      public BioVec get(int i) {
        return new BioVec(vecPfn(i), vecOffset(i), vecLen(i));
      }

      @Override
      public int size() {
        return vcnt;
      }
    };
  }

  /** {@code bi_iter.bi_size} in bytes. */
  public long size() {
    return size;
  }

  /** Sectors covered. */
  public long sectors() {
    return size() / SECTOR_SIZE;
  }

  /** {@code bio_flagged()}/{@code bio_set_flag()} for {@code bi_flags} such as BIO_PAGE_PINNED. */
  public boolean flagged(int flag) {
    return (bioFlags & flag) != 0;
  }

  public void setFlag(int flag) {
    bioFlags |= flag;
  }

  /** A per-vector mark (a flag in {@code bv_pfn} or in the page pointer's low bit, seed 000). */
  public boolean vecMarked(int index) {
    return vecMarks.get(index);
  }

  public void markVec(int index) {
    vecMarks.set(index);
  }

  /** {@code bi_status}: 0 or a negative errno. */
  public int status() {
    return status;
  }

  public void setStatus(int status) {
    this.status = status;
  }

  /** {@code bi_end_io}. */
  public Bio onEnd(Consumer<Bio> endIo) {
    this.endIo = endIo;
    return this;
  }

  /** {@code bio_endio()}: runs the completion callback once every chained child has completed. */
  public void endio() {
    if (remaining.decrementAndGet() > 0) {
      return; // __bi_remaining: a chained child is still in flight
    }
    BlockTraceEvents.BioComplete e = new BlockTraceEvents.BioComplete();
    if (e.shouldCommit()) {
      e.sector = sector;
      e.size = size;
      e.op = op.name();
      e.error = status;
      e.commit();
    }
    endIo.accept(this);
  }

  /**
   * {@code bio_chain(child, parent)}: {@code parent} completes only after {@code child} has; an
   * error of the child becomes the parent's status.
   */
  public static void chain(Bio child, Bio parent) {
    parent.remaining.incrementAndGet();
    child.endIo =
        c -> {
          if (c.status() != 0 && parent.status() == 0) {
            parent.setStatus(c.status());
          }
          parent.endio();
        };
  }

  /**
   * {@code bio_split()}: a new bio for the first {@code sectors} sectors; this bio keeps the rest
   * (its sector advances). Splits only at segment boundaries here, as the model's bios are built.
   */
  public Bio split(long sectors) {
    if (sectors <= 0 || sectors >= sectors()) {
      throw new IllegalArgumentException(
          "split of " + sectors + " sectors of a " + sectors() + "-sector bio");
    }
    Bio front = new Bio(op, sector, flags, vcnt);
    front.bioFlags = bioFlags;
    long bytes = sectors * SECTOR_SIZE;
    int i = 0;
    while (bytes > 0) {
      int n = (int) Math.min(lens[i], bytes);
      front.append(pfns[i], offsets[i], n);
      if (vecMarks.get(i)) {
        front.markVec(front.vcnt - 1);
      }
      bytes -= n;
      if (n == lens[i]) {
        i++;
      } else {
        offsets[i] += n; // the segment is split inside its page
        lens[i] -= n;
      }
    }
    System.arraycopy(pfns, i, pfns, 0, vcnt - i);
    System.arraycopy(offsets, i, offsets, 0, vcnt - i);
    System.arraycopy(lens, i, lens, 0, vcnt - i);
    vcnt -= i;
    size -= sectors * SECTOR_SIZE;
    java.util.BitSet rest = vecMarks.get(i, Math.max(i, vecMarks.length()));
    vecMarks.clear();
    vecMarks.or(rest);
    sector += sectors;
    return front;
  }

  @Override
  public String toString() {
    return op + " sector " + sector + " +" + sectors() + " flags " + flags;
  }
}
