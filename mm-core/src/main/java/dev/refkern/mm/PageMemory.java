package dev.refkern.mm;

import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.apiguardian.api.API.Status.STABLE;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.zip.CRC32C;
import org.apiguardian.api.API;

/**
 * The contents of simulated RAM: volatile, off-heap, and allocated lazily in 64 KiB chunks on the
 * first write, so a machine with {@code mem=64G} costs only the memory it touches. A frame never
 * written reads as zeros. Access is per page, like {@code kmap_local_page()}.
 */
@API(status = STABLE, since = "0.1.0")
public final class PageMemory {
  private static final int CHUNK_SHIFT = 4; // 16 pages per chunk
  private static final int CHUNK_PAGES = 1 << CHUNK_SHIFT;
  private static final int CHUNKS_PER_GROUP_SHIFT = 11;

  private final long nrPfns;
  private final AtomicReferenceArray<AtomicReferenceArray<ByteBuffer>> groups;

  public PageMemory(long nrPfns) {
    this.nrPfns = nrPfns;
    long chunks = (nrPfns + CHUNK_PAGES - 1) >>> CHUNK_SHIFT;
    this.groups = new AtomicReferenceArray<>((int) ((chunks >>> CHUNKS_PER_GROUP_SHIFT) + 1));
  }

  private ByteBuffer chunk(long pfn, boolean create) {
    if (pfn < 0 || pfn >= nrPfns) {
      throw new KernelException(Errno.EFAULT, "no RAM at pfn " + pfn);
    }
    long c = pfn >>> CHUNK_SHIFT;
    int g = (int) (c >>> CHUNKS_PER_GROUP_SHIFT);
    AtomicReferenceArray<ByteBuffer> group = groups.get(g);
    if (group == null) {
      if (!create) {
        return null;
      }
      groups.compareAndSet(g, null, new AtomicReferenceArray<>(1 << CHUNKS_PER_GROUP_SHIFT));
      group = groups.get(g);
    }
    int i = (int) (c & ((1 << CHUNKS_PER_GROUP_SHIFT) - 1));
    ByteBuffer b = group.get(i);
    if (b == null && create) {
      group.compareAndSet(
          i,
          null,
          ByteBuffer.allocateDirect(CHUNK_PAGES * PAGE_SIZE).order(ByteOrder.LITTLE_ENDIAN));
      b = group.get(i);
    }
    return b;
  }

  private static int offset(long pfn) {
    return (int) (pfn & (CHUNK_PAGES - 1)) * PAGE_SIZE;
  }

  /** {@code kmap_local_page()}: a 4 KiB little-endian view of the frame, populated on demand. */
  public ByteBuffer kmapLocal(long pfn) {
    return chunk(pfn, true).slice(offset(pfn), PAGE_SIZE).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * A view of {@code len} bytes of the frame from {@code offset}, populated on demand: what a
   * device's scatter-gather DMA (an iovec) addresses. Its position and limit are the caller's.
   */
  public ByteBuffer kmapLocal(long pfn, int offset, int len) {
    checkRange(offset, len);
    return chunk(pfn, true).slice(offset(pfn) + offset, len);
  }

  /** True once the frame's contents were allocated. */
  public boolean populated(long pfn) {
    return chunk(pfn, false) != null;
  }

  /** Copies {@code len} bytes of a frame from {@code offset} into {@code dst}. */
  public void read(long pfn, int offset, byte[] dst, int dstOff, int len) {
    checkRange(offset, len);
    ByteBuffer b = chunk(pfn, false);
    if (b == null) {
      java.util.Arrays.fill(dst, dstOff, dstOff + len, (byte) 0);
    } else {
      b.get(offset(pfn) + offset, dst, dstOff, len);
    }
  }

  /** Copies {@code len} bytes from {@code src} into a frame at {@code offset}. */
  public void write(long pfn, int offset, byte[] src, int srcOff, int len) {
    checkRange(offset, len);
    chunk(pfn, true).put(offset(pfn) + offset, src, srcOff, len);
  }

  /**
   * Copies {@code len} bytes of a frame from {@code offset} into {@code dst} at absolute index
   * {@code dstIndex}; neither buffer's position moves, so it allocates nothing.
   */
  public void read(long pfn, int offset, ByteBuffer dst, int dstIndex, int len) {
    checkRange(offset, len);
    ByteBuffer b = chunk(pfn, false);
    if (b == null) {
      fill(dst, dstIndex, len);
    } else {
      dst.put(dstIndex, b, offset(pfn) + offset, len);
    }
  }

  /** Copies {@code len} bytes from {@code src} at absolute index {@code srcIndex} into a frame. */
  public void write(long pfn, int offset, ByteBuffer src, int srcIndex, int len) {
    checkRange(offset, len);
    chunk(pfn, true).put(offset(pfn) + offset, src, srcIndex, len);
  }

  /** Copies {@code len} bytes between frames ({@code memcpy} of two kmapped ranges). */
  public void copy(long dstPfn, int dstOff, long srcPfn, int srcOff, int len) {
    checkRange(dstOff, len);
    checkRange(srcOff, len);
    ByteBuffer s = chunk(srcPfn, false);
    if (s == null) {
      fill(chunk(dstPfn, true), offset(dstPfn) + dstOff, len);
      return;
    }
    chunk(dstPfn, true).put(offset(dstPfn) + dstOff, s, offset(srcPfn) + srcOff, len);
  }

  /** CRC32C of {@code len} bytes of a frame from {@code offset} (a T10 PI guard tag). */
  public int crc32c(long pfn, int offset, int len) {
    checkRange(offset, len);
    CRC32C crc = new CRC32C();
    ByteBuffer b = chunk(pfn, false);
    if (b == null) {
      crc.update(ZEROS, 0, len);
    } else {
      crc.update(b.slice(offset(pfn) + offset, len));
    }
    return (int) crc.getValue();
  }

  private static final byte[] ZEROS = new byte[PAGE_SIZE];

  private static void fill(ByteBuffer b, int index, int len) {
    int end = index + len;
    int i = index;
    for (; i + 8 <= end; i += 8) {
      b.putLong(i, 0);
    }
    for (; i < end; i++) {
      b.put(i, (byte) 0);
    }
  }

  /** Reads a little-endian long at {@code offset} (8-byte aligned, within the page). */
  public long readLong(long pfn, int offset) {
    checkRange(offset, 8);
    ByteBuffer b = chunk(pfn, false);
    return b == null ? 0 : b.getLong(offset(pfn) + offset);
  }

  /** Writes a little-endian long at {@code offset}. */
  public void writeLong(long pfn, int offset, long value) {
    checkRange(offset, 8);
    chunk(pfn, true).putLong(offset(pfn) + offset, value);
  }

  /** {@code clear_highpage()}. */
  public void zeroPage(long pfn) {
    ByteBuffer b = chunk(pfn, false);
    if (b != null) {
      int base = offset(pfn);
      for (int i = 0; i < PAGE_SIZE; i += 8) {
        b.putLong(base + i, 0);
      }
    }
  }

  /** {@code copy_highpage()}. */
  public void copyPage(long dst, long src) {
    ByteBuffer s = chunk(src, false);
    if (s == null) {
      zeroPage(dst);
      return;
    }
    ByteBuffer d = chunk(dst, true);
    d.put(offset(dst), s, offset(src), PAGE_SIZE);
  }

  /** CRC32C of a frame's contents (what a T10 PI guard tag would protect). */
  public int checksum(long pfn) {
    CRC32C crc = new CRC32C();
    ByteBuffer b = chunk(pfn, false);
    if (b == null) {
      crc.update(ZEROS);
    } else {
      crc.update(b.slice(offset(pfn), PAGE_SIZE));
    }
    return (int) crc.getValue();
  }

  private static void checkRange(int offset, int len) {
    if (offset < 0 || len < 0 || offset + len > PAGE_SIZE) {
      throw new KernelException(
          Errno.EINVAL, "access [" + offset + ", +" + len + ") outside a 4 KiB page");
    }
  }
}
