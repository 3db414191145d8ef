package dev.refkern.fs.flat.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;
import org.apiguardian.api.API;

/**
 * The on-disk format of flatfs, its {@code struct flat_super_block} and {@code struct flat_inode}:
 * block 0 the superblock, then the inode table of fixed 256-byte slots, then one contiguous extent
 * per slot. Little-endian.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class Layout {
  /** Every block is a page. */
  public static final int BLOCK = 4096;

  /** "FLAT". */
  public static final int MAGIC = 0x464c4154;

  public static final int VERSION = 1;
  public static final int SLOT = 256;
  public static final int SLOTS_PER_BLOCK = BLOCK / SLOT;
  public static final int NAME_MAX = 200;

  // superblock fields
  private static final int SB_CRC = 40; // CRC32C of bytes [0, 40)

  // slot fields
  private static final int S_NAMELEN = 0;
  private static final int S_NAME = 2;
  private static final int S_START = 208;
  private static final int S_SIZE = 216;
  private static final int S_MODE = 224;
  private static final int S_NLINK = 228;
  private static final int S_MTIME = 232;

  public final int nrSlots;
  public final long extentBlocks;
  public final long tableStart = 1;
  public final long dataStart;

  public Layout(int nrSlots, long extentBlocks) {
    this.nrSlots = nrSlots;
    this.extentBlocks = extentBlocks;
    this.dataStart = tableStart + tableBlocks(nrSlots);
  }

  static long tableBlocks(int nrSlots) {
    return (nrSlots + SLOTS_PER_BLOCK - 1) / SLOTS_PER_BLOCK;
  }

  /** The most slots of {@code extentBlocks} that fit {@code totalBlocks}, or 0. */
  public static int fit(long totalBlocks, long extentBlocks) {
    long n = Math.min(Integer.MAX_VALUE, Math.max(0, totalBlocks - 1) / extentBlocks);
    while (n > 0 && 1 + tableBlocks((int) n) + n * extentBlocks > totalBlocks) {
      n--;
    }
    return (int) n;
  }

  public long extentBytes() {
    return extentBlocks * BLOCK;
  }

  /** The first block of slot {@code i}'s extent. */
  public long start(int i) {
    return dataStart + i * extentBlocks;
  }

  public long totalBlocks() {
    return dataStart + nrSlots * extentBlocks;
  }

  /** Block 0. */
  public byte[] encodeSuper() {
    ByteBuffer b = le(new byte[BLOCK]);
    b.putInt(0, MAGIC).putInt(4, VERSION).putInt(8, BLOCK).putInt(12, nrSlots);
    b.putLong(16, extentBlocks).putLong(24, tableStart).putLong(32, dataStart);
    b.putInt(SB_CRC, crc(b.array(), SB_CRC));
    return b.array();
  }

  /**
   * Parses block 0.
   *
   * @throws KernelException {@code EINVAL}: bad magic (no flatfs there), bad checksum, version or
   *     geometry
   */
  public static Layout decodeSuper(byte[] block, String dev) {
    ByteBuffer b = le(block);
    if (b.getInt(0) != MAGIC) {
      throw new KernelException(Errno.EINVAL, "VFS: Can't find a flatfs filesystem on " + dev);
    }
    if (b.getInt(SB_CRC) != crc(block, SB_CRC)) {
      throw new KernelException(Errno.EINVAL, "flatfs: superblock checksum mismatch on " + dev);
    }
    int nr = b.getInt(12);
    long ext = b.getLong(16);
    if (b.getInt(4) != VERSION || b.getInt(8) != BLOCK || nr < 1 || ext < 1 || b.getLong(24) != 1) {
      throw new KernelException(Errno.EINVAL, "flatfs: unsupported geometry on " + dev);
    }
    Layout l = new Layout(nr, ext);
    if (b.getLong(32) != l.dataStart) {
      throw new KernelException(Errno.EINVAL, "flatfs: bad data start on " + dev);
    }
    return l;
  }

  /** One inode slot: in use iff {@code nlink > 0}. */
  public record Slot(String name, long start, long size, int mode, int nlink, long mtime) {
    public boolean used() {
      return nlink > 0;
    }
  }

  public static void encodeSlot(byte[] table, int off, Slot s) {
    ByteBuffer b = le(table);
    for (int i = 0; i < SLOT; i++) {
      table[off + i] = 0;
    }
    if (s == null) {
      return;
    }
    byte[] name = s.name().getBytes(StandardCharsets.UTF_8);
    if (name.length > NAME_MAX) {
      throw new KernelException(Errno.ENAMETOOLONG, "flatfs: name of " + name.length + " bytes");
    }
    b.putShort(off + S_NAMELEN, (short) name.length);
    System.arraycopy(name, 0, table, off + S_NAME, name.length);
    b.putLong(off + S_START, s.start()).putLong(off + S_SIZE, s.size());
    b.putInt(off + S_MODE, s.mode()).putInt(off + S_NLINK, s.nlink());
    b.putLong(off + S_MTIME, s.mtime());
  }

  public static Slot decodeSlot(byte[] table, int off) {
    ByteBuffer b = le(table);
    int len = Math.min(b.getShort(off + S_NAMELEN) & 0xffff, NAME_MAX);
    String name = new String(table, off + S_NAME, len, StandardCharsets.UTF_8);
    return new Slot(
        name,
        b.getLong(off + S_START),
        b.getLong(off + S_SIZE),
        b.getInt(off + S_MODE),
        b.getInt(off + S_NLINK),
        b.getLong(off + S_MTIME));
  }

  private static ByteBuffer le(byte[] a) {
    return ByteBuffer.wrap(a).order(java.nio.ByteOrder.LITTLE_ENDIAN);
  }

  private static int crc(byte[] a, int len) {
    CRC32C c = new CRC32C();
    c.update(a, 0, len);
    return (int) c.getValue();
  }
}
