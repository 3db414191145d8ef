package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;
import org.apiguardian.api.API;

/**
 * The on-disk format, {@code fs/xfs/libxfs/xfs_format.h} in spirit (read at v6.6), not in bytes:
 * big-endian, every metadata block sealed with a CRC32C in its last 4 bytes, every inode in its
 * last 4. The device is cut into allocation groups; each starts with a superblock copy, its AGF
 * (free space) and AGI (inodes), the free-space indexes by block (bnobt) and by size (cntbt) as
 * sorted record arrays, the refcountbt (shared and COW staging extents), and its inode table; data
 * blocks follow. The log sits in AG 0 after the inode table.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class Fmt {
  private Fmt() {}

  /** {@code sb_blocksize}: every block is a page. */
  public static final int BLOCK = 4096;

  /** {@code sb_inodesize}. */
  public static final int INODE_SIZE = 512;

  public static final int INOPB = BLOCK / INODE_SIZE;

  /** {@code XFS_INODES_PER_CHUNK}: inodes are handed out per chunk of 64 with a free mask. */
  public static final int CHUNK = 64;

  public static final int SB_MAGIC = 0x58465342; // "XFSB"
  public static final int AGF_MAGIC = 0x58414746; // "XAGF"
  public static final int AGI_MAGIC = 0x58414749; // "XAGI"
  public static final int BNO_MAGIC = 0x41423342; // "AB3B"
  public static final int CNT_MAGIC = 0x41423343; // "AB3C"
  public static final int BMAP_MAGIC = 0x424d4133; // "BMA3"
  public static final int DIR_MAGIC = 0x58444433; // "XDD3"
  public static final short DI_MAGIC = 0x494e; // "IN"
  public static final int REFC_MAGIC = 0x52334643; // "R3FC"

  public static final int VERSION = 5;

  /** {@code XFS_SB_FEAT_INCOMPAT_FTYPE}-like feature bits. */
  public static final int FEAT_CRC = 1;

  public static final int FEAT_FTYPE = 2;

  /** {@code XFS_SB_FEAT_RO_COMPAT_REFLINK}: shared extents, a refcountbt per AG. */
  public static final int FEAT_REFLINK = 4;

  /** What {@code mkfs.xfs} (since 5.1) turns on: reflink included. */
  public static final int FEAT_DEFAULT = FEAT_CRC | FEAT_FTYPE | FEAT_REFLINK;

  /** {@code XFS_REFC_COWFLAG}: a refcountbt record of a COW staging extent, not a shared one. */
  public static final int REFC_COWFLAG = 1 << 31;

  /** Refcount records per refcountbt block: startblock, blockcount, refcount. */
  public static final int REF_RECS = (BLOCK - 16 - 4) / 12;

  /** {@code XFS_DINODE_FMT_EXTENTS}: the data fork's records are in the inode. */
  public static final int FMT_EXTENTS = 2;

  /** {@code XFS_DINODE_FMT_BTREE}: the fork lists extent leaf blocks (a one-level bmbt). */
  public static final int FMT_BTREE = 3;

  // superblock fields
  private static final int SB_CRC = 252; // CRC32C of bytes [0, 252): one sector

  // inode core fields
  public static final int DI_MODE = 2;
  public static final int DI_FORMAT = 5;
  public static final int DI_NLINK = 8;
  public static final int DI_SIZE = 16;
  public static final int DI_ATIME = 24;
  public static final int DI_MTIME = 32;
  public static final int DI_CTIME = 40;
  public static final int DI_NEXTENTS = 48;
  public static final int DI_NBLOCKS = 56;
  public static final int DI_PARENT = 64;
  public static final int DI_INO = 72;
  public static final int DI_FORK = 96; // the data fork
  public static final int DI_FORK_END = 448;
  public static final int DI_COWFORK = 448; // reserved: the COW fork lives in memory only
  public static final int DI_CRC = INODE_SIZE - 4;

  /** Extent records the inode itself holds ({@code XFS_IFORK_MAXEXT}). */
  public static final int INLINE_EXTENTS = (DI_FORK_END - DI_FORK) / 16;

  /** Leaf blocks a btree-format fork lists. */
  public static final int MAX_LEAVES = (DI_FORK_END - DI_FORK - 8) / 8;

  /** Records per extent leaf block. */
  public static final int LEAF_RECS = (BLOCK - 16 - 4) / 16;

  /** Free-space records per bnobt/cntbt block. */
  public static final int FREE_RECS = (BLOCK - 16 - 4) / 8;

  /** Chunk records an AGI holds. */
  public static final int AGI_CHUNKS = (BLOCK - 32 - 4) / 12;

  public static final int NAME_MAX = 255;
  public static final int DIRENT_HDR = 10; // ino, namelen, ftype
  public static final int DIR_HDR = 20;
  public static final int FT_REG = 1;
  public static final int FT_DIR = 2;

  /** The largest extent length a record holds ({@code XFS_MAX_BMBT_EXTLEN}, 21 bits). */
  public static final long MAX_EXTLEN = (1L << 21) - 1;

  /**
   * The geometry the superblock records ({@code struct xfs_sb}): {@code dblocks}, {@code agblocks},
   * {@code agcount}, inodes per AG, free-index blocks per tree, root inode, log.
   */
  public record Geo(
      long dblocks,
      int agblocks,
      int agcount,
      int ipag,
      int idxBlocks,
      long rootino,
      long logstart,
      int logblocks) {
    public long agStart(int ag) {
      return (long) ag * agblocks;
    }

    public int agLen(int ag) {
      return (int) Math.min(agblocks, dblocks - agStart(ag));
    }

    public long agf(int ag) {
      return agStart(ag) + 1;
    }

    public long agi(int ag) {
      return agStart(ag) + 2;
    }

    public long bno(int ag) {
      return agStart(ag) + 3;
    }

    public long cnt(int ag) {
      return agStart(ag) + 3 + idxBlocks;
    }

    /** The refcountbt's first block: after the free-space indexes. */
    public long refc(int ag) {
      return agStart(ag) + 3 + 2L * idxBlocks;
    }

    /** refcountbt blocks per AG: every block a record of its own fits. */
    public int refBlocks() {
      return refBlocksFor(agblocks);
    }

    public long itable(int ag) {
      return refc(ag) + refBlocks();
    }

    /** The first block after the AG's headers and inode table. */
    public long dataStart(int ag) {
      return itable(ag) + ipag / INOPB;
    }

    public int agOf(long blk) {
      return (int) (blk / agblocks);
    }

    public long ino(int ag, int idx) {
      return (long) ag * ipag + idx + 1;
    }

    public long inodes() {
      return (long) agcount * ipag;
    }

    public int inoAg(long ino) {
      return (int) ((ino - 1) / ipag);
    }

    public int inoIdx(long ino) {
      return (int) ((ino - 1) % ipag);
    }

    public long inoBlock(long ino) {
      return itable(inoAg(ino)) + inoIdx(ino) / INOPB;
    }

    public int inoOffset(long ino) {
      return (inoIdx(ino) % INOPB) * INODE_SIZE;
    }

    public boolean validIno(long ino) {
      return ino >= 1 && ino <= inodes();
    }
  }

  /** The geometry {@code mkfs.xfs} picks for {@code dblocks} blocks. */
  public static Geo plan(long dblocks, int agcount, int ipag) {
    if (ipag < CHUNK || ipag % CHUNK != 0 || ipag / CHUNK > AGI_CHUNKS) {
      throw new KernelException(Errno.EINVAL, "xfs: inodes per AG " + ipag);
    }
    if (agcount < 1 || dblocks > Integer.MAX_VALUE) {
      throw new KernelException(Errno.EINVAL, "xfs: agcount " + agcount);
    }
    int agblocks = (int) ((dblocks + agcount - 1) / agcount);
    int idx = (agblocks / 2 + 1 + FREE_RECS - 1) / FREE_RECS; // the worst fragmentation fits
    long hdr = 3 + 2L * idx + refBlocksFor(agblocks) + ipag / INOPB;
    int logblocks = (int) Math.max(64, Math.min(2048, dblocks / 64));
    int ags = (int) ((dblocks + agblocks - 1) / agblocks);
    if (dblocks - (long) (ags - 1) * agblocks < hdr + 16) {
      ags--; // xfs_mkfs: a runt last AG is dropped
      dblocks = (long) ags * agblocks;
    }
    if (ags < 1 || hdr + logblocks + 16 > agblocks) {
      throw new KernelException(Errno.ENOSPC, "xfs: " + dblocks + " blocks are too few");
    }
    long logstart = hdr;
    return new Geo(dblocks, agblocks, ags, ipag, idx, 1, logstart, logblocks);
  }

  static int refBlocksFor(int agblocks) {
    return (agblocks + REF_RECS) / REF_RECS;
  }

  /** The primary superblock ({@code xfs_sb_to_disk}) with the default features. */
  public static byte[] encodeSuper(Geo g, long icount) {
    return encodeSuper(g, icount, FEAT_DEFAULT);
  }

  /** The superblock's feature bits. */
  public static int features(byte[] sb) {
    return be(sb).getInt(56);
  }

  /** The primary superblock ({@code xfs_sb_to_disk}) with {@code features}. */
  public static byte[] encodeSuper(Geo g, long icount, int features) {
    ByteBuffer b = be(new byte[BLOCK]);
    b.putInt(0, SB_MAGIC).putInt(4, BLOCK).putLong(8, g.dblocks()).putInt(16, g.agblocks());
    b.putInt(20, g.agcount()).putInt(24, g.ipag()).putInt(28, g.idxBlocks());
    b.putLong(32, g.rootino()).putLong(40, g.logstart()).putInt(48, g.logblocks());
    b.putInt(52, VERSION).putInt(56, features).putLong(64, icount);
    b.putInt(SB_CRC, crc(b.array(), 0, SB_CRC));
    return b.array();
  }

  /**
   * {@code xfs_readsb()}/{@code xfs_validate_sb_common()}: parses block 0.
   *
   * @throws KernelException {@code EINVAL} without the magic (no xfs there), {@code EUCLEAN}
   *     ({@code EFSCORRUPTED}) for a bad checksum or geometry
   */
  public static Geo decodeSuper(byte[] blk, String dev, long devBlocks) {
    ByteBuffer b = be(blk);
    if (b.getInt(0) != SB_MAGIC) {
      throw new KernelException(Errno.EINVAL, "XFS (" + dev + "): Invalid superblock magic number");
    }
    if (b.getInt(SB_CRC) != crc(blk, 0, SB_CRC)) {
      throw new KernelException(
          Errno.EUCLEAN, "XFS (" + dev + "): superblock: metadata CRC error, SB validate failed");
    }
    Geo g =
        new Geo(
            b.getLong(8),
            b.getInt(16),
            b.getInt(20),
            b.getInt(24),
            b.getInt(28),
            b.getLong(32),
            b.getLong(40),
            b.getInt(48));
    boolean ok =
        b.getInt(4) == BLOCK
            && b.getInt(52) == VERSION
            && g.agcount() >= 1
            && g.agblocks() > 0
            && g.ipag() >= CHUNK
            && g.ipag() % CHUNK == 0
            && g.ipag() / CHUNK <= AGI_CHUNKS
            && g.idxBlocks() >= 1
            && g.dblocks() <= (long) g.agcount() * g.agblocks()
            && g.dblocks() > (long) (g.agcount() - 1) * g.agblocks()
            && g.dblocks() <= devBlocks
            && g.logstart() >= g.dataStart(0)
            && g.logstart() + g.logblocks() <= g.agLen(0)
            && g.validIno(g.rootino());
    if (!ok) {
      throw new KernelException(
          Errno.EUCLEAN, "XFS (" + dev + "): superblock: SB sanity check failed");
    }
    return g;
  }

  /** A free extent {@code [start, start + len)} in absolute blocks. */
  public record Free(long start, long len) {}

  /**
   * Encodes one AG's free extents as its AGF, bnobt and cntbt blocks, in that order ({@code struct
   * xfs_agf} and the two {@code xfs_alloc_rec} btrees as sorted arrays).
   */
  public static List<byte[]> encodeFreeSpace(Geo g, int ag, List<Free> byBno) {
    List<byte[]> out = new ArrayList<>();
    long total = 0;
    long longest = 0;
    for (Free f : byBno) {
      total += f.len();
      longest = Math.max(longest, f.len());
    }
    ByteBuffer agf = be(new byte[BLOCK]);
    agf.putInt(0, AGF_MAGIC).putInt(4, ag).putInt(8, g.agLen(ag)).putLong(12, total);
    agf.putInt(20, byBno.size()).putLong(24, longest);
    out.add(seal(agf.array()));
    List<Free> byCnt = new ArrayList<>(byBno);
    byCnt.sort(
        (a, b) ->
            a.len() != b.len()
                ? Long.compare(a.len(), b.len())
                : Long.compare(a.start(), b.start()));
    out.addAll(recBlocks(g, ag, BNO_MAGIC, byBno));
    out.addAll(recBlocks(g, ag, CNT_MAGIC, byCnt));
    return out;
  }

  private static List<byte[]> recBlocks(Geo g, int ag, int magic, List<Free> recs) {
    List<byte[]> out = new ArrayList<>();
    long base = g.agStart(ag);
    for (int blk = 0; blk < g.idxBlocks(); blk++) {
      ByteBuffer b = be(new byte[BLOCK]);
      int from = blk * FREE_RECS;
      int n = Math.max(0, Math.min(FREE_RECS, recs.size() - from));
      b.putInt(0, magic).putInt(4, ag).putInt(8, n);
      for (int i = 0; i < n; i++) {
        Free f = recs.get(from + i);
        b.putInt(16 + i * 8, (int) (f.start() - base)).putInt(20 + i * 8, (int) f.len());
      }
      out.add(seal(b.array()));
    }
    return out;
  }

  /**
   * Decodes the records of one free-space index ({@code magic} bnobt or cntbt) from its blocks.
   *
   * @throws KernelException {@code EUCLEAN} naming the structure if a block is corrupt
   */
  public static List<Free> decodeRecs(Geo g, int ag, int magic, List<byte[]> blocks, String dev) {
    List<Free> recs = new ArrayList<>();
    long base = g.agStart(ag);
    String what = (magic == BNO_MAGIC ? "bnobt" : "cntbt") + " of AG " + ag;
    for (byte[] blk : blocks) {
      ByteBuffer b = be(blk);
      int n = b.getInt(8);
      if (b.getInt(0) != magic || b.getInt(4) != ag || n < 0 || n > FREE_RECS || !sealed(blk)) {
        throw corrupt(dev, what);
      }
      for (int i = 0; i < n; i++) {
        recs.add(
            new Free(
                base + (b.getInt(16 + i * 8) & 0xffffffffL), b.getInt(20 + i * 8) & 0xffffffffL));
      }
    }
    return recs;
  }

  /** The AGF's {@code agf_freeblks} and {@code agf_numrecs}, checked. */
  public static long[] decodeAgf(Geo g, int ag, byte[] blk, String dev) {
    ByteBuffer b = be(blk);
    if (b.getInt(0) != AGF_MAGIC
        || b.getInt(4) != ag
        || b.getInt(8) != g.agLen(ag)
        || !sealed(blk)) {
      throw corrupt(dev, "AGF of AG " + ag);
    }
    return new long[] {b.getLong(12), b.getInt(20), b.getLong(24)};
  }

  /** {@code struct xfs_agi}: count, free count and each chunk's free mask. */
  public static byte[] encodeAgi(Geo g, int ag, long[] freeMasks) {
    ByteBuffer b = be(new byte[BLOCK]);
    long count = 0;
    long free = 0;
    for (long m : freeMasks) {
      count += CHUNK;
      free += Long.bitCount(m);
    }
    b.putInt(0, AGI_MAGIC).putInt(4, ag).putLong(8, count).putLong(16, free);
    b.putInt(24, freeMasks.length);
    for (int i = 0; i < freeMasks.length; i++) {
      b.putInt(32 + i * 12, i * CHUNK).putLong(36 + i * 12, freeMasks[i]);
    }
    return seal(b.array());
  }

  /** The AGI's per-chunk free masks, checked. */
  public static long[] decodeAgi(Geo g, int ag, byte[] blk, String dev) {
    ByteBuffer b = be(blk);
    int n = b.getInt(24);
    if (b.getInt(0) != AGI_MAGIC || b.getInt(4) != ag || n != g.ipag() / CHUNK || !sealed(blk)) {
      throw corrupt(dev, "AGI of AG " + ag);
    }
    long[] masks = new long[n];
    long free = 0;
    for (int i = 0; i < n; i++) {
      if (b.getInt(32 + i * 12) != i * CHUNK) {
        throw corrupt(dev, "AGI of AG " + ag);
      }
      masks[i] = b.getLong(36 + i * 12);
      free += Long.bitCount(masks[i]);
    }
    if (b.getLong(8) != (long) n * CHUNK || b.getLong(16) != free) {
      throw corrupt(dev, "AGI of AG " + ag);
    }
    return masks;
  }

  /**
   * One refcountbt record, {@code struct xfs_refcount_irec}: {@code len} blocks from {@code start}
   * (absolute) shared {@code refcount} times, or a COW staging extent ({@code cow}, refcount 1).
   */
  public record Refc(long start, long len, long refcount, boolean cow) {}

  /** One AG's refcountbt ({@code xfs_refcount_rec}s sorted by start) as its blocks. */
  public static List<byte[]> encodeRefcount(Geo g, int ag, List<Refc> recs) {
    if (recs.size() > (long) g.refBlocks() * REF_RECS) {
      throw new KernelException(Errno.ENOSPC, "xfs: refcountbt of AG " + ag + " is full");
    }
    List<byte[]> out = new ArrayList<>();
    long base = g.agStart(ag);
    for (int blk = 0; blk < g.refBlocks(); blk++) {
      ByteBuffer b = be(new byte[BLOCK]);
      int from = blk * REF_RECS;
      int n = Math.max(0, Math.min(REF_RECS, recs.size() - from));
      b.putInt(0, REFC_MAGIC).putInt(4, ag).putInt(8, n);
      for (int i = 0; i < n; i++) {
        Refc r = recs.get(from + i);
        int at = 16 + i * 12;
        b.putInt(at, (int) (r.start() - base) | (r.cow() ? REFC_COWFLAG : 0));
        b.putInt(at + 4, (int) r.len()).putInt(at + 8, (int) r.refcount());
      }
      out.add(seal(b.array()));
    }
    return out;
  }

  /**
   * One AG's refcountbt records from its blocks.
   *
   * @throws KernelException {@code EUCLEAN} naming the refcountbt if a block or record is bad
   */
  public static List<Refc> decodeRefcount(Geo g, int ag, List<byte[]> blocks, String dev) {
    List<Refc> out = new ArrayList<>();
    long base = g.agStart(ag);
    String what = "refcountbt of AG " + ag;
    for (byte[] blk : blocks) {
      ByteBuffer b = be(blk);
      int n = b.getInt(8);
      if (b.getInt(0) != REFC_MAGIC || b.getInt(4) != ag || n < 0 || n > REF_RECS || !sealed(blk)) {
        throw corrupt(dev, what);
      }
      for (int i = 0; i < n; i++) {
        int at = 16 + i * 12;
        int s = b.getInt(at);
        boolean cow = (s & REFC_COWFLAG) != 0;
        Refc r =
            new Refc(
                base + (s & ~REFC_COWFLAG),
                b.getInt(at + 4) & 0xffffffffL,
                b.getInt(at + 8) & 0xffffffffL,
                cow);
        if (r.len() < 1
            || r.start() < g.dataStart(ag)
            || r.start() + r.len() > base + g.agLen(ag)
            || (cow ? r.refcount() != 1 : r.refcount() < 2)) {
          throw corrupt(dev, what + " record " + r);
        }
        out.add(r);
      }
    }
    return out;
  }

  /** One data-fork extent, {@code struct xfs_bmbt_irec}. */
  public record Ext(long off, long blk, long len, boolean unwritten) {
    public long end() {
      return off + len;
    }
  }

  /** {@code xfs_bmbt_disk_set_all()}: flag(1) startoff(54) startblock(52) blockcount(21). */
  public static void putExt(ByteBuffer b, int at, Ext e) {
    long l0 = (e.unwritten() ? 1L << 63 : 0) | (e.off() << 9) | (e.blk() >>> 43);
    long l1 = (e.blk() << 21) | e.len();
    b.putLong(at, l0).putLong(at + 8, l1);
  }

  public static Ext getExt(ByteBuffer b, int at) {
    long l0 = b.getLong(at);
    long l1 = b.getLong(at + 8);
    long off = (l0 >>> 9) & ((1L << 54) - 1);
    long blk = ((l0 & 0x1ff) << 43) | (l1 >>> 21);
    return new Ext(off, blk, l1 & MAX_EXTLEN, l0 < 0);
  }

  /** An extent leaf block ({@code XFS_BMAP_CRC_MAGIC}) of {@code owner}. */
  public static byte[] encodeLeaf(long owner, List<Ext> recs, int from, int n) {
    ByteBuffer b = be(new byte[BLOCK]);
    b.putInt(0, BMAP_MAGIC).putLong(4, owner).putInt(12, n);
    for (int i = 0; i < n; i++) {
      putExt(b, 16 + i * 16, recs.get(from + i));
    }
    return seal(b.array());
  }

  /** The records of an extent leaf block, or null if it is not {@code owner}'s valid leaf. */
  public static List<Ext> decodeLeaf(long owner, byte[] blk) {
    ByteBuffer b = be(blk);
    int n = b.getInt(12);
    if (b.getInt(0) != BMAP_MAGIC
        || b.getLong(4) != owner
        || n < 0
        || n > LEAF_RECS
        || !sealed(blk)) {
      return null;
    }
    List<Ext> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      out.add(getExt(b, 16 + i * 16));
    }
    return out;
  }

  /** A directory entry. */
  public record Dirent(String name, long ino, int ftype) {}

  /** Packs entries into directory data blocks ({@code xfs_dir2_data_entry}), at least one. */
  public static List<byte[]> encodeDir(long owner, List<Dirent> ents) {
    List<byte[]> out = new ArrayList<>();
    ByteBuffer cur = null;
    int off = 0;
    int n = 0;
    for (Dirent e : ents) {
      byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
      if (name.length > NAME_MAX) {
        throw new KernelException(Errno.ENAMETOOLONG, "xfs: name of " + name.length + " bytes");
      }
      int len = DIRENT_HDR + name.length;
      if (cur == null || off + len > BLOCK - 4) {
        if (cur != null) {
          out.add(finishDir(cur, n, off));
        }
        cur = be(new byte[BLOCK]);
        cur.putInt(0, DIR_MAGIC).putLong(4, owner);
        off = DIR_HDR;
        n = 0;
      }
      cur.putLong(off, e.ino()).put(off + 8, (byte) name.length).put(off + 9, (byte) e.ftype());
      cur.put(off + DIRENT_HDR, name);
      off += len;
      n++;
    }
    if (cur == null) { // an empty directory keeps one block
      cur = be(new byte[BLOCK]);
      cur.putInt(0, DIR_MAGIC).putLong(4, owner);
      off = DIR_HDR;
    }
    out.add(finishDir(cur, n, off));
    return out;
  }

  private static byte[] finishDir(ByteBuffer b, int n, int used) {
    b.putInt(12, n).putInt(16, used);
    return seal(b.array());
  }

  /** The entries of a directory block, or null if it is not {@code owner}'s valid block. */
  public static List<Dirent> decodeDir(long owner, byte[] blk) {
    ByteBuffer b = be(blk);
    int n = b.getInt(12);
    int used = b.getInt(16);
    if (b.getInt(0) != DIR_MAGIC
        || b.getLong(4) != owner
        || n < 0
        || used > BLOCK - 4
        || !sealed(blk)) {
      return null;
    }
    List<Dirent> out = new ArrayList<>(n);
    int off = DIR_HDR;
    for (int i = 0; i < n; i++) {
      if (off + DIRENT_HDR > used) {
        return null;
      }
      int len = blk[off + 8] & 0xff;
      if (off + DIRENT_HDR + len > used) {
        return null;
      }
      out.add(
          new Dirent(
              new String(blk, off + DIRENT_HDR, len, StandardCharsets.UTF_8),
              b.getLong(off),
              blk[off + 9]));
      off += DIRENT_HDR + len;
    }
    return out;
  }

  /** Sets the block's CRC32C in its last 4 bytes. */
  public static byte[] seal(byte[] blk) {
    be(blk).putInt(BLOCK - 4, crc(blk, 0, BLOCK - 4));
    return blk;
  }

  public static boolean sealed(byte[] blk) {
    return be(blk).getInt(BLOCK - 4) == crc(blk, 0, BLOCK - 4);
  }

  /** Seals the inode at {@code off} of its table block. */
  public static void sealInode(byte[] table, int off) {
    be(table).putInt(off + DI_CRC, crc(table, off, DI_CRC));
  }

  public static boolean inodeSealed(byte[] table, int off) {
    return be(table).getInt(off + DI_CRC) == crc(table, off, DI_CRC);
  }

  /** {@code xfs_corruption_error()}: {@code EFSCORRUPTED} naming the structure. */
  public static KernelException corrupt(String dev, String what) {
    return new KernelException(
        Errno.EUCLEAN, "XFS (" + dev + "): Metadata corruption detected: " + what);
  }

  public static ByteBuffer be(byte[] a) {
    return ByteBuffer.wrap(a).order(ByteOrder.BIG_ENDIAN);
  }

  public static int crc(byte[] a, int off, int len) {
    CRC32C c = new CRC32C();
    c.update(a, off, len);
    return (int) c.getValue();
  }
}
