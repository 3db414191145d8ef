package dev.refkern.fs.ext4.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;
import org.apiguardian.api.API;

/**
 * The on-disk format, {@code struct ext4_super_block}, {@code struct ext4_group_desc}, {@code
 * struct ext4_inode} and {@code struct ext4_dir_entry_2} ({@code fs/ext4/ext4.h}, read at v6.6),
 * cut down: the superblock sits at byte 0 of block 0 (not 1024) with ext4's field offsets, the
 * group descriptor table is block 1, each group starts with its block bitmap, inode bitmap and
 * inode table; a regular file maps its blocks with an extent tree ({@link ExtentTree}), a directory
 * (or a file of an image without {@code INCOMPAT_EXTENTS}) with 12 direct pointers and one
 * single-indirect block. Little-endian.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class Disk {
  public static final int BLOCK = 4096;
  public static final int MAGIC = 0xEF53;
  public static final int INODE_SIZE = 256;
  public static final int INODES_PER_BLOCK = BLOCK / INODE_SIZE;
  public static final int ROOT_INO = 2;
  public static final int FIRST_INO = 11;
  public static final int NDIR = 12;
  public static final int PER_INDIRECT = BLOCK / 4;
  public static final long MAX_BYTES = (long) (NDIR + PER_INDIRECT) * BLOCK;
  public static final int GD_SIZE = 32;
  public static final int MAX_GROUPS = BLOCK / GD_SIZE;

  /** {@code EXT4_FEATURE_INCOMPAT_FILETYPE}: directory entries carry the file type. */
  public static final int INCOMPAT_FILETYPE = 0x2;

  /** {@code EXT4_FEATURE_INCOMPAT_EXTENTS}: files map their blocks with extent trees. */
  public static final int INCOMPAT_EXTENTS = 0x40;

  /** {@code EXT4_FEATURE_RO_COMPAT_METADATA_CSUM}: the superblock has a CRC32C. */
  public static final int RO_COMPAT_METADATA_CSUM = 0x400;

  // struct ext4_super_block offsets
  static final int S_INODES_COUNT = 0x0;
  static final int S_BLOCKS_COUNT = 0x4;
  static final int S_FREE_BLOCKS = 0xC;
  static final int S_FREE_INODES = 0x10;
  static final int S_LOG_BLOCK_SIZE = 0x18;
  static final int S_BLOCKS_PER_GROUP = 0x20;
  static final int S_INODES_PER_GROUP = 0x28;
  static final int S_MAGIC = 0x38;
  static final int S_STATE = 0x3A;
  static final int S_FIRST_INO = 0x54;
  static final int S_INODE_SIZE = 0x58;
  static final int S_FEATURE_COMPAT = 0x5C;
  static final int S_FEATURE_INCOMPAT = 0x60;
  static final int S_FEATURE_RO_COMPAT = 0x64;
  static final int S_LAST_ORPHAN = 0xE8;
  // s_checksum: ext4 keeps it at 0x3FC of a 1 KiB superblock; here every field and the checksum
  // sit in the first 512-byte sector, so a power cut tearing block 0 leaves it old or new, never
  // mixed (nothing past the sector is used)
  static final int S_CHECKSUM = 0x1FC;

  // struct ext4_inode offsets
  public static final int I_MODE = 0x0;
  public static final int I_SIZE_LO = 0x4;
  public static final int I_ATIME = 0x8;
  public static final int I_CTIME = 0xC;
  public static final int I_MTIME = 0x10;
  public static final int I_DTIME = 0x14;
  public static final int I_LINKS = 0x1A;
  public static final int I_BLOCK = 0x28;
  public static final int I_SIZE_HIGH = 0x6C;

  /** {@code EXT4_FT_REG_FILE}, {@code EXT4_FT_DIR}. */
  public static final int FT_REG = 1;

  public static final int FT_DIR = 2;

  private Disk() {}

  /** The geometry the superblock gives: block and inode counts and group sizes. */
  public record Geometry(long blocks, int blocksPerGroup, int inodesPerGroup) {
    public int groups() {
      return (int) ((blocks + blocksPerGroup - 1) / blocksPerGroup);
    }

    public long inodes() {
      return (long) groups() * inodesPerGroup;
    }

    public int tableBlocks() {
      return inodesPerGroup / INODES_PER_BLOCK;
    }

    public long groupStart(int g) {
      return (long) g * blocksPerGroup;
    }

    public long groupEnd(int g) {
      return Math.min(blocks, groupStart(g) + blocksPerGroup);
    }

    /** The group's block bitmap; the inode bitmap and the table follow it. */
    public long blockBitmap(int g) {
      return groupStart(g) + (g == 0 ? 2 : 0);
    }

    public long inodeBitmap(int g) {
      return blockBitmap(g) + 1;
    }

    public long inodeTable(int g) {
      return blockBitmap(g) + 2;
    }

    /** The first data block of group {@code g}. */
    public long dataStart(int g) {
      return inodeTable(g) + tableBlocks();
    }

    /** The table block and byte offset of inode {@code ino} (1-based). */
    public long inodeBlock(long ino) {
      int g = (int) ((ino - 1) / inodesPerGroup);
      return inodeTable(g) + ((ino - 1) % inodesPerGroup) / INODES_PER_BLOCK;
    }

    public static int inodeOffset(long ino) {
      return (int) ((ino - 1) % INODES_PER_BLOCK) * INODE_SIZE;
    }

    /** Whether {@code blk} is a data block (not a superblock, descriptor, bitmap or table). */
    public boolean isData(long blk) {
      if (blk <= 1 || blk >= blocks) {
        return false;
      }
      int g = (int) (blk / blocksPerGroup);
      return blk >= dataStart(g);
    }
  }

  /**
   * A new geometry for {@code totalBlocks}: groups of {@code blocksPerGroup} (at most one bitmap
   * block of bits), a short last group dropped if its metadata would not leave a data block.
   *
   * @throws KernelException {@code EINVAL} for impossible sizes, {@code ENOSPC} if too small
   */
  public static Geometry plan(long totalBlocks, int blocksPerGroup, int inodesPerGroup) {
    if (blocksPerGroup < 8 || blocksPerGroup > BLOCK * 8 || blocksPerGroup % 8 != 0) {
      throw new KernelException(Errno.EINVAL, "ext4: blocks_per_group " + blocksPerGroup);
    }
    if (inodesPerGroup < INODES_PER_BLOCK
        || inodesPerGroup > BLOCK * 8
        || inodesPerGroup % INODES_PER_BLOCK != 0) {
      throw new KernelException(Errno.EINVAL, "ext4: inodes_per_group " + inodesPerGroup);
    }
    long blocks = Math.min(totalBlocks, (long) MAX_GROUPS * blocksPerGroup);
    Geometry g = new Geometry(blocks, blocksPerGroup, inodesPerGroup);
    int last = g.groups() - 1;
    if (last > 0 && g.dataStart(last) >= g.groupEnd(last)) {
      g = new Geometry(g.groupStart(last), blocksPerGroup, inodesPerGroup);
    }
    if (g.groups() < 1 || g.dataStart(0) + 1 >= g.groupEnd(0) || g.inodes() < FIRST_INO) {
      throw new KernelException(Errno.ENOSPC, "ext4: " + totalBlocks + " blocks is too small");
    }
    return g;
  }

  /** Block 0 for {@code geo} with free counts {@code freeBlocks}, {@code freeInodes}. */
  public static byte[] encodeSuper(Geometry geo, long freeBlocks, long freeInodes) {
    ByteBuffer b = le(new byte[BLOCK]);
    b.putInt(S_INODES_COUNT, (int) geo.inodes()).putInt(S_BLOCKS_COUNT, (int) geo.blocks());
    b.putInt(S_FREE_BLOCKS, (int) freeBlocks).putInt(S_FREE_INODES, (int) freeInodes);
    b.putInt(S_LOG_BLOCK_SIZE, 2).putInt(S_BLOCKS_PER_GROUP, geo.blocksPerGroup());
    b.putInt(S_INODES_PER_GROUP, geo.inodesPerGroup());
    b.putShort(S_MAGIC, (short) MAGIC).putShort(S_STATE, (short) 1);
    b.putInt(S_FIRST_INO, FIRST_INO).putShort(S_INODE_SIZE, (short) INODE_SIZE);
    b.putInt(S_FEATURE_INCOMPAT, INCOMPAT_FILETYPE);
    b.putInt(S_FEATURE_RO_COMPAT, RO_COMPAT_METADATA_CSUM);
    Journal.stamp(b, geo);
    b.putInt(S_CHECKSUM, crc(b.array(), S_CHECKSUM));
    return b.array();
  }

  /**
   * Block 0 {@code sb} with {@code EXT4_FEATURE_INCOMPAT_EXTENTS} if {@code extents} and {@code
   * s_last_orphan}, the head of the orphan list, re-checksummed.
   */
  public static byte[] withBlockMap(byte[] sb, boolean extents, long lastOrphan) {
    ByteBuffer b = le(sb);
    if (extents) {
      b.putInt(S_FEATURE_INCOMPAT, b.getInt(S_FEATURE_INCOMPAT) | INCOMPAT_EXTENTS);
    }
    b.putInt(S_LAST_ORPHAN, (int) lastOrphan);
    b.putInt(S_CHECKSUM, crc(sb, S_CHECKSUM));
    return sb;
  }

  /** Whether block 0 {@code sb} has {@code INCOMPAT_EXTENTS}. */
  public static boolean hasExtents(byte[] sb) {
    return (le(sb).getInt(S_FEATURE_INCOMPAT) & INCOMPAT_EXTENTS) != 0;
  }

  /** {@code s_last_orphan} of block 0 {@code sb}: the first orphan inode, or 0. */
  public static long lastOrphan(byte[] sb) {
    return le(sb).getInt(S_LAST_ORPHAN) & 0xffffffffL;
  }

  /** What {@link #decodeSuper} read: the geometry and the free counts. */
  public record Super(Geometry geo, long freeBlocks, long freeInodes) {}

  /**
   * {@code ext4_fill_super()}'s checks of block 0.
   *
   * @throws KernelException {@code EINVAL}: no ext4 magic, or an incompatible feature; {@code
   *     EUCLEAN}: a bad checksum or impossible counts (the kernel answers {@code EFSBADCRC}, that
   *     is {@code EBADMSG}, for the checksum; refkern's Errno has no {@code EBADMSG})
   */
  public static Super decodeSuper(byte[] block, String dev, long deviceBlocks) {
    ByteBuffer b = le(block);
    if ((b.getShort(S_MAGIC) & 0xffff) != MAGIC) {
      throw new KernelException(Errno.EINVAL, "VFS: Can't find ext4 filesystem on " + dev);
    }
    if ((b.getInt(S_FEATURE_INCOMPAT) & ~(INCOMPAT_FILETYPE | INCOMPAT_EXTENTS)) != 0) {
      throw new KernelException(
          Errno.EINVAL, "ext4: " + dev + ": couldn't mount due to unsupported features");
    }
    if ((b.getInt(S_FEATURE_RO_COMPAT) & RO_COMPAT_METADATA_CSUM) != 0
        && b.getInt(S_CHECKSUM) != crc(block, S_CHECKSUM)) {
      throw new KernelException(
          Errno.EUCLEAN, "ext4: " + dev + ": superblock has an invalid checksum");
    }
    long blocks = b.getInt(S_BLOCKS_COUNT) & 0xffffffffL;
    int bpg = b.getInt(S_BLOCKS_PER_GROUP);
    int ipg = b.getInt(S_INODES_PER_GROUP);
    long freeBlocks = b.getInt(S_FREE_BLOCKS) & 0xffffffffL;
    long freeInodes = b.getInt(S_FREE_INODES) & 0xffffffffL;
    String bad = null;
    if (b.getInt(S_LOG_BLOCK_SIZE) != 2 || (b.getShort(S_INODE_SIZE) & 0xffff) != INODE_SIZE) {
      bad = "block or inode size";
    } else if (bpg < 8 || bpg > BLOCK * 8 || bpg % 8 != 0) {
      bad = "blocks per group " + bpg;
    } else if (ipg < INODES_PER_BLOCK || ipg > BLOCK * 8 || ipg % INODES_PER_BLOCK != 0) {
      bad = "inodes per group " + ipg;
    } else if (blocks < 3 || blocks > deviceBlocks || (blocks + bpg - 1) / bpg > MAX_GROUPS) {
      bad = "block count " + blocks + " (device has " + deviceBlocks + ")";
    }
    Geometry geo = bad == null ? new Geometry(blocks, bpg, ipg) : null;
    if (bad == null && (b.getInt(S_INODES_COUNT) & 0xffffffffL) != geo.inodes()) {
      bad = "inode count " + b.getInt(S_INODES_COUNT) + " for " + geo.groups() + " groups";
    } else if (bad == null && (freeBlocks > blocks || freeInodes > geo.inodes())) {
      bad = "free counts " + freeBlocks + "/" + freeInodes + " past the totals";
    }
    if (bad != null) {
      throw new KernelException(Errno.EUCLEAN, "ext4: " + dev + ": superblock: bad " + bad);
    }
    return new Super(geo, freeBlocks, freeInodes);
  }

  /** One {@code struct ext4_dir_entry_2}: bytes needed for a name of {@code nameLen}. */
  public static int direntLen(int nameLen) {
    return (8 + nameLen + 3) & ~3;
  }

  public static void putDirent(
      byte[] blk, int off, long ino, int recLen, byte[] name, int fileType) {
    ByteBuffer b = le(blk);
    b.putInt(off, (int) ino).putShort(off + 4, (short) recLen);
    blk[off + 6] = (byte) name.length;
    blk[off + 7] = (byte) fileType;
    System.arraycopy(name, 0, blk, off + 8, name.length);
  }

  /** A parsed directory entry. */
  public record Dirent(long ino, int recLen, String name, int fileType) {}

  /**
   * The entry at {@code off}, or null if its {@code rec_len} is impossible ({@code
   * ext4_check_dir_entry()}).
   */
  public static Dirent dirent(byte[] blk, int off) {
    if (off + 8 > BLOCK) {
      return null;
    }
    ByteBuffer b = le(blk);
    int recLen = b.getShort(off + 4) & 0xffff;
    int nameLen = blk[off + 6] & 0xff;
    if (recLen < 8 || recLen % 4 != 0 || off + recLen > BLOCK || direntLen(nameLen) > recLen) {
      return null;
    }
    String name = new String(blk, off + 8, nameLen, StandardCharsets.UTF_8);
    return new Dirent(b.getInt(off) & 0xffffffffL, recLen, name, blk[off + 7] & 0xff);
  }

  public static ByteBuffer le(byte[] a) {
    return ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN);
  }

  static int crc(byte[] a, int len) {
    CRC32C c = new CRC32C();
    c.update(a, 0, len);
    return (int) c.getValue();
  }

  public static boolean testBit(byte[] map, long bit) {
    return (map[(int) (bit >>> 3)] & (1 << (bit & 7))) != 0;
  }

  public static void setBit(byte[] map, long bit, boolean on) {
    if (on) {
      map[(int) (bit >>> 3)] |= (byte) (1 << (bit & 7));
    } else {
      map[(int) (bit >>> 3)] &= (byte) ~(1 << (bit & 7));
    }
  }
}
