package dev.refkern.fs.xfs.internal;

import static dev.refkern.fs.xfs.internal.Fmt.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.block.BlockDevice;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.fs.iomap.IomapBufferedIo;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.spi.IomapOps;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.fs.xfs.internal.Fmt.Dirent;
import dev.refkern.fs.xfs.internal.Fmt.Ext;
import dev.refkern.fs.xfs.internal.Fmt.Geo;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * A mounted XFS-like filesystem, {@code struct xfs_mount} ({@code fs/xfs/xfs_mount.h}), and its
 * {@code iomap_ops} ({@code xfs_iomap.c}, read at v6.6): per-AG free space and inode masks, every
 * inode's data fork (written and unwritten extents) and in-memory delayed-allocation extents.
 *
 * <p>Changes live in memory as in the CIL ({@code xfs_log_cil.c}) until {@link #commit} builds one
 * {@link XfsTrans} of every changed metadata block (namespace, inodes, AG headers) and hands it to
 * the {@link MetaLog}; {@code fsync}, {@code sync} and unmount commit and force. Freed extents are
 * busy ({@code xfs_extent_busy.c}) until a commit that frees them is forced: no new owner writes
 * over blocks the disk still gives the old one.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class XfsMount implements IomapOps {
  /** One inode in use ({@code struct xfs_inode}). */
  static final class DInode {
    final long ino;
    Inode vfs;
    final TreeMap<Long, Ext> data = new TreeMap<>();
    final TreeMap<Long, Long> dela = new TreeMap<>(); // startoff -> blocks reserved
    final TreeMap<Long, Ext> cow = new TreeMap<>(); // the COW fork's allocated staging extents
    final TreeMap<Long, Long> cowDela = new TreeMap<>(); // the COW fork's delayed reservations
    final List<Long> leaves = new ArrayList<>();
    long parent;

    DInode(long ino) {
      this.ino = ino;
    }
  }

  private final Geo geo;
  private final String dev;
  private final BlockDevice bdev;
  private final MetaLog log;
  private final XfsBufCache cache;
  private final XfsAlloc[] ags;
  private final long[][] imask; // per AG, per chunk: bit set = inode free
  final Map<Inode, DInode> byVfs = new IdentityHashMap<>();
  private final Map<Long, DInode> byIno = new HashMap<>();
  private final List<Long> zeroInodes = new ArrayList<>(); // freed, their cores cleared at commit
  private final List<long[]> busy = new ArrayList<>(); // {start, len, committed?}
  private final List<Long> cancels = new ArrayList<>(); // freed blocks the log holds copies of
  private final long resblks;
  final XfsReflink reflinkOps = new XfsReflink(this);
  final XfsRefcount refc;
  private final int features;
  private final boolean reflink;
  private boolean cloneOff;
  private boolean recoveredCow;
  long reserved; // delalloc reservations ({@code xfs_mod_fdblocks})
  private long lastLsn = -1;
  private long forcedLsn = -1;
  private volatile String shutdown;
  SuperBlock sb;

  private XfsMount(
      Geo geo, String dev, BlockDevice bdev, MetaLog log, XfsBufCache cache, int features) {
    this.geo = geo;
    this.features = features;
    this.reflink = (features & FEAT_REFLINK) != 0;
    this.refc = new XfsRefcount(geo);
    this.dev = dev;
    this.bdev = bdev;
    this.log = log;
    this.cache = cache;
    this.ags = new XfsAlloc[geo.agcount()];
    this.imask = new long[geo.agcount()][];
    this.resblks = Math.min(64, Math.max(8, geo.dblocks() / 128));
  }

  /**
   * The filesystem's log ({@code xfs_log_mount()}): {@link XfsLog#open}, which replays what a power
   * cut left in it.
   */
  public static MetaLog openLog(
      PhysicalMemory mem, BlockDevice bdev, long logstart, int logblocks, int blockSize) {
    return XfsLog.open(mem, bdev, logstart, logblocks, blockSize);
  }

  // ---------------------------------------------------------------- mkfs

  /** {@code mkfs.xfs} with the default features (reflink on). */
  public static void mkfs(MetaIo io, Geo g) {
    mkfs(io, g, FEAT_DEFAULT);
  }

  /**
   * {@code mkfs.xfs}: headers, empty free-space indexes and refcountbts, a root directory, a zeroed
   * log; {@code features} go to the superblock.
   */
  public static void mkfs(MetaIo io, Geo g, int features) {
    byte[] zero = new byte[BLOCK];
    for (int ag = 0; ag < g.agcount(); ag++) {
      for (long b = g.agStart(ag); b < g.dataStart(ag); b++) {
        io.write(b, zero, 0);
      }
    }
    for (long b = g.logstart(); b < g.logstart() + g.logblocks(); b++) {
      io.write(b, zero, 0);
    }
    long rootBlk = g.logstart() + g.logblocks(); // the root's one directory block
    for (int ag = 0; ag < g.agcount(); ag++) {
      long from = ag == 0 ? rootBlk + 1 : g.dataStart(ag);
      List<Fmt.Free> free = List.of(new Fmt.Free(from, g.agStart(ag) + g.agLen(ag) - from));
      List<byte[]> fs = encodeFreeSpace(g, ag, free);
      io.write(g.agf(ag), fs.get(0), 0);
      for (int i = 0; i < g.idxBlocks(); i++) {
        io.write(g.bno(ag) + i, fs.get(1 + i), 0);
        io.write(g.cnt(ag) + i, fs.get(1 + g.idxBlocks() + i), 0);
      }
      long[] masks = new long[g.ipag() / CHUNK];
      Arrays.fill(masks, -1L);
      if (ag == 0) {
        masks[0] &= ~1L; // the root
      }
      io.write(g.agi(ag), encodeAgi(g, ag, masks), 0);
      List<byte[]> rc = encodeRefcount(g, ag, List.of());
      for (int i = 0; i < rc.size(); i++) {
        io.write(g.refc(ag) + i, rc.get(i), 0);
      }
    }
    io.write(rootBlk, encodeDir(g.rootino(), List.of()).get(0), 0);
    byte[] table = new byte[BLOCK];
    DInode root = new DInode(g.rootino());
    root.parent = g.rootino();
    root.data.put(0L, new Ext(0, rootBlk, 1, false));
    long now = System.currentTimeMillis() * 1_000_000L;
    encodeCore(
        table,
        g.inoOffset(g.rootino()),
        root,
        Inode.S_IFDIR | 0755,
        2,
        BLOCK,
        now,
        now,
        now,
        FMT_EXTENTS);
    io.write(g.inoBlock(g.rootino()), table, 0);
    io.write(
        0, encodeSuper(g, 1, features), 0); // inodes in use, the root, as every commit counts them
    io.flush();
  }

  private static void encodeCore(
      byte[] table,
      int off,
      DInode d,
      int mode,
      int nlink,
      long size,
      long atime,
      long mtime,
      long ctime,
      int format) {
    Arrays.fill(table, off, off + INODE_SIZE, (byte) 0);
    ByteBuffer b = be(table);
    long nblocks = d.leaves.size();
    for (Ext e : d.data.values()) {
      nblocks += e.len();
    }
    b.putShort(off, DI_MAGIC).putShort(off + DI_MODE, (short) mode).put(off + 4, (byte) 3);
    b.put(off + DI_FORMAT, (byte) format)
        .putInt(off + DI_NLINK, nlink)
        .putLong(off + DI_SIZE, size);
    b.putLong(off + DI_ATIME, atime).putLong(off + DI_MTIME, mtime).putLong(off + DI_CTIME, ctime);
    b.putInt(off + DI_NEXTENTS, d.data.size()).putLong(off + DI_NBLOCKS, nblocks);
    b.putLong(off + DI_PARENT, d.parent).putLong(off + DI_INO, d.ino);
    if (format == FMT_EXTENTS) {
      int i = 0;
      for (Ext e : d.data.values()) {
        putExt(b, off + DI_FORK + 16 * i++, e);
      }
    } else {
      b.putInt(off + DI_FORK, d.leaves.size());
      for (int i = 0; i < d.leaves.size(); i++) {
        b.putLong(off + DI_FORK + 8 + 8 * i, d.leaves.get(i));
      }
    }
    sealInode(table, off);
  }

  // ---------------------------------------------------------------- mount

  /**
   * {@code xfs_mountfs()}: the superblock was read; opens the log, reads every AG's headers and the
   * tree from the root into {@code sb}, then frees inodes left with no link ({@code
   * xlog_recover_process_iunlinks()}).
   *
   * @throws KernelException {@code EUCLEAN} naming the corrupt structure
   */
  public static XfsMount mount(PhysicalMemory mem, MetaIo io, Geo g, String dev, BlockDevice bdev) {
    MetaLog log = openLog(mem, bdev, g.logstart(), g.logblocks(), BLOCK);
    try {
      XfsBufCache cache = new XfsBufCache(io, log);
      XfsMount m = new XfsMount(g, dev, bdev, log, cache, features(cache.read(0)));
      m.loadAgs();
      return m;
    } catch (RuntimeException e) {
      log.shutdown(); // a failed mount keeps no log buffers
      throw e;
    }
  }

  private void loadAgs() {
    for (int ag = 0; ag < geo.agcount(); ag++) {
      long[] agf = decodeAgf(geo, ag, cache.read(geo.agf(ag)), dev);
      List<byte[]> bnoBlocks = new ArrayList<>();
      List<byte[]> cntBlocks = new ArrayList<>();
      for (int i = 0; i < geo.idxBlocks(); i++) {
        bnoBlocks.add(cache.read(geo.bno(ag) + i));
        cntBlocks.add(cache.read(geo.cnt(ag) + i));
      }
      List<Fmt.Free> bno = decodeRecs(geo, ag, BNO_MAGIC, bnoBlocks, dev);
      List<Fmt.Free> cnt = decodeRecs(geo, ag, CNT_MAGIC, cntBlocks, dev);
      String bad = XfsCheck.freeSpaceProblem(geo, ag, agf, bno, cnt);
      if (bad != null) {
        throw corrupt(dev, bad);
      }
      ags[ag] = new XfsAlloc();
      for (Fmt.Free f : bno) {
        ags[ag].load(f.start(), f.len());
      }
      imask[ag] = decodeAgi(geo, ag, cache.read(geo.agi(ag)), dev);
      List<byte[]> rb = new ArrayList<>();
      for (int i = 0; i < geo.refBlocks(); i++) {
        rb.add(cache.read(geo.refc(ag) + i));
      }
      for (Fmt.Refc r : decodeRefcount(geo, ag, rb, dev)) {
        refc.load(r);
      }
    }
    // xfs_reflink_recover_cow(): staging extents a crash left behind go back to free space
    for (long[] st : refc.staging()) {
      refc.removeStaging(st[0], st[1]);
      freeBlocks(st[0], st[1]);
      recoveredCow = true;
    }
  }

  /**
   * {@code reflink=0} at mount: clones fail with {@code EOPNOTSUPP} on this mount; blocks already
   * shared still copy on write.
   */
  public synchronized void disableReflink() {
    cloneOff = true;
  }

  /** Whether this mount may share extents ({@code xfs_has_reflink()}). */
  public boolean hasReflink() {
    return reflink && !cloneOff;
  }

  /** Binds the superblock and reads the namespace into it. */
  public synchronized void attach(SuperBlock sb) {
    this.sb = sb;
    long rootIno = geo.rootino();
    if (!inoInUse(rootIno)) {
      throw corrupt(dev, "root inode " + rootIno + " is free");
    }
    DInode rd = loadInode(rootIno);
    int rmode = mode(rootIno);
    if ((rmode & Inode.S_IFMT) != Inode.S_IFDIR) {
      throw corrupt(dev, "root inode " + rootIno + " is not a directory");
    }
    Inode root = sb.newInode(Inode.S_IFDIR | (rmode & 07777));
    sb.setRoot(root);
    bind(rd, root);
    ArrayDeque<DInode> dirs = new ArrayDeque<>();
    dirs.add(rd);
    while (!dirs.isEmpty()) {
      DInode d = dirs.poll();
      for (Dirent e : readDir(d)) {
        if (!geo.validIno(e.ino()) || !inoInUse(e.ino())) {
          throw corrupt(
              dev,
              "directory inode " + d.ino + ": entry " + e.name() + " -> free inode " + e.ino());
        }
        DInode c = byIno.get(e.ino());
        int m = mode(e.ino());
        boolean isDir = (m & Inode.S_IFMT) == Inode.S_IFDIR;
        if (c != null && isDir) {
          throw corrupt(dev, "directory inode " + e.ino() + " has two names");
        }
        if (c == null) {
          c = loadInode(e.ino());
          Inode v = sb.newInode((isDir ? Inode.S_IFDIR : Inode.S_IFREG) | (m & 07777));
          bind(c, v);
          if (!isDir) {
            v.setSize(be(tableOf(e.ino())).getLong(geo.inoOffset(e.ino()) + DI_SIZE));
          }
          if (isDir) {
            dirs.add(c);
          }
        }
        d.vfs.addEntry(e.name(), c.vfs);
      }
    }
    for (DInode d : byIno.values()) {
      ByteBuffer b = be(tableOf(d.ino));
      int off = geo.inoOffset(d.ino);
      d.vfs.setTimes(
          b.getLong(off + DI_ATIME), b.getLong(off + DI_MTIME), b.getLong(off + DI_CTIME));
    }
    processIunlinks();
  }

  private void bind(DInode d, Inode v) {
    d.vfs = v;
    byVfs.put(v, d);
    byIno.put(d.ino, d);
  }

  /** In-use inodes no directory names with no link left: an unlinked-but-open file's crash. */
  private void processIunlinks() {
    boolean freed = false;
    for (int ag = 0; ag < geo.agcount(); ag++) {
      for (int idx = 0; idx < geo.ipag(); idx++) {
        long ino = geo.ino(ag, idx);
        if (inoInUse(ino) && !byIno.containsKey(ino)) {
          int off = geo.inoOffset(ino);
          if (be(tableOf(ino)).getInt(off + DI_NLINK) == 0) {
            DInode d = loadInode(ino);
            releaseInode(d);
            freed = true;
          }
        }
      }
    }
    if (freed || recoveredCow) {
      recoveredCow = false;
      commit();
      forceAll();
    }
  }

  private byte[] tableOf(long ino) {
    return cache.read(geo.inoBlock(ino));
  }

  private boolean inoInUse(long ino) {
    int ag = geo.inoAg(ino);
    int idx = geo.inoIdx(ino);
    return (imask[ag][idx / CHUNK] & (1L << (idx % CHUNK))) == 0;
  }

  private int mode(long ino) {
    return be(tableOf(ino)).getShort(geo.inoOffset(ino) + DI_MODE) & 0xffff;
  }

  /**
   * {@code xfs_iget()} + {@code xfs_iformat_data_fork()}: checks the core and reads its extents.
   */
  private DInode loadInode(long ino) {
    byte[] t = tableOf(ino);
    int off = geo.inoOffset(ino);
    ByteBuffer b = be(t);
    String what = "inode " + ino;
    int mode = b.getShort(off + DI_MODE) & 0xffff;
    int type = mode & Inode.S_IFMT;
    int fmt = t[off + DI_FORMAT];
    int n = b.getInt(off + DI_NEXTENTS);
    if (b.getShort(off) != DI_MAGIC
        || !inodeSealed(t, off)
        || b.getLong(off + DI_INO) != ino
        || (type != Inode.S_IFDIR && type != Inode.S_IFREG)
        || (fmt != FMT_EXTENTS && fmt != FMT_BTREE)
        || n < 0
        || (fmt == FMT_EXTENTS && n > INLINE_EXTENTS)) {
      throw corrupt(dev, what);
    }
    DInode d = new DInode(ino);
    d.parent = b.getLong(off + DI_PARENT);
    List<Ext> exts = new ArrayList<>();
    if (fmt == FMT_EXTENTS) {
      for (int i = 0; i < n; i++) {
        exts.add(getExt(b, off + DI_FORK + 16 * i));
      }
    } else {
      int nl = b.getInt(off + DI_FORK);
      if (nl < 0 || nl > MAX_LEAVES) {
        throw corrupt(dev, what + " bmbt");
      }
      for (int i = 0; i < nl; i++) {
        long leaf = b.getLong(off + DI_FORK + 8 + 8 * i);
        if (!inData(leaf, 1)) {
          throw corrupt(dev, what + " bmbt block " + leaf);
        }
        List<Ext> recs = decodeLeaf(ino, cache.read(leaf));
        if (recs == null) {
          throw corrupt(dev, what + " bmbt block " + leaf);
        }
        d.leaves.add(leaf);
        exts.addAll(recs);
      }
      if (exts.size() != n) {
        throw corrupt(dev, what + " extent count");
      }
    }
    long prevEnd = 0;
    for (Ext e : exts) {
      if (e.len() < 1 || e.off() < prevEnd || !inData(e.blk(), e.len())) {
        throw corrupt(dev, what + " extent " + e);
      }
      prevEnd = e.end();
      d.data.put(e.off(), e);
    }
    return d;
  }

  /** Whether {@code [blk, blk + len)} lies in one AG's data area. */
  boolean inData(long blk, long len) {
    if (blk < 0 || len < 1 || blk + len > geo.dblocks()) {
      return false;
    }
    int ag = geo.agOf(blk);
    return ag == geo.agOf(blk + len - 1) && blk >= geo.dataStart(ag);
  }

  private List<Dirent> readDir(DInode d) {
    List<Dirent> out = new ArrayList<>();
    for (Ext e : d.data.values()) {
      for (long i = 0; i < e.len(); i++) {
        List<Dirent> ents = decodeDir(d.ino, cache.read(e.blk() + i));
        if (ents == null) {
          throw corrupt(dev, "directory inode " + d.ino + " block " + (e.blk() + i));
        }
        out.addAll(ents);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- shutdown

  /** {@code xfs_force_shutdown()}: from now on every call fails with {@code EIO}. */
  public void forceShutdown(String why) {
    if (shutdown == null) {
      shutdown = why;
    }
    log.shutdown();
  }

  /** The log's counters. */
  public XfsLog.Counters logCounters() {
    return log.stats();
  }

  /** Why the filesystem shut down, or null. */
  public String shutdownReason() {
    return shutdown;
  }

  void checkAlive() {
    String why = shutdown;
    if (why != null) {
      throw new KernelException(Errno.EIO, "XFS (" + dev + "): filesystem shut down: " + why);
    }
  }

  // ---------------------------------------------------------------- allocation

  private long freeTotal() {
    long f = 0;
    for (XfsAlloc a : ags) {
      f += a.freeblks();
    }
    return f;
  }

  /**
   * {@code sb_fdblocks} as {@code statfs} shows it: free, less reservations and the reserve pool.
   */
  public synchronized long available() {
    return freeTotal() - reserved - resblks;
  }

  public synchronized long delallocBlocks() {
    return reserved;
  }

  public synchronized long freeBlocks() {
    return freeTotal();
  }

  public synchronized long busyBlocks() {
    long n = 0;
    for (long[] b : busy) {
      n += b[1];
    }
    return n;
  }

  public synchronized long freeInodes() {
    long n = 0;
    for (long[] masks : imask) {
      for (long m : masks) {
        n += Long.bitCount(m);
      }
    }
    return n;
  }

  public Geo geo() {
    return geo;
  }

  /** {@code xfs_extent_busy_flush()}: commits and forces so busy extents may be reused. */
  private boolean flushBusy() {
    if (busy.isEmpty()) {
      return false;
    }
    commit();
    forceAll();
    return true;
  }

  /**
   * {@code xfs_alloc_vextent_start_ag()}: up to {@code want} blocks near {@code target}, trying its
   * AG first, then the others.
   */
  long[] allocBlocks(long target, long want) {
    int first = geo.agOf(Math.min(Math.max(target, 0), geo.dblocks() - 1));
    for (int i = 0; i < ags.length; i++) {
      int ag = (first + i) % ags.length;
      long t = i == 0 ? target : geo.dataStart(ag);
      long[] got = ags[ag].alloc(t, Math.min(want, MAX_EXTLEN), 1);
      if (got != null) {
        return got;
      }
    }
    return null;
  }

  /** A metadata block (directory, bmbt leaf) near {@code target}; may use the reserve pool. */
  private long allocMeta(long target) {
    if (freeTotal() - reserved < 1) {
      flushBusy();
    }
    long[] got = freeTotal() - reserved >= 1 ? allocBlocks(target, 1) : null;
    if (got == null) {
      throw new KernelException(Errno.ENOSPC, "XFS (" + dev + "): no block for metadata");
    }
    cache.forget(got[0]);
    return got[0];
  }

  /** {@code xfs_bmap_del_extent_real()}: a shared run loses a reference, an owned one is freed. */
  void dropRef(long blk, long len) {
    refc.adjust(blk, len, -1, this::freeBlocks);
  }

  void freeBlocks(long blk, long len) {
    busy.add(new long[] {blk, len, 0});
    for (long b = blk; b < blk + len; b++) {
      cache.forget(b);
      if (log.pending(b) != null) { // logged metadata: the freeing commit cancels it
        cancels.add(b);
      }
    }
  }

  /** Makes {@code n} blocks available for data, flushing busy extents if needed, or ENOSPC. */
  void needData(long n) {
    if (freeTotal() - reserved - resblks < n) {
      flushBusy();
    }
    if (freeTotal() - reserved - resblks < n) {
      throw new KernelException(Errno.ENOSPC, "XFS (" + dev + "): no space for " + n + " blocks");
    }
  }

  long target(DInode d, long off) {
    Map.Entry<Long, Ext> prev = d.data.floorEntry(off);
    if (prev != null) {
      Ext e = prev.getValue();
      return e.blk() + (off - e.off());
    }
    return geo.dataStart(geo.inoAg(d.ino)); // xfs_bmap_btalloc(): the inode's AG
  }

  /** Allocates a real extent at file block {@code off}, up to {@code n} blocks; returns it. */
  Ext allocData(DInode d, long off, long n, boolean unwritten) {
    long[] got = allocBlocks(target(d, off), n);
    if (got == null) {
      throw new KernelException(Errno.ENOSPC, "XFS (" + dev + "): allocation failed");
    }
    Ext e = new Ext(off, got[0], got[1], unwritten);
    d.data.put(off, e);
    mergeAround(d, off);
    return e;
  }

  /** Merges the extent at {@code off} with contiguous neighbours of the same state and AG. */
  void mergeAround(DInode d, long off) {
    Ext e = d.data.get(off);
    Map.Entry<Long, Ext> pe = d.data.lowerEntry(off);
    if (pe != null && mergeable(pe.getValue(), e)) {
      Ext p = pe.getValue();
      d.data.remove(off);
      e = new Ext(p.off(), p.blk(), p.len() + e.len(), e.unwritten());
      d.data.put(p.off(), e);
    }
    Ext nx = d.data.get(e.end());
    if (nx != null && mergeable(e, nx)) {
      d.data.remove(nx.off());
      d.data.put(e.off(), new Ext(e.off(), e.blk(), e.len() + nx.len(), e.unwritten()));
    }
  }

  private boolean mergeable(Ext a, Ext b) {
    return a.end() == b.off()
        && a.blk() + a.len() == b.blk()
        && a.unwritten() == b.unwritten()
        && a.len() + b.len() <= MAX_EXTLEN
        && geo.agOf(a.blk()) == geo.agOf(b.blk() + b.len() - 1);
  }

  /** The real extent holding file block {@code b}, or null. */
  static Ext extentAt(DInode d, long b) {
    Map.Entry<Long, Ext> e = d.data.floorEntry(b);
    return e != null && e.getValue().end() > b ? e.getValue() : null;
  }

  static long[] delaAt(DInode d, long b) {
    Map.Entry<Long, Long> e = d.dela.floorEntry(b);
    return e != null && e.getKey() + e.getValue() > b
        ? new long[] {e.getKey(), e.getValue()}
        : null;
  }

  /** The first file block at or after {@code b} that is mapped or delayed, or MAX_VALUE. */
  static long nextMapped(DInode d, long b) {
    Long x = d.data.ceilingKey(b);
    Long y = d.dela.ceilingKey(b);
    return Math.min(x == null ? Long.MAX_VALUE : x, y == null ? Long.MAX_VALUE : y);
  }

  /** {@code xfs_bmap_del_extent_*()}: unmaps file blocks {@code [from, to)}, freeing them. */
  void unmap(DInode d, long from, long to) {
    for (Ext e :
        new ArrayList<>(
            d.data
                .subMap(d.data.floorKey(from) == null ? from : d.data.floorKey(from), to)
                .values())) {
      long s = Math.max(from, e.off());
      long t = Math.min(to, e.end());
      if (s >= t) {
        continue;
      }
      d.data.remove(e.off());
      if (e.off() < s) {
        d.data.put(e.off(), new Ext(e.off(), e.blk(), s - e.off(), e.unwritten()));
      }
      if (t < e.end()) {
        d.data.put(t, new Ext(t, e.blk() + (t - e.off()), e.end() - t, e.unwritten()));
      }
      dropRef(e.blk() + (s - e.off()), t - s);
    }
    Long fk = d.dela.floorKey(from);
    for (Map.Entry<Long, Long> de :
        new ArrayList<>(d.dela.subMap(fk == null ? from : fk, to).entrySet())) {
      long off = de.getKey();
      long end = off + de.getValue();
      long s = Math.max(from, off);
      long t = Math.min(to, end);
      if (s >= t) {
        continue;
      }
      d.dela.remove(off);
      if (off < s) {
        d.dela.put(off, s - off);
      }
      if (t < end) {
        d.dela.put(t, end - t);
      }
      reserved -= t - s;
    }
  }

  /** {@code xfs_iomap_write_unwritten()}: file blocks {@code [from, to)} now hold written data. */
  void convertUnwritten(DInode d, long from, long to) {
    Long fk = d.data.floorKey(from);
    for (Ext e : new ArrayList<>(d.data.subMap(fk == null ? from : fk, to).values())) {
      long s = Math.max(from, e.off());
      long t = Math.min(to, e.end());
      if (!e.unwritten() || s >= t) {
        continue;
      }
      d.data.remove(e.off());
      if (e.off() < s) {
        d.data.put(e.off(), new Ext(e.off(), e.blk(), s - e.off(), true));
      }
      d.data.put(s, new Ext(s, e.blk() + (s - e.off()), t - s, false));
      if (t < e.end()) {
        d.data.put(t, new Ext(t, e.blk() + (t - e.off()), e.end() - t, true));
      }
      mergeAround(d, s);
    }
  }

  /** {@code xfs_bmapi_reserve_delalloc()}: reserves {@code [off, off + n)} as delayed. */
  private void reserveDelalloc(DInode d, long off, long n) {
    needData(n);
    reserved += n;
    long start = off;
    long len = n;
    Map.Entry<Long, Long> p = d.dela.lowerEntry(off);
    if (p != null && p.getKey() + p.getValue() == off) {
      d.dela.remove(p.getKey());
      start = p.getKey();
      len += p.getValue();
    }
    Long next = d.dela.remove(off + n);
    d.dela.put(start, len + (next == null ? 0 : next));
  }

  /** {@code xfs_bmapi_convert_delalloc()}: allocates the whole delayed extent holding {@code b}. */
  private void convertDelalloc(DInode d, long[] de) {
    d.dela.remove(de[0]);
    reserved -= de[1];
    long off = de[0];
    long end = de[0] + de[1];
    while (off < end) {
      off += allocData(d, off, end - off, false).len();
    }
  }

  // ---------------------------------------------------------------- iomap

  DInode dinode(Inode inode, boolean create) {
    DInode d = byVfs.get(inode);
    if (d == null && create) {
      long ino = allocIno(inode);
      d = new DInode(ino);
      d.parent = ino;
      bind(d, inode);
    }
    return d;
  }

  /** {@code xfs_dialloc()}: the lowest free inode, from the AG of the last one on. */
  private long allocIno(Inode inode) {
    int start = (int) (inode.ino() % geo.agcount());
    for (int i = 0; i < geo.agcount(); i++) {
      int ag = (start + i) % geo.agcount();
      for (int c = 0; c < imask[ag].length; c++) {
        if (imask[ag][c] != 0) {
          int bit = Long.numberOfTrailingZeros(imask[ag][c]);
          imask[ag][c] &= ~(1L << bit);
          return geo.ino(ag, c * CHUNK + bit);
        }
      }
    }
    throw new KernelException(Errno.ENOSPC, "XFS (" + dev + "): no free inode");
  }

  @Override
  public void iomapBegin(Inode inode, long pos, long length, int flags, Iomap iomap) {
    checkAlive();
    boolean write = (flags & IOMAP_WRITE) != 0;
    boolean direct = (flags & IOMAP_DIRECT) != 0;
    synchronized (this) {
      DInode d = dinode(inode, write);
      long b = pos / BLOCK;
      long endb = Math.max(b + 1, (pos + Math.max(length, 1) + BLOCK - 1) / BLOCK);
      Ext e = d == null ? null : extentAt(d, b);
      if (direct && write && (pos % BLOCK != 0 || (pos + length) % BLOCK != 0)) {
        if (e == null || e.unwritten()) { // sub-block zeroing is not done here: redo it buffered
          throw new KernelException(Errno.ENOTBLK, "xfs: unaligned direct write to " + inode);
        }
      }
      if (e != null && write && reflink) {
        long pb = e.blk() + (b - e.off());
        long limit = Math.min(e.end(), endb);
        long run = e.off() + refc.runEnd(pb, e.blk() + (limit - e.off())) - e.blk();
        if (refc.count(pb) > 1) { // xfs_reflink_allocate_cow(): the write goes to the COW fork
          if (direct) {
            if (pos % BLOCK != 0 || (pos + length) % BLOCK != 0) {
              throw new KernelException(Errno.ENOTBLK, "xfs: unaligned direct write to shared");
            }
            setExt(iomap, reflinkOps.allocCow(d, b, run), 0);
          } else {
            reflinkOps.reserveCow(d, b, run);
            setExt(iomap, clip(e, b, run), 0); // the srcmap: old data for read-modify-write
          }
          return;
        }
        e = clip(e, e.off(), run); // only up to the next shared block
      }
      if (e != null) {
        setExt(iomap, e, 0);
        return;
      }
      long[] de = d == null ? null : delaAt(d, b);
      if (de != null) {
        iomap.set(Iomap.DELALLOC, 0, de[0] * BLOCK, de[1] * BLOCK, Iomap.NULL_ADDR, null);
        return;
      }
      long next = d == null ? Long.MAX_VALUE : nextMapped(d, b);
      if (!write) {
        long end = next == Long.MAX_VALUE ? endb : next;
        iomap.set(Iomap.HOLE, 0, b * BLOCK, (end - b) * BLOCK, Iomap.NULL_ADDR, null);
        return;
      }
      long n = Math.min(next, endb) - b;
      if (direct) { // xfs_iomap_write_direct(): unwritten until the data is there
        needData(n);
        Ext ne = allocData(d, b, n, true);
        Ext at = extentAt(d, b);
        setExt(iomap, new Ext(b, ne.blk(), Math.min(ne.len(), at.end() - b), true), Iomap.F_NEW);
        return;
      }
      reserveDelalloc(d, b, n); // xfs_buffered_write_iomap_begin()
      iomap.set(Iomap.DELALLOC, Iomap.F_NEW, b * BLOCK, n * BLOCK, Iomap.NULL_ADDR, null);
    }
  }

  /** The part {@code [from, to)} of extent {@code e}. */
  static Ext clip(Ext e, long from, long to) {
    return new Ext(from, e.blk() + (from - e.off()), to - from, e.unwritten());
  }

  void setExt(Iomap iomap, Ext e, int flags) {
    iomap.set(
        e.unwritten() ? Iomap.UNWRITTEN : Iomap.MAPPED,
        flags,
        e.off() * BLOCK,
        e.len() * BLOCK,
        e.blk() * BLOCK,
        bdev);
  }

  /**
   * {@code xfs_buffered_write_iomap_end()} gives back a fresh delayed reservation the write did not
   * use; {@code xfs_dio_write_end_io()} converts what a direct write put in unwritten blocks.
   */
  @Override
  public void iomapEnd(Inode inode, long pos, long length, long written, int flags, Iomap iomap) {
    if ((flags & IOMAP_WRITE) == 0) {
      return;
    }
    synchronized (this) {
      DInode d = byVfs.get(inode);
      if (d == null) {
        return;
      }
      if ((flags & IOMAP_DIRECT) != 0) {
        if (!d.cow.isEmpty()) { // xfs_dio_write_end_io(): xfs_reflink_end_cow(), or cancel it
          long done = (pos + written + BLOCK - 1) / BLOCK;
          reflinkOps.endCow(d, pos / BLOCK, done);
          reflinkOps.cancelCow(d, done, Math.max(done, iomap.end() / BLOCK));
        }
        if (written > 0 && iomap.type() == Iomap.UNWRITTEN) {
          convertUnwritten(d, pos / BLOCK, (pos + written + BLOCK - 1) / BLOCK);
        }
      } else if (iomap.type() == Iomap.DELALLOC && (iomap.flags() & Iomap.F_NEW) != 0) {
        long from = (pos + written + BLOCK - 1) / BLOCK;
        long to = iomap.end() / BLOCK;
        if (from < to) {
          unmapDelallocOnly(d, from, to);
        }
      }
    }
  }

  private void unmapDelallocOnly(DInode d, long from, long to) {
    TreeMap<Long, Ext> keep = new TreeMap<>(d.data);
    d.data.clear();
    unmap(d, from, to);
    d.data.putAll(keep);
  }

  /**
   * {@code xfs_map_blocks()}: converts delayed allocation; a hole is left for writeback to skip.
   */
  @Override
  public void mapBlocks(Inode inode, long pos, long length, Iomap iomap) {
    checkAlive();
    synchronized (this) {
      DInode d = byVfs.get(inode);
      long b = pos / BLOCK;
      if (d != null && (!d.cow.isEmpty() || !d.cowDela.isEmpty() || reflink)) {
        Ext c = reflinkOps.mapCow(d, b, (pos + length + BLOCK - 1) / BLOCK);
        if (c != null) { // xfs_map_blocks(): the COW fork first
          setExt(iomap, c, 0);
          return;
        }
      }
      if (d != null) {
        long[] de = delaAt(d, b);
        if (de != null) {
          try {
            convertDelalloc(d, de);
          } catch (KernelException e) {
            forceShutdown("delalloc conversion of inode " + d.ino + " failed: " + e.getMessage());
            throw new KernelException(Errno.EIO, e.getMessage());
          }
        }
        Ext e = extentAt(d, b);
        if (e != null) {
          setExt(iomap, e, 0);
          return;
        }
      }
      long next = d == null ? Long.MAX_VALUE : nextMapped(d, b);
      long end = next == Long.MAX_VALUE ? b + Math.max(1, (length + BLOCK - 1) / BLOCK) : next;
      iomap.set(Iomap.HOLE, 0, b * BLOCK, (end - b) * BLOCK, Iomap.NULL_ADDR, null);
    }
  }

  /**
   * {@code xfs_end_ioend()}: a folio's write of file bytes {@code [pos, end)} completed; the
   * unwritten blocks under it hold data now.
   */
  public synchronized void endIo(Inode inode, long pos, long end) {
    DInode d = byVfs.get(inode);
    if (d != null && end > pos) {
      reflinkOps.endCow(d, pos / BLOCK, (end + BLOCK - 1) / BLOCK);
      convertUnwritten(d, pos / BLOCK, (end + BLOCK - 1) / BLOCK);
    }
  }

  // ---------------------------------------------------------------- file operations

  /** {@code xfs_setattr_size()} shrinking: {@code xfs_itruncate_extents()} past the new end. */
  public void setattrSize(Inode inode, long oldSize, long newSize) {
    checkAlive();
    if (newSize >= oldSize) {
      return;
    }
    synchronized (this) {
      DInode d = byVfs.get(inode);
      if (d != null) {
        reflinkOps.cancelCow(d, (newSize + BLOCK - 1) / BLOCK, Long.MAX_VALUE);
        unmap(d, (newSize + BLOCK - 1) / BLOCK, Long.MAX_VALUE);
      }
    }
  }

  /** {@code xfs_alloc_file_space()}: unwritten extents over the holes of the range. */
  public void allocFileSpace(Inode inode, long offset, long len, boolean keepSize) {
    checkAlive();
    synchronized (inode) {
      synchronized (this) {
        DInode d = dinode(inode, true);
        long from = offset / BLOCK;
        long to = (offset + len + BLOCK - 1) / BLOCK;
        long need = 0;
        for (long b = from; b < to; ) {
          Ext e = extentAt(d, b);
          long[] de = delaAt(d, b);
          if (e != null) {
            b = e.end();
          } else if (de != null) {
            b = de[0] + de[1];
          } else {
            long next = Math.min(to, nextMapped(d, b));
            need += next - b;
            b = next;
          }
        }
        needData(need);
        for (long b = from; b < to; ) {
          Ext e = extentAt(d, b);
          long[] de = delaAt(d, b);
          if (e != null) {
            b = e.end();
          } else if (de != null) {
            b = de[0] + de[1];
          } else {
            long next = Math.min(to, nextMapped(d, b));
            Ext ne = allocData(d, b, next - b, true);
            b += ne.len();
          }
        }
      }
      if (!keepSize && offset + len > inode.size()) {
        inode.setSize(offset + len);
      }
      inode.touchModified();
    }
  }

  /**
   * {@code xfs_free_file_space()}: writes the range back and drops it from the page cache, frees
   * the whole blocks in it, and zeroes the partial ones at its ends through the page cache.
   */
  public void freeFileSpace(Inode inode, long offset, long len) {
    checkAlive();
    synchronized (inode) {
      long end = offset + len;
      long first = offset / Page.PAGE_SIZE;
      long last = (end - 1) / Page.PAGE_SIZE;
      FileOperations.fileWriteAndWaitRange(
          inode, first * Page.PAGE_SIZE, (last + 1) * Page.PAGE_SIZE - 1);
      sb.vm().truncate().truncateInodePagesRange(inode.mapping(), first, last);
      long fromB = (offset + BLOCK - 1) / BLOCK;
      long toB = end / BLOCK;
      if (fromB < toB) {
        synchronized (this) {
          DInode d = byVfs.get(inode);
          if (d != null) {
            reflinkOps.cancelCow(d, fromB, toB);
            unmap(d, fromB, toB);
          }
        }
      }
      long size = inode.size();
      if (offset < size) {
        long zEnd = Math.min(end, size);
        if (offset < fromB * BLOCK) {
          IomapBufferedIo.zeroRange(inode, offset, Math.min(zEnd, fromB * BLOCK) - offset);
        }
        long tail = Math.max(toB * BLOCK, offset);
        if (tail < zEnd && toB >= fromB) {
          IomapBufferedIo.zeroRange(inode, tail, zEnd - tail);
        }
      }
      inode.touchModified();
    }
  }

  /** {@code xfs_fs_evict_inode()} → {@code xfs_inactive()}: a file with no link frees it all. */
  public synchronized void evictInode(Inode inode) {
    DInode d = byVfs.get(inode);
    if (d == null || inode.nlink() > 0) {
      return;
    }
    byVfs.remove(inode);
    releaseInode(d);
  }

  private void releaseInode(DInode d) {
    reflinkOps.cancelCow(d, 0, Long.MAX_VALUE);
    unmap(d, 0, Long.MAX_VALUE);
    for (long leaf : d.leaves) {
      freeBlocks(leaf, 1);
    }
    d.leaves.clear();
    byIno.remove(d.ino);
    int ag = geo.inoAg(d.ino);
    int idx = geo.inoIdx(d.ino);
    imask[ag][idx / CHUNK] |= 1L << (idx % CHUNK);
    zeroInodes.add(d.ino);
  }

  /** {@code xfs_file_fsync()}: data, then the transaction forced ({@code xfs_log_force_seq}). */
  public void fsync(Inode inode, long start, long end) {
    checkAlive();
    FileOperations.fileWriteAndWaitRange(inode, start, end);
    synchronized (this) {
      commit();
      forceAll();
    }
  }

  /** {@code xfs_fs_sync_fs()}: everything committed and the log forced. */
  public synchronized void syncFs() {
    checkAlive();
    commit();
    forceAll();
  }

  /** {@code xfs_unmountfs()}: the last commit, then {@code xfs_log_unmount()}. */
  public synchronized void unmount() {
    checkAlive();
    for (DInode d : byIno.values()) { // xfs_inode_free_cowblocks(): nothing staged stays
      reflinkOps.cancelCow(d, 0, Long.MAX_VALUE);
    }
    commit();
    forceAll();
    log.unmount();
  }

  private void forceAll() {
    try {
      if (lastLsn > forcedLsn) {
        log.force(lastLsn);
        forcedLsn = lastLsn;
      } else { // xfs_file_fsync(): no log I/O to flush an overwrite's data, so flush the device
        cache.flushDevice();
      }
    } catch (KernelException e) {
      forceShutdown("log force failed: " + e.getMessage());
      throw e;
    }
    for (java.util.Iterator<long[]> it = busy.iterator(); it.hasNext(); ) {
      long[] b = it.next();
      if (b[2] != 0) { // the free is on disk: the blocks may have a new owner
        ags[geo.agOf(b[0])].free(b[0], b[1]);
        it.remove();
      }
    }
  }

  // ---------------------------------------------------------------- commit

  /**
   * {@code xfs_trans_commit()} of everything changed since the last commit: the namespace as the
   * VFS holds it (directory blocks), every inode core and extent list, the AG headers (busy extents
   * free in them) and the superblock; one {@link MetaLog#commit}.
   */
  public synchronized void commit() {
    checkAlive();
    try {
      commitLocked();
    } catch (KernelException e) {
      if (e.errno() == Errno.EIO) { // a metadata read or log write failed in a dirty transaction
        forceShutdown("transaction aborted: " + e.getMessage());
      }
      throw e;
    }
  }

  private void commitLocked() {
    XfsTrans tp = new XfsTrans(cache, log);
    Map<Long, byte[]> tables = new HashMap<>();
    ArrayDeque<Inode> dirs = new ArrayDeque<>();
    dirs.add(sb.root());
    while (!dirs.isEmpty()) {
      Inode dir = dirs.poll();
      DInode dd = byVfs.get(dir);
      List<Dirent> ents = new ArrayList<>();
      for (String name : dir.names()) {
        Inode c = dir.lookup(name);
        if (c == null) {
          continue;
        }
        DInode cd = dinode(c, true);
        if (c.isDir()) {
          cd.parent = dd.ino;
          dirs.add(c);
        }
        ents.add(new Dirent(name, cd.ino, c.isDir() ? FT_DIR : FT_REG));
      }
      writeDir(tp, dd, encodeDir(dd.ino, ents));
    }
    for (long ino : zeroInodes) {
      if (!byIno.containsKey(ino)) {
        byte[] t = table(tables, ino);
        int off = geo.inoOffset(ino);
        Arrays.fill(t, off, off + INODE_SIZE, (byte) 0);
      }
    }
    zeroInodes.clear();
    for (DInode d : byIno.values()) {
      encodeInode(tp, tables, d);
    }
    for (int ag = 0; ag < ags.length; ag++) {
      XfsAlloc onDisk = new XfsAlloc();
      for (Fmt.Free f : ags[ag].byBno()) {
        onDisk.load(f.start(), f.len());
      }
      for (long[] b : busy) {
        if (geo.agOf(b[0]) == ag) {
          onDisk.free(b[0], b[1]);
        }
      }
      List<byte[]> fs = encodeFreeSpace(geo, ag, onDisk.byBno());
      tp.join(geo.agf(ag), fs.get(0));
      for (int i = 0; i < geo.idxBlocks(); i++) {
        tp.join(geo.bno(ag) + i, fs.get(1 + i));
        tp.join(geo.cnt(ag) + i, fs.get(1 + geo.idxBlocks() + i));
      }
      tp.join(geo.agi(ag), encodeAgi(geo, ag, imask[ag]));
      if (refc.dirty(ag)) {
        List<byte[]> rb = encodeRefcount(geo, ag, refc.records(ag));
        for (int i = 0; i < rb.size(); i++) {
          tp.join(geo.refc(ag) + i, rb.get(i));
        }
      }
    }
    for (Map.Entry<Long, byte[]> t : tables.entrySet()) {
      tp.join(t.getKey(), t.getValue());
    }
    tp.join(0, encodeSuper(geo, geo.inodes() - freeInodes(), features));
    for (long b : cancels) {
      tp.binval(b);
    }
    cancels.clear();
    long lsn = tp.commit();
    if (lsn >= 0) {
      lastLsn = lsn;
    }
    for (long[] b : busy) {
      b[2] = 1;
    }
  }

  private byte[] table(Map<Long, byte[]> tables, long ino) {
    return tables.computeIfAbsent(geo.inoBlock(ino), cache::read);
  }

  /** Maps {@code blocks} at the directory's offsets 0.., allocating or freeing blocks to fit. */
  private void writeDir(XfsTrans tp, DInode dd, List<byte[]> blocks) {
    long have = 0;
    for (Ext e : dd.data.values()) {
      have = Math.max(have, e.end());
    }
    if (have > blocks.size()) {
      unmap(dd, blocks.size(), Long.MAX_VALUE);
    }
    for (long i = 0; i < blocks.size(); i++) {
      Ext e = extentAt(dd, i);
      if (e == null) {
        long blk = allocMeta(target(dd, i));
        dd.data.put(i, new Ext(i, blk, 1, false));
        mergeAround(dd, i);
        e = extentAt(dd, i);
      }
      tp.join(e.blk() + (i - e.off()), blocks.get((int) i));
    }
  }

  private void encodeInode(XfsTrans tp, Map<Long, byte[]> tables, DInode d) {
    List<Ext> exts = new ArrayList<>(d.data.values());
    int format = exts.size() <= INLINE_EXTENTS ? FMT_EXTENTS : FMT_BTREE;
    int leaves = format == FMT_EXTENTS ? 0 : (exts.size() + LEAF_RECS - 1) / LEAF_RECS;
    if (leaves > MAX_LEAVES) {
      throw new KernelException(
          Errno.EFBIG, "XFS (" + dev + "): inode " + d.ino + " too fragmented");
    }
    while (d.leaves.size() > leaves) {
      freeBlocks(d.leaves.remove(d.leaves.size() - 1), 1);
    }
    while (d.leaves.size() < leaves) {
      d.leaves.add(allocMeta(target(d, 0)));
    }
    for (int i = 0; i < leaves; i++) {
      int from = i * LEAF_RECS;
      tp.join(
          d.leaves.get(i), encodeLeaf(d.ino, exts, from, Math.min(LEAF_RECS, exts.size() - from)));
    }
    Inode v = d.vfs;
    long size = v.isDir() ? dirBlocks(d) * BLOCK : v.size();
    encodeCore(
        table(tables, d.ino),
        geo.inoOffset(d.ino),
        d,
        v.mode(),
        v.evicted() ? 0 : d.ino == geo.rootino() ? v.nlink() + 2 : v.nlink(),
        size,
        v.atime(),
        v.mtime(),
        v.ctime(),
        format);
  }

  private static long dirBlocks(DInode d) {
    long n = 0;
    for (Ext e : d.data.values()) {
      n += e.len();
    }
    return n;
  }

  // ---------------------------------------------------------------- queries

  /**
   * {@code xfs_bmapi_read()} for FIEMAP-like checks: the device block of file block {@code lblk}, 0
   * for a hole, -1 for a delayed block, -(2+blk) for an unwritten one.
   */
  public synchronized long bmap(Inode inode, long lblk) {
    DInode d = byVfs.get(inode);
    if (d == null) {
      return 0;
    }
    Ext e = extentAt(d, lblk);
    if (e != null) {
      long blk = e.blk() + (lblk - e.off());
      return e.unwritten() ? -(2 + blk) : blk;
    }
    return delaAt(d, lblk) != null ? -1 : 0;
  }

  /** Blocks {@code inode} has allocated (data only). */
  public synchronized long allocatedBlocks(Inode inode) {
    DInode d = byVfs.get(inode);
    return d == null ? 0 : dirBlocks(d);
  }

  /** Delayed blocks of {@code inode}. */
  public synchronized long delallocBlocks(Inode inode) {
    DInode d = byVfs.get(inode);
    long n = 0;
    if (d != null) {
      for (long v : d.dela.values()) {
        n += v;
      }
    }
    return n;
  }

  /** The reflink and COW operations of this mount. */
  public XfsReflink reflink() {
    return reflinkOps;
  }

  /** The refcount of the device block under file block {@code lblk}; 0 for none there. */
  public synchronized long refcount(Inode inode, long lblk) {
    long blk = bmap(inode, lblk);
    if (blk < -1) {
      blk = -(blk + 2);
    }
    return blk > 0 ? refc.count(blk) : 0;
  }

  /** Shared-extent records in the refcountbts. */
  public synchronized int sharedRecords() {
    return refc.sharedRecords();
  }

  /** COW staging blocks, allocated and not yet remapped. */
  public synchronized long stagingBlocks() {
    long n = 0;
    for (long[] st : refc.staging()) {
      n += st[1];
    }
    return n;
  }

  /** Data-fork extent records of {@code inode}. */
  public synchronized int extents(Inode inode) {
    DInode d = byVfs.get(inode);
    return d == null ? 0 : d.data.size();
  }

  /** Blocks in {@code inode}'s COW fork, reserved or allocated. */
  public synchronized long cowBlocks(Inode inode) {
    DInode d = byVfs.get(inode);
    long n = 0;
    if (d != null) {
      for (Ext e : d.cow.values()) {
        n += e.len();
      }
      for (long v : d.cowDela.values()) {
        n += v;
      }
    }
    return n;
  }

  public long lastLsn() {
    return lastLsn;
  }

  String dev() {
    return dev;
  }
}
