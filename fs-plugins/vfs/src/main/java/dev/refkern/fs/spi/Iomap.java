package dev.refkern.fs.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BlockDevice;
import org.apiguardian.api.API;

/**
 * One mapping of a file range to its blocks, {@code struct iomap} ({@code include/linux/iomap.h},
 * read at v6.6): bytes {@code [offset, offset + length)} of the file are a hole, delayed
 * allocation, written blocks or unwritten (allocated, reading as zeros) blocks at device byte
 * {@link #addr()} of {@link #bdev()}.
 *
 * <p>Filled in by {@link IomapOps#iomapBegin}, as the kernel passes the struct to fill; a caller
 * reuses one instance across a walk.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Iomap {
  /** {@code IOMAP_HOLE}: no blocks allocated; reads as zeros, a write must allocate. */
  public static final int HOLE = 0;

  /** {@code IOMAP_DELALLOC}: blocks reserved, not yet allocated. */
  public static final int DELALLOC = 1;

  /** {@code IOMAP_MAPPED}: blocks allocated at {@link #addr()}. */
  public static final int MAPPED = 2;

  /** {@code IOMAP_UNWRITTEN}: blocks allocated at {@link #addr()} that read as zeros. */
  public static final int UNWRITTEN = 3;

  /** {@code IOMAP_F_NEW}: the blocks were allocated by this call; their old contents are junk. */
  public static final int F_NEW = 1;

  /** {@code IOMAP_F_DIRTY}: metadata needed to read the data is not yet durable. */
  public static final int F_DIRTY = 1 << 1;

  /** {@code IOMAP_NULL_ADDR}: {@link #addr()} of a hole or delalloc range. */
  public static final long NULL_ADDR = -1;

  private long addr = NULL_ADDR;
  private long offset;
  private long length;
  private int type = HOLE;
  private int flags;
  private BlockDevice bdev;

  /** Sets every field, as an {@code ->iomap_begin} fills the struct. */
  public Iomap set(int type, int flags, long offset, long length, long addr, BlockDevice bdev) {
    if (type < HOLE || type > UNWRITTEN || offset < 0 || length <= 0) {
      throw new IllegalArgumentException(
          "iomap type " + type + " [" + offset + ", +" + length + ")");
    }
    boolean hasAddr = type == MAPPED || type == UNWRITTEN;
    if (hasAddr && (addr < 0 || addr % Bio.SECTOR_SIZE != 0 || bdev == null)) {
      throw new IllegalArgumentException("iomap at byte " + addr + " of " + bdev);
    }
    this.type = type;
    this.flags = flags;
    this.offset = offset;
    this.length = length;
    this.addr = hasAddr ? addr : NULL_ADDR;
    this.bdev = bdev;
    return this;
  }

  /** {@code iomap->type}. */
  public int type() {
    return type;
  }

  /** {@code iomap->flags} ({@link #F_NEW}, {@link #F_DIRTY}). */
  public int flags() {
    return flags;
  }

  /** {@code iomap->offset}: the file byte the mapping starts at. */
  public long offset() {
    return offset;
  }

  /** {@code iomap->length} in bytes. */
  public long length() {
    return length;
  }

  /** The file byte just past the mapping. */
  public long end() {
    return offset + length;
  }

  /** {@code iomap->addr}: the device byte of {@link #offset()}, or {@link #NULL_ADDR}. */
  public long addr() {
    return addr;
  }

  /** {@code iomap->bdev}. */
  public BlockDevice bdev() {
    return bdev;
  }

  /** {@code iomap_sector()}: the device sector holding file byte {@code pos}. */
  public long sector(long pos) {
    return (addr + pos - offset) / Bio.SECTOR_SIZE;
  }

  /** Whether file byte {@code pos} lies in the mapping. */
  public boolean contains(long pos) {
    return pos >= offset && pos < end();
  }

  @Override
  public String toString() {
    return "iomap[type="
        + type
        + " flags="
        + flags
        + " "
        + offset
        + "+"
        + length
        + " @"
        + addr
        + "]";
  }
}
