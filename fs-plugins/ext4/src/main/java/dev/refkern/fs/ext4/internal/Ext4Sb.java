package dev.refkern.fs.ext4.internal;

import static dev.refkern.fs.ext4.internal.Disk.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.block.Bio;
import dev.refkern.fs.buffer.BufferHead;
import dev.refkern.fs.buffer.Buffers;
import dev.refkern.fs.buffer.GetBlock;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.VmFault;
import dev.refkern.mm.spi.AddressSpaceOperations;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.IdentityHashMap;
import java.util.List;
import org.apiguardian.api.API;

/**
 * A mounted ext4 ({@code struct ext4_sb_info}): the group descriptors, bitmaps and inode tables
 * held in memory (the buffer cache of the metadata), which VFS inode is which on-disk inode, the
 * block mapper ({@code ext4_get_block()}) and the address-space operations over buffer heads.
 *
 * <p>Blocks are allocated at {@code write_begin}; the namespace and the inodes reach the disk at
 * {@code sync_fs} (every directory rewritten from the VFS's entries), at unmount, and an inode at
 * its {@code fsync}. Everything here runs under this object's monitor.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class Ext4Sb implements AddressSpaceOperations {
  private static final byte[] ZEROES = new byte[Page.PAGE_SIZE];

  /** One on-disk inode in use ({@code struct ext4_inode_info}). */
  static final class DInode {
    final long ino;
    final Inode vfs;
    final int[] direct = new int[NDIR];
    int indirectBlk;
    int[] indirect; // loaded or made with indirectBlk
    boolean indirectDirty;
    boolean onDisk; // reachable from the root on disk (ext4_sync_parent() not needed)
    ExtentTree ext; // EXT4_EXTENTS_FL: the extent tree maps the file, not direct/indirect
    // the extent status tree's delayed extents: blocks reserved at write_begin, not allocated;
    // block l is kept as l -> l + 1 so runs merge
    final ExtentTree delayed = new ExtentTree();
    long orphanNext; // i_dtime while on the orphan list: the next orphan's inode

    DInode(long ino, Inode vfs) {
      this.ino = ino;
      this.vfs = vfs;
    }
  }

  private final Geometry geo;
  private final MetaIo io;
  private final String dev;
  private final byte[][] blockBitmap;
  private final byte[][] inodeBitmap;
  private final byte[][] table; // table block (g * tableBlocks + i)
  private final BitSet dirty = new BitSet(); // fixed metadata blocks to write
  private final IdentityHashMap<Inode, DInode> byVfs = new IdentityHashMap<>();
  private long goal;
  private SuperBlock sb;
  private Buffers buffers;
  private Ext4Errors errors;
  private Journal journal; // null: no journal (a tiny filesystem)
  private final BlockAlloc alloc;
  private boolean extents; // INCOMPAT_EXTENTS: new regular files get extent trees
  private long lastOrphan; // s_last_orphan
  private final LoggedCopies logged = new LoggedCopies(); // what the journal last got per block

  /** {@code ext4_get_block()}: maps, and with {@code create} allocates, one file block. */
  public final GetBlock getBlock = this::getBlock;

  private Ext4Sb(Geometry geo, MetaIo io, String dev) {
    this.geo = geo;
    this.io = io;
    this.dev = dev;
    int n = geo.groups();
    blockBitmap = new byte[n][];
    inodeBitmap = new byte[n][];
    table = new byte[n * geo.tableBlocks()][];
    alloc = new BlockAlloc(geo, blockBitmap, dirty);
  }

  /**
   * {@code mkfs.ext4}: writes the groups' bitmaps, zeroed tables, the root directory and the
   * superblock, then flushes.
   */
  public static void mkfs(MetaIo io, Geometry geo, String dev) {
    Ext4Sb fs = new Ext4Sb(geo, io, dev);
    for (int g = 0; g < geo.groups(); g++) {
      fs.blockBitmap[g] = new byte[BLOCK];
      fs.inodeBitmap[g] = new byte[BLOCK];
      for (long b = geo.groupStart(g); b < geo.dataStart(g); b++) {
        setBit(fs.blockBitmap[g], b - geo.groupStart(g), true);
      }
      for (long b = geo.groupEnd(g); b < geo.groupStart(g) + geo.blocksPerGroup(); b++) {
        setBit(fs.blockBitmap[g], b - geo.groupStart(g), true); // ext4_mark_bitmap_end()
      }
      for (int i = geo.inodesPerGroup(); i < BLOCK * 8; i++) {
        setBit(fs.inodeBitmap[g], i, true);
      }
      for (int t = 0; t < geo.tableBlocks(); t++) {
        fs.table[g * geo.tableBlocks() + t] = new byte[BLOCK];
      }
    }
    for (long ino = 1; ino < FIRST_INO; ino++) {
      setBit(fs.inodeBitmap[0], ino - 1, true); // reserved inodes, the root among them
    }
    long[] jnl = Journal.place(geo);
    for (long b = jnl[0]; b < jnl[0] + jnl[1]; b++) {
      setBit(fs.blockBitmap[0], b, true); // the journal's blocks (inode 8's in ext4)
    }
    fs.alloc.count();
    fs.extents = true;
    int rootBlk = fs.allocBlock();
    byte[] dir = new byte[BLOCK];
    byte[] dot = {'.'};
    putDirent(dir, 0, ROOT_INO, direntLen(1), dot, FT_DIR);
    putDirent(dir, direntLen(1), ROOT_INO, BLOCK - direntLen(1), new byte[] {'.', '.'}, FT_DIR);
    io.write(rootBlk, dir, 0);
    ByteBuffer r = le(fs.table[(int) fs.tableIndex(ROOT_INO)]);
    int off = Geometry.inodeOffset(ROOT_INO);
    long now = System.currentTimeMillis() / 1000;
    r.putShort(off + I_MODE, (short) (Inode.S_IFDIR | 0755)).putShort(off + I_LINKS, (short) 2);
    r.putInt(off + I_SIZE_LO, BLOCK).putInt(off + I_BLOCK, rootBlk);
    r.putInt(off + I_ATIME, (int) now).putInt(off + I_CTIME, (int) now);
    r.putInt(off + I_MTIME, (int) now);
    fs.writeAllMeta();
    if (jnl[1] > 0) {
      Journal.format(io, jnl[0], (int) jnl[1]);
    }
    io.flush();
  }

  /**
   * {@code ext4_fill_super()}: reads the superblock, descriptors, bitmaps and tables, then the
   * directory tree from the root into {@code sb}'s inodes.
   *
   * @throws KernelException {@code EINVAL}/{@code EUCLEAN} from the superblock, {@code EUCLEAN} for
   *     a bad group descriptor or root inode, {@code EIO}
   */
  public static Ext4Sb load(MetaIo io, Geometry geo, String dev) {
    Ext4Sb fs = new Ext4Sb(geo, io, dev);
    ByteBuffer gdt = le(io.read(1));
    for (int g = 0; g < geo.groups(); g++) {
      int o = g * GD_SIZE;
      if ((gdt.getInt(o) & 0xffffffffL) != geo.blockBitmap(g)
          || (gdt.getInt(o + 4) & 0xffffffffL) != geo.inodeBitmap(g)
          || (gdt.getInt(o + 8) & 0xffffffffL) != geo.inodeTable(g)) {
        throw new KernelException(
            Errno.EUCLEAN, "ext4: " + dev + ": group descriptor " + g + " is corrupt");
      }
      fs.blockBitmap[g] = io.read(geo.blockBitmap(g));
      fs.inodeBitmap[g] = io.read(geo.inodeBitmap(g));
      for (int t = 0; t < geo.tableBlocks(); t++) {
        fs.table[g * geo.tableBlocks() + t] = io.read(geo.inodeTable(g) + t);
      }
    }
    fs.alloc.count();
    byte[] s0 = io.read(0);
    fs.extents = hasExtents(s0);
    fs.lastOrphan = Disk.lastOrphan(s0);
    return fs;
  }

  /** Sets the {@code errors=}/{@code nobuffers=} handling; before {@link #attach}. */
  public void setErrors(Ext4Errors errors) {
    this.errors = errors;
  }

  /** The {@code errors=}/{@code nobuffers=} handling and its counters. */
  public Ext4Errors errors() {
    return errors;
  }

  /** Binds the mounted superblock and reads the tree from the root into it. */
  public void attach(SuperBlock sb, Buffers buffers) {
    this.sb = sb;
    this.buffers = buffers;
    synchronized (this) {
      if (!inodeInUse(ROOT_INO)
          || (mode(ROOT_INO) & Inode.S_IFMT) != Inode.S_IFDIR
          || Ext4Validate.inode(geo, table[(int) tableIndex(ROOT_INO)], ROOT_INO) != null) {
        throw new KernelException(Errno.EUCLEAN, "ext4: " + dev + ": root inode is corrupt");
      }
      Inode root = sb.newInode(Inode.S_IFDIR | (mode(ROOT_INO) & 07777));
      sb.setRoot(root);
      DInode rd = loadInode(ROOT_INO, root);
      ArrayDeque<DInode> dirs = new ArrayDeque<>();
      dirs.add(rd);
      IdentityHashMap<Inode, Boolean> seen = new IdentityHashMap<>();
      seen.put(root, true);
      while (!dirs.isEmpty()) {
        DInode d = dirs.poll();
        for (Dirent e : readDir(d)) {
          if (e.ino() == 0 || e.name().equals(".") || e.name().equals("..")) {
            continue;
          }
          if (e.ino() > geo.inodes() || !inodeInUse(e.ino()) || links(e.ino()) == 0) {
            continue; // ext4_lookup() would say EFSCORRUPTED; fsck reports it
          }
          DInode c = byIno(e.ino());
          String bad = Ext4Validate.inode(geo, table[(int) tableIndex(e.ino())], e.ino());
          if (c == null && bad != null) {
            errors.error("ext4_iget", "inode #" + e.ino() + ": comm mount: " + bad);
            continue; // ext4_lookup() fails with EFSCORRUPTED: the name stays unreachable
          }
          ExtentTree ext = null;
          if (c == null) {
            try {
              ext = decodeExtents(e.ino());
            } catch (KernelException x) {
              errors.error("ext4_ext_check_inode", atMount(x));
              continue; // iget failed the same way: unreachable
            }
          }
          int m = mode(e.ino());
          boolean isDir = (m & Inode.S_IFMT) == Inode.S_IFDIR;
          if (c == null) {
            Inode v = sb.newInode((isDir ? Inode.S_IFDIR : Inode.S_IFREG) | (m & 07777));
            c = loadInode(e.ino(), v, ext);
            if (!isDir) {
              v.setSize(Math.min(size(e.ino()), maxBytes()));
            }
          } else if (isDir || seen.containsKey(c.vfs)) {
            continue; // a directory has one name
          }
          d.vfs.addEntry(e.name(), c.vfs);
          if (isDir) {
            seen.put(c.vfs, true);
            dirs.add(c);
          }
        }
      }
      for (DInode d : byVfs.values()) { // after addEntry(), which sets ctime
        ByteBuffer b = le(table[(int) tableIndex(d.ino)]);
        int off = Geometry.inodeOffset(d.ino);
        long s = 1_000_000_000L;
        d.vfs.setTimes(
            (b.getInt(off + I_ATIME) & 0xffffffffL) * s,
            (b.getInt(off + I_MTIME) & 0xffffffffL) * s,
            (b.getInt(off + I_CTIME) & 0xffffffffL) * s);
      }
      orphanCleanup();
    }
  }

  /** Routes metadata writes through {@code j} ({@code ext4_load_journal()}). */
  public void setJournal(Journal j) {
    this.journal = j;
    if (j != null) {
      alloc.deferReuse();
      j.onCommit(alloc::committed);
    }
  }

  /** The journal, or null. */
  public Journal journal() {
    return journal;
  }

  /**
   * A metadata block write: into the running transaction if it changed since it last joined one, or
   * straight to disk without a journal.
   */
  private void meta(long blk, byte[] data) {
    if (journal != null) {
      if (logged.changed(blk, data)) {
        journal.dirtyMetadata(blk, data);
      }
    } else {
      io.write(blk, data, 0);
    }
  }

  private DInode byIno(long ino) {
    for (DInode d : byVfs.values()) { // mount time only
      if (d.ino == ino) {
        return d;
      }
    }
    return null;
  }

  private DInode loadInode(long ino, Inode vfs) {
    return loadInode(ino, vfs, decodeExtents(ino));
  }

  private DInode loadInode(long ino, Inode vfs, ExtentTree ext) {
    DInode d = mapOf(ino, vfs, ext);
    d.onDisk = true;
    byVfs.put(vfs, d);
    return d;
  }

  /**
   * {@code ext4_iget()}'s block map of on-disk inode {@code ino}: extent tree or direct/indirect.
   */
  private DInode mapOf(long ino, Inode vfs, ExtentTree ext) {
    DInode d = new DInode(ino, vfs);
    ByteBuffer b = le(table[(int) tableIndex(ino)]);
    int off = Geometry.inodeOffset(ino);
    if (ext != null) {
      d.ext = ext;
      return d;
    }
    for (int i = 0; i < NDIR; i++) {
      d.direct[i] = b.getInt(off + I_BLOCK + 4 * i);
    }
    d.indirectBlk = b.getInt(off + I_BLOCK + 4 * NDIR);
    if (d.indirectBlk != 0 && geo.isData(d.indirectBlk & 0xffffffffL)) {
      ByteBuffer ib = le(io.read(d.indirectBlk));
      d.indirect = new int[PER_INDIRECT];
      for (int i = 0; i < PER_INDIRECT; i++) {
        d.indirect[i] = ib.getInt(4 * i);
      }
    }
    return d;
  }

  /**
   * {@code ext4_ext_check_inode()} at {@code iget}: inode {@code ino}'s extent tree, or null if it
   * has none.
   *
   * @throws KernelException {@code EUCLEAN} for a bad root; a bad node is left in {@link
   *     ExtentTree#bad()} for {@code ext4_find_extent()}
   */
  private ExtentTree decodeExtents(long ino) {
    ByteBuffer b = le(table[(int) tableIndex(ino)]);
    int off = Geometry.inodeOffset(ino);
    if ((b.getInt(off + ExtentTree.I_FLAGS) & ExtentTree.EXTENTS_FL) == 0) {
      return null;
    }
    return ExtentTree.decode(b, off + I_BLOCK, ino, io::read, geo::isData);
  }

  /** An {@code ext4_error_inode()} message at mount: "inode #N: comm mount: ...". */
  private static String atMount(KernelException x) {
    String m = ExtentTree.why(x);
    int i = m.indexOf(": ");
    return i < 0 ? m : m.substring(0, i + 2) + "comm mount: " + m.substring(i + 2);
  }

  /**
   * {@code ext4_find_extent()} met a bad node in {@code d}'s tree: the error per {@code errors=}
   * ({@code EIO} of a failed read is not a corruption and only fails).
   */
  private KernelException badTree(DInode d) {
    KernelException b = d.ext.bad();
    return b.errno() == Errno.EUCLEAN ? errors.error("ext4_find_extent", ExtentTree.why(b)) : b;
  }

  private List<Dirent> readDir(DInode d) {
    List<Dirent> out = new ArrayList<>();
    long blocks = Math.min((size(d.ino) + BLOCK - 1) / BLOCK, NDIR); // iget checked i_size
    for (long i = 0; i < blocks; i++) {
      int b = blockAt(d, i);
      if (b == 0) {
        continue;
      }
      byte[] blk = io.read(b);
      for (int off = 0; off < BLOCK; ) {
        Dirent e = dirent(blk, off);
        if (e == null) {
          errors.error(
              "ext4_readdir",
              "inode #"
                  + d.ino
                  + ": directory block "
                  + i
                  + " (block "
                  + b
                  + "): bad entry in"
                  + " directory at offset "
                  + off);
          break; // ext4_check_dir_entry() failed: the rest of the block is skipped
        }
        out.add(e);
        off += e.recLen();
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- inode table fields

  private long tableIndex(long ino) {
    int g = (int) ((ino - 1) / geo.inodesPerGroup());
    return (long) g * geo.tableBlocks() + (geo.inodeBlock(ino) - geo.inodeTable(g));
  }

  private boolean inodeInUse(long ino) {
    int g = (int) ((ino - 1) / geo.inodesPerGroup());
    return testBit(inodeBitmap[g], (ino - 1) % geo.inodesPerGroup());
  }

  private int mode(long ino) {
    return le(table[(int) tableIndex(ino)]).getShort(Geometry.inodeOffset(ino) + I_MODE) & 0xffff;
  }

  private int links(long ino) {
    return le(table[(int) tableIndex(ino)]).getShort(Geometry.inodeOffset(ino) + I_LINKS) & 0xffff;
  }

  private long size(long ino) {
    ByteBuffer b = le(table[(int) tableIndex(ino)]);
    int off = Geometry.inodeOffset(ino);
    return (b.getInt(off + I_SIZE_LO) & 0xffffffffL) | ((long) b.getInt(off + I_SIZE_HIGH) << 32);
  }

  // ---------------------------------------------------------------- allocation

  /** {@code ext4_new_inode()}: the lowest free inode, or -1. */
  private long allocInode() {
    for (int g = 0; g < geo.groups(); g++) {
      for (int i = 0; i < geo.inodesPerGroup(); i++) {
        if (!testBit(inodeBitmap[g], i)) {
          setBit(inodeBitmap[g], i, true);
          dirty.set((int) geo.inodeBitmap(g));
          return (long) g * geo.inodesPerGroup() + i + 1;
        }
      }
    }
    return -1;
  }

  /** {@code ext4_new_meta_blocks()}: a free block from the last one allocated on, or 0. */
  private int allocBlock() {
    int b = allocBlock(true);
    return b != 0 ? b : allocBlock(false); // see BlockAlloc.allocRun()
  }

  private int allocBlock(boolean skipBusy) {
    long total = geo.blocks();
    for (long n = 0; n < total; n++) {
      long b = (goal + n) % total;
      int g = (int) (b / geo.blocksPerGroup());
      long bit = b - geo.groupStart(g);
      if (!testBit(blockBitmap[g], bit) && !(skipBusy && alloc.busy(b))) {
        setBit(blockBitmap[g], bit, true);
        dirty.set((int) geo.blockBitmap(g));
        alloc.took(1);
        goal = b + 1;
        return (int) b;
      }
    }
    return 0;
  }

  private void freeBlock(long b) {
    if (b <= 0 || b >= geo.blocks()) {
      return;
    }
    alloc.freeRun(b, 1);
  }

  /**
   * {@code ext4_free_blocks(..., EXT4_FREE_BLOCKS_METADATA | EXT4_FREE_BLOCKS_FORGET)}: a
   * directory, indirect or tree node block is revoked ({@code __ext4_forget()}) as it is freed, so
   * an older logged copy never replays over its next owner's data.
   */
  private void freeMeta(long b) {
    if (b > 0 && b < geo.blocks() && journal != null) {
      journal.revoke(b);
      logged.forget(b);
    }
    freeBlock(b);
  }

  /**
   * {@code ext4_evict_inode()} of inodes the VFS has evicted: their blocks and on-disk inode are
   * free again.
   *
   * @return whether anything was freed
   */
  private boolean reapEvicted() {
    boolean freed = false;
    for (DInode d : List.copyOf(byVfs.values())) {
      if (!d.vfs.evicted()) {
        continue;
      }
      byVfs.remove(d.vfs);
      if (d.ext != null && d.ext.bad() != null) {
        continue; // ext4_evict_inode(): "couldn't truncate inode": inode and blocks left to fsck
      }
      if (d.ext != null) {
        releaseDelayed(d, 0);
        d.ext.freeAll(alloc::freeRun, nodeIo);
      }
      for (int b : d.direct) {
        if (d.vfs.isDir()) {
          freeMeta(b); // a directory block
        } else {
          freeBlock(b);
        }
      }
      if (d.indirect != null) {
        for (int b : d.indirect) {
          freeBlock(b);
        }
        freeMeta(d.indirectBlk);
      }
      ByteBuffer t = le(table[(int) tableIndex(d.ino)]);
      int off = Geometry.inodeOffset(d.ino);
      t.putShort(off + I_LINKS, (short) 0);
      t.putInt(off + I_DTIME, (int) (System.currentTimeMillis() / 1000));
      dirty.set((int) geo.inodeBlock(d.ino));
      int g = (int) ((d.ino - 1) / geo.inodesPerGroup());
      setBit(inodeBitmap[g], (d.ino - 1) % geo.inodesPerGroup(), false);
      dirty.set((int) geo.inodeBitmap(g));
      freed = true;
    }
    return freed;
  }

  private DInode dinode(Inode inode, boolean create) {
    DInode d = byVfs.get(inode);
    if (d == null && create) {
      long ino = allocInode();
      if (ino < 0 && reapEvicted()) {
        ino = allocInode();
      }
      if (ino < 0) {
        throw new KernelException(Errno.ENOSPC, "ext4: no free inode on " + dev);
      }
      // __ext4_new_inode(): a fresh raw inode, so no i_flags or i_block of its last owner remain
      int off = Geometry.inodeOffset(ino);
      java.util.Arrays.fill(table[(int) tableIndex(ino)], off, off + INODE_SIZE, (byte) 0);
      dirty.set((int) geo.inodeBlock(ino));
      d = new DInode(ino, inode);
      if (extents && inode.isReg()) {
        d.ext = new ExtentTree();
      }
      byVfs.put(inode, d);
    }
    return d;
  }

  private static int blockAt(DInode d, long iblock) {
    if (iblock < NDIR) {
      return d.direct[(int) iblock];
    }
    return d.indirect == null ? 0 : d.indirect[(int) (iblock - NDIR)];
  }

  private synchronized int getBlock(Inode inode, long iblock, BufferHead bh, boolean create) {
    if (iblock >= NDIR + PER_INDIRECT && !extents) {
      return create ? -Errno.EFBIG.number() : 0;
    }
    DInode d;
    try {
      d = dinode(inode, create);
    } catch (KernelException e) {
      return -e.errno().number();
    }
    if (d == null) {
      return 0; // never written: a hole
    }
    if (d.ext != null) {
      return extGetBlock(d, iblock, bh, create);
    }
    if (iblock >= NDIR + PER_INDIRECT) {
      return create ? -Errno.EFBIG.number() : 0;
    }
    int b = blockAt(d, iblock);
    if (b != 0 && !geo.isData(b & 0xffffffffL)) {
      KernelException e =
          errors.error(
              "ext4_map_blocks",
              "inode #"
                  + d.ino
                  + ": lblock "
                  + iblock
                  + " mapped to illegal pblock "
                  + (b & 0xffffffffL)
                  + " (length 1)");
      return -e.errno().number(); // check_block_validity(): EFSCORRUPTED
    }
    if (b == 0 && create) {
      if (iblock >= NDIR && d.indirect == null) {
        int ib = allocOrReap();
        if (ib == 0) {
          return -Errno.ENOSPC.number();
        }
        d.indirectBlk = ib;
        d.indirect = new int[PER_INDIRECT];
        d.indirectDirty = true;
      }
      b = allocOrReap();
      if (b == 0) {
        return -Errno.ENOSPC.number();
      }
      if (iblock < NDIR) {
        d.direct[(int) iblock] = b;
      } else {
        d.indirect[(int) (iblock - NDIR)] = b;
        d.indirectDirty = true;
      }
      bh.set(BufferHead.BH_NEW);
      if (journal != null) {
        journal.addInode(inode, iblock * BLOCK, (iblock + 1) * BLOCK);
      }
    }
    if (b != 0) {
      bh.mapBh(b);
    }
    return 0;
  }

  private int allocOrReap() {
    int b = allocBlock();
    if (b == 0 && reapEvicted()) {
      b = allocBlock();
    }
    return b;
  }

  // ---------------------------------------------------------------- address_space_operations

  /** {@code ext4_write_begin()}'s {@code __block_write_begin(..., ext4_get_block)}. */
  public void writeBegin(Inode inode, long pfn, long pos, int len) {
    errors.checkWritable("write");
    buffers.blockPrepareWrite(
        inode.mapping(), pfn, pos, len, extents && inode.isReg() ? daGetBlockPrep : getBlock);
  }

  @Override
  public int readFolio(AddressSpace mapping, long pfn) {
    if (journal != null && journal.hasData()) {
      commitJournalledData(); // the newest copy of a journalled block is in the transaction
    }
    return buffers.blockReadFullFolio(mapping, pfn, getBlock);
  }

  /**
   * {@code ext4_writepages()} per folio: {@code block_write_full_folio()}, which zeroes the part of
   * the folio past {@code i_size} first so stale bytes never reach the disk.
   */
  @Override
  public int writeFolio(AddressSpace mapping, long pfn) {
    return writeFolioFrom(mapping, pfn, pfn);
  }

  /**
   * {@link #writeFolio} with the data of {@code dataPfn}, a copy writeback took of the folio
   * ({@code writeback.pinned=bounce}, {@code skip}'s integrity pass): the folio's buffers are
   * mapped and cleaned, the copy is what the bios carry. In {@code data=journal} the journal takes
   * its own copy of the folio.
   */
  @Override
  public int writeFolioFrom(AddressSpace mapping, long pfn, long dataPfn) {
    Inode inode = sb.host(mapping);
    if (inode != null) {
      long start = mapping.physicalMemory().memmap().index(pfn) << Page.PAGE_SHIFT;
      long size = inode.size();
      int fsize = mapping.folioSize(pfn);
      if (size > start && size < start + fsize) {
        int off = (int) (size - start);
        mapping.physicalMemory().ram().write(dataPfn, off, ZEROES, 0, fsize - off);
      }
      if (start < size && buffers.folioBuffers(mapping, pfn) == null) {
        // dirtied without ->write_begin or ->page_mkwrite (seed 001's O2): cleaned, not written
        DInode d;
        synchronized (this) {
          d = byVfs.get(inode);
        }
        errors.noBuffers(
            d == null ? 0 : d.ino, start >> Page.PAGE_SHIFT, Math.min(fsize, size - start));
        return 0;
      }
    }
    if (inode != null && journal != null && journal.mode() == Journal.DataMode.JOURNAL) {
      return journalFolio(mapping, pfn, inode);
    }
    BitSet unwritten = inode == null ? null : unwrittenDirty(inode, mapping, pfn);
    int err = buffers.blockWriteFullFolioFrom(mapping, pfn, dataPfn, getBlock);
    if (err == 0 && unwritten != null) { // ext4_end_io_end(): only once the data is written
      long first = mapping.physicalMemory().memmap().index(pfn) * (Page.PAGE_SIZE / BLOCK);
      for (int i = unwritten.nextSetBit(0); i >= 0; i = unwritten.nextSetBit(i + 1)) {
        convertUnwritten(inode, first + i, first + i + 1);
      }
    }
    return err;
  }

  private synchronized void commitJournalledData() {
    journal.commit();
  }

  /**
   * {@code data=journal} writeback ({@code mpage_journal_page_buffers()}): each dirty block of the
   * folio inside {@code i_size} is mapped and its copy joins the running transaction; nothing is
   * written in place before the commit. A folio that {@code folio_maybe_dma_pinned()} is journalled
   * too ({@code folio_set_checked()}), and counted.
   */
  private int journalFolio(AddressSpace mapping, long pfn, Inode inode) {
    BufferHead[] bhs = buffers.folioBuffers(mapping, pfn);
    if (bhs == null) {
      int bits = (1 << BufferHead.BH_UPTODATE) | (1 << BufferHead.BH_DIRTY);
      bhs = buffers.createEmptyBuffers(mapping, pfn, bits);
    }
    long first = mapping.physicalMemory().memmap().index(pfn) * (Page.PAGE_SIZE / BLOCK);
    long size = inode.size();
    boolean pinned = sb.vm().gup().folioMaybeDmaPinned(pfn);
    byte[] copy = new byte[BLOCK];
    for (int i = 0; i < bhs.length; i++) {
      BufferHead bh = bhs[i];
      if ((first + i) * BLOCK >= size) {
        bh.clear(BufferHead.BH_DIRTY);
        continue;
      }
      if (!bh.test(BufferHead.BH_MAPPED)) {
        int err = getBlock(inode, first + i, bh, true);
        if (err < 0) {
          return err;
        }
        bh.clear(BufferHead.BH_NEW);
      }
      if (bh.test(BufferHead.BH_MAPPED)) {
        mapping.physicalMemory().ram().read(pfn, bh.offset(), copy, 0, BLOCK);
        journal.dirtyData(bh.blocknr(), copy, pinned && i == 0);
        bh.clear(BufferHead.BH_DIRTY);
        convertUnwritten(inode, first + i, first + i + 1); // the same transaction as the data
      }
    }
    return 0;
  }

  @Override
  public boolean dirtyFolio(AddressSpace mapping, long pfn) {
    return buffers.blockDirtyFolio(mapping, pfn);
  }

  /**
   * {@code ext4_release_folio()}: {@code try_to_free_buffers()} of a clean, locked folio, as
   * reclaim's {@code filemap_release_folio()} calls it (a pinned folio keeps its place in the cache
   * but not its buffers).
   *
   * @return whether the folio has no buffers now
   */
  public boolean releaseFolio(AddressSpace mapping, long pfn) {
    return buffers.tryToFreeBuffers(mapping, pfn);
  }

  @Override
  public void invalidateFolio(AddressSpace mapping, long pfn, int offset, int length) {
    buffers.blockInvalidateFolio(mapping, pfn, offset, length);
  }

  /** {@code buffer_migrate_folio()}'s move of the buffer heads ({@code ext4_aops}). */
  @Override
  public void migratePrivate(Object mapping, long dst, long src) {
    buffers.migrateFolio((AddressSpace) mapping, dst, src);
  }

  // ---------------------------------------------------------------- writing metadata

  /**
   * {@code ext4_fsync_nojournal()} after the data: the indirect block and the inode's table block
   * with {@code REQ_PREFLUSH|REQ_FUA}; an inode not yet reachable on disk syncs the namespace first
   * ({@code ext4_sync_parent()}).
   */
  public void fsyncInode(Inode inode) {
    if (journal != null) {
      commitUnlocked(); // ext4_sync_file(): jbd2_complete_transaction() of the running transaction
      return;
    }
    synchronized (this) {
      fsyncNoJournal(inode);
    }
  }

  /**
   * Commits the running transaction with its metadata, the ordered data written first without this
   * object's monitor: writeback locks a folio and then maps it under the monitor ({@code
   * getBlock}), so the data writes (which lock folios) must not run under it, as jbd2's commit
   * thread holds no ext4 lock. Blocks are only allocated under the monitor, so once it is held with
   * no ordered data left, none can appear before the commit.
   */
  private void commitUnlocked() {
    while (true) {
      journal.writeOrderedData();
      synchronized (this) {
        if (errors.readOnly()) {
          return; // ext4_sync_file() of a read-only fs: nothing may reach the disk
        }
        syncMeta();
        if (!journal.hasOrdered()) {
          journal.commit();
          return;
        }
      }
    }
  }

  private void fsyncNoJournal(Inode inode) {
    if (errors.readOnly()) {
      return; // ext4_sync_file() of a read-only fs: nothing may reach the disk
    }
    DInode d = byVfs.get(inode);
    if (d == null || !d.onDisk) {
      syncMeta();
      d = byVfs.get(inode);
      if (d == null) {
        io.flush();
        return;
      }
    }
    encodeInode(d); // first: a new tree node marks the bitmap
    writeBitmapsAndIndirects();
    int t = (int) geo.inodeBlock(d.ino);
    io.write(t, table[(int) tableIndex(d.ino)], Bio.REQ_PREFLUSH | Bio.REQ_FUA);
    dirty.clear(t);
  }

  /** {@code ext4_sync_fs()}: the namespace, inodes, bitmaps, descriptors and superblock; flush. */
  public void syncFs() {
    if (journal != null) {
      commitUnlocked(); // the ordered data outside the monitor, as in fsyncInode()
    }
    synchronized (this) {
      if (errors != null && errors.readOnly()) {
        return; // sync_filesystem() skips a read-only superblock
      }
      if (journal == null) {
        syncMeta();
      } else {
        journal.checkpoint();
      }
      io.flush();
    }
  }

  /** {@code ext4_put_super()}'s {@code jbd2_journal_destroy()}: the journal left empty. */
  public synchronized void destroyJournal() {
    if (journal != null) {
      syncMeta();
      journal.destroy();
    }
  }

  private void syncMeta() {
    reapEvicted();
    linkOrphans();
    ArrayDeque<Inode> dirs = new ArrayDeque<>();
    dirs.add(sb.root());
    while (!dirs.isEmpty()) {
      Inode dir = dirs.poll();
      DInode dd = byVfs.get(dir);
      writeDir(dd, dir);
      for (String name : dir.names()) {
        Inode c = dir.lookup(name);
        if (c != null && c.isDir()) {
          dirs.add(c);
        }
      }
    }
    for (DInode d : byVfs.values()) {
      encodeInode(d);
    }
    writeBitmapsAndIndirects();
    writeAllMeta();
  }

  /** Rewrites {@code dir}'s blocks from the VFS's entries (linear, ".", ".." first). */
  private void writeDir(DInode dd, Inode dir) {
    List<byte[]> blocks = new ArrayList<>();
    byte[] cur = new byte[BLOCK];
    int off = 0;
    int lastOff = -1;
    List<Object[]> ents = new ArrayList<>();
    ents.add(new Object[] {".", dd.ino, FT_DIR});
    ents.add(new Object[] {"..", byVfs.get(dir.parent()).ino, FT_DIR});
    for (String name : dir.names()) {
      Inode c = dir.lookup(name);
      if (c == null) {
        continue;
      }
      DInode cd = dinode(c, true);
      cd.onDisk = true;
      ents.add(new Object[] {name, cd.ino, c.isDir() ? FT_DIR : FT_REG});
    }
    for (Object[] e : ents) {
      byte[] name = ((String) e[0]).getBytes(StandardCharsets.UTF_8);
      int len = direntLen(name.length);
      if (off + len > BLOCK) {
        fixLast(cur, lastOff);
        blocks.add(cur);
        cur = new byte[BLOCK];
        off = 0;
      }
      putDirent(cur, off, (Long) e[1], len, name, (Integer) e[2]);
      lastOff = off;
      off += len;
    }
    fixLast(cur, lastOff);
    blocks.add(cur);
    if (blocks.size() > NDIR) {
      throw new KernelException(Errno.ENOSPC, "ext4: directory too large for " + NDIR + " blocks");
    }
    for (int i = 0; i < NDIR; i++) {
      if (i < blocks.size()) {
        if (dd.direct[i] == 0) {
          int b = allocOrReap();
          if (b == 0) {
            throw new KernelException(Errno.ENOSPC, "ext4: no block for a directory on " + dev);
          }
          dd.direct[i] = b;
        }
        meta(dd.direct[i], blocks.get(i));
      } else if (dd.direct[i] != 0) {
        freeMeta(dd.direct[i]);
        dd.direct[i] = 0;
      }
    }
    dd.onDisk = true;
  }

  private static void fixLast(byte[] blk, int lastOff) {
    le(blk).putShort(lastOff + 4, (short) (BLOCK - lastOff)); // the last entry spans the block
  }

  private void encodeInode(DInode d) {
    byte[] t = table[(int) tableIndex(d.ino)];
    int off = Geometry.inodeOffset(d.ino);
    byte[] before = java.util.Arrays.copyOfRange(t, off, off + INODE_SIZE);
    ByteBuffer b = le(t);
    Inode v = d.vfs;
    long size = v.isDir() ? (long) dirBlocks(d) * BLOCK : v.size();
    int links = v == sb.root() ? v.nlink() + 2 : v.nlink(); // the VFS counts no "." or ".." of /
    b.putShort(off + I_MODE, (short) v.mode()).putShort(off + I_LINKS, (short) links);
    b.putInt(off + I_SIZE_LO, (int) size).putInt(off + I_SIZE_HIGH, (int) (size >>> 32));
    b.putInt(off + I_ATIME, (int) (v.atime() / 1_000_000_000L));
    b.putInt(off + I_CTIME, (int) (v.ctime() / 1_000_000_000L));
    b.putInt(off + I_MTIME, (int) (v.mtime() / 1_000_000_000L));
    b.putInt(off + I_DTIME, (int) d.orphanNext);
    if (d.ext != null) {
      if (d.ext.dirty() || (b.getInt(off + ExtentTree.I_FLAGS) & ExtentTree.EXTENTS_FL) == 0) {
        d.ext.encode(t, off + I_BLOCK, nodeIo);
      }
      b.putInt(off + ExtentTree.I_FLAGS, ExtentTree.EXTENTS_FL);
    } else {
      for (int i = 0; i < NDIR; i++) {
        b.putInt(off + I_BLOCK + 4 * i, d.direct[i]);
      }
      b.putInt(off + I_BLOCK + 4 * NDIR, d.indirectBlk);
      b.putInt(
          off + ExtentTree.I_FLAGS, b.getInt(off + ExtentTree.I_FLAGS) & ~ExtentTree.EXTENTS_FL);
    }
    if (!java.util.Arrays.equals(before, 0, INODE_SIZE, t, off, off + INODE_SIZE)) {
      dirty.set((int) geo.inodeBlock(d.ino));
    }
  }

  private static int dirBlocks(DInode d) {
    int n = 0;
    while (n < NDIR && d.direct[n] != 0) {
      n++;
    }
    return n;
  }

  private void writeBitmapsAndIndirects() {
    for (DInode d : byVfs.values()) {
      if (d.indirectDirty) {
        ByteBuffer ib = le(new byte[BLOCK]);
        for (int i = 0; i < PER_INDIRECT; i++) {
          ib.putInt(4 * i, d.indirect[i]);
        }
        meta(d.indirectBlk, ib.array());
        d.indirectDirty = false;
      }
    }
    for (int g = 0; g < geo.groups(); g++) {
      writeIfDirty(geo.blockBitmap(g), blockBitmap[g]);
      writeIfDirty(geo.inodeBitmap(g), inodeBitmap[g]);
    }
  }

  private void writeIfDirty(long blk, byte[] data) {
    if (dirty.get((int) blk)) {
      meta(blk, data);
      dirty.clear((int) blk);
    }
  }

  /** Every dirty table block and bitmap, then the descriptors and the superblock. */
  private void writeAllMeta() {
    long freeBlocks = 0;
    long freeInodes = 0;
    ByteBuffer gdt = le(new byte[BLOCK]);
    for (int g = 0; g < geo.groups(); g++) {
      int fb = 0;
      for (long b = geo.groupStart(g); b < geo.groupEnd(g); b++) {
        fb += testBit(blockBitmap[g], b - geo.groupStart(g)) ? 0 : 1;
      }
      int fi = 0;
      for (int i = 0; i < geo.inodesPerGroup(); i++) {
        fi += testBit(inodeBitmap[g], i) ? 0 : 1;
      }
      freeBlocks += fb;
      freeInodes += fi;
      int o = g * GD_SIZE;
      gdt.putInt(o, (int) geo.blockBitmap(g)).putInt(o + 4, (int) geo.inodeBitmap(g));
      gdt.putInt(o + 8, (int) geo.inodeTable(g)).putInt(o + 12, fb).putInt(o + 16, fi);
      writeIfDirty(geo.blockBitmap(g), blockBitmap[g]);
      writeIfDirty(geo.inodeBitmap(g), inodeBitmap[g]);
      for (int t = 0; t < geo.tableBlocks(); t++) {
        writeIfDirty(geo.inodeTable(g) + t, table[g * geo.tableBlocks() + t]);
      }
    }
    if (sb == null) { // mkfs: every block once
      for (int g = 0; g < geo.groups(); g++) {
        io.write(geo.blockBitmap(g), blockBitmap[g], 0);
        io.write(geo.inodeBitmap(g), inodeBitmap[g], 0);
        for (int t = 0; t < geo.tableBlocks(); t++) {
          io.write(geo.inodeTable(g) + t, table[g * geo.tableBlocks() + t], 0);
        }
      }
    }
    meta(1, gdt.array());
    byte[] s = withBlockMap(encodeSuper(geo, freeBlocks, freeInodes), extents, lastOrphan);
    meta(0, errors == null ? s : errors.stamp(s));
    alloc.journalled();
    if (journal != null) {
      journal.joinRevokes(); // with the bitmaps that free them
    }
  }

  // ---------------------------------------------------------------- extents, delalloc, truncate

  /** Tree node blocks: metadata, so they may use the reserve ({@code EXT4_MB_USE_RESERVED}). */
  private final ExtentTree.NodeIo nodeIo =
      new ExtentTree.NodeIo() {
        @Override
        public int alloc() {
          if (!alloc.mayTake(1, true)) {
            return 0;
          }
          long b = alloc.allocRun(goal, 1);
          return (int) b;
        }

        @Override
        public void free(long blk) {
          if (journal != null) {
            journal.revoke(blk); // a tree node: ext4_ext_rm_idx()'s EXT4_FREE_BLOCKS_FORGET
            logged.forget(blk);
          }
          alloc.freeRun(blk, 1);
        }

        @Override
        public void write(long blk, byte[] data) {
          meta(blk, data);
        }
      };

  /** {@code ext4_da_get_block_prep()}: {@code write_begin}'s mapper for extent files. */
  public final GetBlock daGetBlockPrep = this::daGetBlockPrep;

  /** {@code s_maxbytes} ({@code ext4_max_size()}): what an extent tree or the old map reaches. */
  public long maxBytes() {
    return extents ? MAX_LBLK * BLOCK : MAX_BYTES;
  }

  /** Logical blocks of an extent file: {@code ee_block} is 32 bits, the last one unused. */
  private static final long MAX_LBLK = 0xFFFFFFFFL;

  /**
   * {@code ext4_da_get_block_prep()}: a mapped block is mapped; an unmapped one is reserved ({@code
   * ext4_da_reserve_space()}, {@code ENOSPC} when the free blocks less the reservations and the
   * metadata reserve cannot cover it) and its buffer marked {@code BH_Delay}, not allocated.
   */
  private synchronized int daGetBlockPrep(Inode inode, long iblock, BufferHead bh, boolean create) {
    if (iblock >= MAX_LBLK) {
      return -Errno.EFBIG.number();
    }
    DInode d;
    try {
      d = dinode(inode, true);
    } catch (KernelException e) {
      return -e.errno().number();
    }
    if (d.ext == null) {
      return getBlock(inode, iblock, bh, create);
    }
    if (d.ext.bad() != null) {
      return -badTree(d).errno().number();
    }
    long p = d.ext.lookup(iblock);
    if (p != 0) {
      bh.mapBh(p);
      bh.clear(BufferHead.BH_DELAY);
      if (d.ext.isUnwritten(iblock)) {
        bh.set(BufferHead.BH_NEW); // "a delayed write to unwritten bh should be marked new"
      }
      return 0;
    }
    if (d.delayed.lookup(iblock) != 0) {
      bh.set(BufferHead.BH_DELAY);
      return 0;
    }
    if (d.ext.extents() >= ExtentTree.MAX_EXTENTS) {
      return -Errno.EFBIG.number();
    }
    if (!alloc.claim(1) && !(reapEvicted() && alloc.claim(1))) {
      return -Errno.ENOSPC.number();
    }
    try {
      d.delayed.insert(iblock, iblock + 1, 1);
    } catch (KernelException e) {
      alloc.release(1);
      return -e.errno().number();
    }
    bh.set(BufferHead.BH_NEW);
    bh.set(BufferHead.BH_DELAY);
    return 0;
  }

  /**
   * {@code ext4_ext_map_blocks()}: maps {@code iblock}; with {@code create} (writeback) allocates
   * it, and for a delayed block the whole run of delayed blocks from it as one contiguous extent
   * where the free space allows ({@code mpage_map_and_submit_extent()}), consuming their
   * reservations. A block never reserved (a folio dirtied behind the filesystem's back) is
   * allocated alone if the free space outside the reservations allows.
   */
  private int extGetBlock(DInode d, long iblock, BufferHead bh, boolean create) {
    if (iblock >= MAX_LBLK) {
      return create ? -Errno.EFBIG.number() : 0;
    }
    if (d.ext.bad() != null) {
      return -badTree(d).errno().number(); // nothing mapped or allocated through a bad node
    }
    long p = d.ext.lookup(iblock);
    if (p != 0 && !create && d.ext.isUnwritten(iblock)) {
      return 0; // an unwritten extent reads as zeros, as block_read_full_folio() does it
    }
    if (p == 0 && create) {
      boolean delayed = d.delayed.lookup(iblock) != 0;
      int want = 1;
      if (delayed) {
        long end = Math.min(d.delayed.runEnd(iblock), d.ext.nextMapped(iblock));
        want = (int) Math.min(end - iblock, ExtentTree.MAX_LEN);
      } else if (!alloc.mayTake(1, false) && !(reapEvicted() && alloc.mayTake(1, false))) {
        return -Errno.ENOSPC.number();
      }
      long g = d.ext.goal(iblock);
      p = alloc.allocRun(g != 0 ? g : goal, want);
      if (p == 0) {
        return -Errno.ENOSPC.number();
      }
      int got = alloc.lastLen();
      try {
        d.ext.insert(iblock, p, got);
      } catch (KernelException e) {
        alloc.freeRun(p, got);
        return -e.errno().number();
      }
      goal = p + got;
      releaseDelayed(d, iblock, iblock + got);
      bh.set(BufferHead.BH_NEW);
      if (journal != null) { // mpage_map_and_submit_extent(): ext4_jbd2_inode_add_write()
        journal.addInode(d.vfs, iblock * BLOCK, (iblock + got) * BLOCK);
      }
    }
    if (p != 0) {
      bh.mapBh(p);
      bh.clear(BufferHead.BH_DELAY);
    }
    return 0;
  }

  /** {@code ext4_es_remove_extent()} of delayed blocks from {@code first} on: reservations back. */
  private void releaseDelayed(DInode d, long first) {
    releaseDelayed(d, first, Long.MAX_VALUE);
  }

  private void releaseDelayed(DInode d, long first, long end) {
    released = 0;
    d.delayed.remove(first, end, countReleased);
    alloc.release(released);
  }

  private long released;
  private final ExtentTree.FreeRun countReleased = (p, c) -> released += c;

  /**
   * {@code ext4_page_mkwrite()} with delayed allocation: reserves the folio's unmapped blocks
   * inside {@code i_size} as {@code write_begin} does, then dirties it and waits for stable pages.
   *
   * @return 0, {@code VM_FAULT_NOPAGE} if the folio was truncated, {@code VM_FAULT_SIGBUS} when the
   *     reservation fails ({@code vmf_fs_error(-ENOSPC)})
   */
  @Override
  public int pageMkwrite(AddressSpace mapping, long pfn) {
    Inode inode = sb.host(mapping);
    if (inode == null || !extents || !inode.isReg()) {
      return GENERIC;
    }
    long head = mapping.physicalMemory().memmap().compoundHead(pfn);
    mapping.folios().folioLock(head);
    try {
      if (mapping.physicalMemory().memmap().mapping(head) != mapping.id()) {
        return VmFault.VM_FAULT_NOPAGE;
      }
      long start = mapping.physicalMemory().memmap().index(head) << Page.PAGE_SHIFT;
      long size = inode.size();
      if (start >= size) {
        return VmFault.VM_FAULT_NOPAGE;
      }
      BufferHead[] bhs = buffers.folioBuffers(mapping, head);
      if (bhs == null) {
        bhs = buffers.createEmptyBuffers(mapping, head, 0);
      }
      for (BufferHead bh : bhs) {
        if (start + bh.offset() >= size) {
          break;
        }
        if (!bh.test(BufferHead.BH_MAPPED)) {
          int err = daGetBlockPrep(inode, (start + bh.offset()) / BLOCK, bh, true);
          if (err < 0) {
            return VmFault.VM_FAULT_SIGBUS;
          }
          bh.clear(BufferHead.BH_NEW); // the folio is uptodate: its bytes are the data
        }
      }
      buffers.blockDirtyFolio(mapping, head);
      sb.vm().pageWriteback().folioWaitStable(head);
      return 0;
    } finally {
      mapping.folios().folioUnlock(head);
    }
  }

  /**
   * {@code ext4_truncate()} after {@code truncate_pagecache()}: the blocks past {@code newSize} go
   * back to the bitmaps ({@code ext4_ext_remove_space()}), delayed ones give their reservation
   * back, and the rest of the block holding the new end is zeroed on disk too ({@code
   * ext4_block_truncate_page()}), so growing the file again reads zeros there.
   */
  public synchronized void setattrSize(Inode inode, long oldSize, long newSize) {
    DInode d = byVfs.get(inode);
    if (d == null || newSize >= oldSize) {
      return;
    }
    truncateBlocks(d, newSize);
    long tail = 0;
    if (newSize % BLOCK != 0) {
      long ib = newSize / BLOCK;
      tail = d.ext != null ? d.ext.lookup(ib) : ib < NDIR + PER_INDIRECT ? blockAt(d, ib) : 0;
    }
    if (tail != 0) {
      byte[] blk = io.read(tail);
      java.util.Arrays.fill(blk, (int) (newSize % BLOCK), BLOCK, (byte) 0);
      io.write(tail, blk, 0);
    }
  }

  /** Frees {@code d}'s blocks from the one holding byte {@code size} on. */
  private void truncateBlocks(DInode d, long size) {
    long first = (size + BLOCK - 1) / BLOCK;
    if (d.ext != null) {
      if (d.ext.bad() != null) {
        throw badTree(d); // ext4_ext_remove_space() fails: the blocks stay allocated
      }
      releaseDelayed(d, first);
      d.ext.remove(first, Long.MAX_VALUE, alloc::freeRun);
      return;
    }
    boolean dir = (mode(d.ino) & Inode.S_IFMT) == Inode.S_IFDIR; // an orphan directory
    for (long i = first; i < NDIR + PER_INDIRECT; i++) {
      if (i < NDIR) {
        if (dir) {
          freeMeta(d.direct[(int) i]);
        } else {
          freeBlock(d.direct[(int) i]);
        }
        d.direct[(int) i] = 0;
      } else if (d.indirect != null && d.indirect[(int) (i - NDIR)] != 0) {
        freeBlock(d.indirect[(int) (i - NDIR)]);
        d.indirect[(int) (i - NDIR)] = 0;
        d.indirectDirty = true;
      }
    }
    if (first <= NDIR && d.indirect != null) {
      freeMeta(d.indirectBlk);
      d.indirect = null;
      d.indirectBlk = 0;
      d.indirectDirty = false;
    }
  }

  /**
   * {@code ext4_punch_hole()}: writes the range back, zeroes the partial blocks at its ends in the
   * page cache ({@code ext4_zero_partial_blocks()}), drops the whole pages inside ({@code
   * truncate_pagecache_range()}) and frees their blocks ({@code ext4_ext_remove_space()}). A range
   * reaching {@code i_size} frees the last partial block whole.
   *
   * @throws KernelException {@code EOPNOTSUPP} for a file without an extent tree, {@code EIO}
   */
  public void punchHole(Inode inode, long offset, long len) {
    synchronized (inode) { // i_rwsem
      long size = inode.size();
      if (offset >= size) {
        return;
      }
      synchronized (this) {
        DInode d = byVfs.get(inode);
        if (d != null && d.ext == null) {
          throw new KernelException(Errno.EOPNOTSUPP, "ext4: punch hole needs an extent tree");
        }
        if (d != null && d.ext.bad() != null) {
          throw badTree(d);
        }
      }
      long end = Math.min(offset + len, size);
      FileOperations.fileWriteAndWaitRange(inode, offset, end - 1);
      long firstWhole = (offset + BLOCK - 1) / BLOCK;
      long lastEx = end >= size ? (size + BLOCK - 1) / BLOCK : end / BLOCK;
      if (offset % BLOCK != 0) {
        zeroInCache(inode, offset, Math.min(end, firstWhole * BLOCK));
      }
      if (end < size && end % BLOCK != 0 && lastEx >= firstWhole) {
        zeroInCache(inode, lastEx * BLOCK, end);
      }
      if (lastEx > firstWhole) {
        sb.vm().truncate().truncateInodePagesRange(inode.mapping(), firstWhole, lastEx - 1);
        synchronized (this) {
          DInode d = byVfs.get(inode);
          if (d != null) {
            releaseDelayed(d, firstWhole, lastEx);
            d.ext.remove(firstWhole, lastEx, alloc::freeRun);
          }
        }
      }
      inode.touchModified();
    }
  }

  void zeroInCache(Inode inode, long from, long to) {
    AddressSpace mapping = inode.mapping();
    long pfn = sb.vm().filemap().readMappingFolio(mapping, from >>> Page.PAGE_SHIFT);
    mapping.folios().folioLock(pfn);
    try {
      if (mapping.physicalMemory().memmap().mapping(pfn) == mapping.id()) {
        int off = (int) (from & (Page.PAGE_SIZE - 1));
        mapping.physicalMemory().ram().write(pfn, off, ZEROES, 0, (int) (to - from));
        mapping.aops().dirtyFolio(mapping, pfn);
      }
    } finally {
      mapping.folios().folioUnlock(pfn);
      mapping.physicalMemory().allocator().putPage(pfn);
    }
  }

  /** {@code ext4_evict_inode()}: an inode with no link left frees its blocks and itself. */
  public synchronized void evictInode(Inode inode) {
    if (inode.nlink() == 0 && byVfs.containsKey(inode)) {
      reapEvicted();
    }
  }

  /**
   * {@code ext4_orphan_add()} for the sync: inodes unlinked while open go on the on-disk orphan
   * list ({@code s_last_orphan}, chained through {@code i_dtime}) so a crash before the last close
   * leaves them for {@link #orphanCleanup} rather than leaked.
   */
  private void linkOrphans() {
    long next = 0;
    for (DInode d : byVfs.values()) {
      d.orphanNext = 0;
      if (d.vfs != sb.root() && d.vfs.nlink() == 0 && !d.vfs.evicted()) {
        d.orphanNext = next;
        next = d.ino;
      }
    }
    lastOrphan = next;
  }

  /**
   * {@code ext4_orphan_cleanup()} at mount: each inode on the orphan list is freed if it has no
   * link, else truncated to its {@code i_size}; the result is written and flushed. A corrupt list
   * ends the walk there.
   */
  private void orphanCleanup() {
    long ino = lastOrphan;
    boolean any = ino != 0;
    for (long seen = 0; ino != 0 && seen <= geo.inodes(); seen++) {
      if (ino < FIRST_INO || ino > geo.inodes() || !inodeInUse(ino)) {
        break; // ext4_orphan_get(): a bad orphan inode ends the list
      }
      ByteBuffer t = le(table[(int) tableIndex(ino)]);
      int off = Geometry.inodeOffset(ino);
      long next = t.getInt(off + I_DTIME) & 0xffffffffL;
      DInode live = byIno(ino);
      if (links(ino) == 0 && live == null) {
        DInode d;
        try {
          d = mapOf(ino, null, decodeExtents(ino));
        } catch (KernelException x) {
          errors.error("ext4_ext_check_inode", atMount(x));
          break; // ext4_orphan_get() failed: ext4_orphan_cleanup() ends the list
        }
        try {
          truncateBlocks(d, 0);
        } catch (KernelException x) {
          break; // a bad node (already reported): the inode and its blocks are left to fsck
        }
        if (d.ext != null) {
          d.ext.freeAll(alloc::freeRun, nodeIo);
        }
        t.putInt(off + I_DTIME, (int) (System.currentTimeMillis() / 1000));
        int g = (int) ((ino - 1) / geo.inodesPerGroup());
        setBit(inodeBitmap[g], (ino - 1) % geo.inodesPerGroup(), false);
        dirty.set((int) geo.inodeBitmap(g));
      } else if (live != null) {
        try {
          truncateBlocks(live, size(ino)); // a truncate cut short
        } catch (KernelException x) {
          break; // a bad node (already reported)
        }
        t.putInt(off + I_DTIME, 0);
        encodeInode(live);
      }
      dirty.set((int) geo.inodeBlock(ino));
      ino = next;
    }
    lastOrphan = 0;
    if (any) {
      writeAllMeta();
      if (journal != null) {
        journal.commit(); // the orphans' release is one transaction, as ext4_orphan_cleanup()'s
      } else {
        io.flush();
      }
    }
  }

  /** The free-block accounting, for checks and {@code statfs}. */
  public BlockAlloc blockAlloc() {
    return alloc;
  }

  /** {@code ext4_bmap()}: the block {@code lblk} of {@code inode} is on, 0 if none yet. */
  public synchronized long bmap(Inode inode, long lblk) {
    DInode d = byVfs.get(inode);
    if (d == null || lblk < 0) {
      return 0;
    }
    if (d.ext != null) {
      return d.ext.lookup(lblk);
    }
    return lblk < NDIR + PER_INDIRECT ? blockAt(d, lblk) & 0xffffffffL : 0;
  }

  /** The mounted superblock. */
  SuperBlock sb() {
    return sb;
  }

  /** {@code ext4_zero_range()}'s conversion of {@code inode}'s mapped blocks {@code [from, to)}. */
  synchronized void markUnwritten(Inode inode, long from, long to) {
    DInode d = byVfs.get(inode);
    if (d != null && d.ext != null) {
      if (d.ext.bad() != null) {
        throw badTree(d);
      }
      d.ext.markUnwritten(from, to);
    }
  }

  /** {@code inode}'s extent tree, or null if it has none (yet). */
  public synchronized ExtentTree extentTree(Inode inode) {
    DInode d = byVfs.get(inode);
    return d == null ? null : d.ext;
  }

  /**
   * {@code ext4_convert_unwritten_extents()} of {@code inode}'s blocks {@code [from, to)}, whose
   * data is written (or in the running transaction): the change joins the running transaction.
   */
  synchronized void convertUnwritten(Inode inode, long from, long to) {
    DInode d = byVfs.get(inode);
    if (d != null && d.ext != null && d.ext.bad() == null && d.ext.hasUnwritten()) {
      d.ext.markWritten(from, to);
    }
  }

  /**
   * The buffers of folio {@code pfn} that writeback is about to write over unwritten blocks ({@code
   * EXT4_IO_END_UNWRITTEN}), or null if none (a file without unwritten extents costs one look-up
   * and no allocation).
   */
  private synchronized BitSet unwrittenDirty(Inode inode, AddressSpace mapping, long pfn) {
    DInode d = byVfs.get(inode);
    if (d == null || d.ext == null || !d.ext.hasUnwritten()) {
      return null;
    }
    BufferHead[] bhs = buffers.folioBuffers(mapping, pfn);
    if (bhs == null) {
      return null;
    }
    long first = mapping.physicalMemory().memmap().index(pfn) * (Page.PAGE_SIZE / BLOCK);
    long lastBlock = (inode.size() - 1) / BLOCK;
    BitSet out = null;
    for (int i = 0; i < bhs.length && first + i <= lastBlock; i++) {
      if (bhs[i].test(BufferHead.BH_DIRTY) && d.ext.isUnwritten(first + i)) {
        out = out == null ? new BitSet(bhs.length) : out;
        out.set(i);
      }
    }
    return out;
  }

  /**
   * {@code ext4_alloc_file_blocks()} with {@code EXT4_GET_BLOCKS_CREATE_UNWRIT_EXT}: the holes of
   * blocks {@code [first, last)} get unwritten extents, one allocation at a time, each whole in the
   * tree (blocks already mapped or delayed are left as they are); {@code sizeTo}, unless negative,
   * is how far {@code i_size} grows, following the blocks reached ({@code
   * ext4_update_inode_size()}). As in the kernel, an {@code ENOSPC} keeps what was allocated before
   * it.
   *
   * @return the first block not reached (=={@code last} when all were)
   * @throws KernelException {@code EOPNOTSUPP} for a file without an extent tree, {@code EFBIG},
   *     {@code EUCLEAN} for a bad tree
   */
  synchronized long allocUnwritten(Inode inode, long first, long last, long sizeTo) {
    DInode d = dinode(inode, true);
    if (d.ext == null) {
      throw new KernelException(Errno.EOPNOTSUPP, "ext4: fallocate needs an extent tree");
    }
    if (d.ext.bad() != null) {
      throw badTree(d);
    }
    long l = first;
    while (l < last) {
      long end;
      if (d.ext.lookup(l) != 0) {
        end = Math.min(last, d.ext.runEnd(l));
      } else if (d.delayed.lookup(l) != 0) {
        end = Math.min(last, d.delayed.runEnd(l)); // writeback allocates them
      } else {
        end = Math.min(last, Math.min(d.ext.nextMapped(l), d.delayed.nextMapped(l)));
        long want = Math.min(end - l, ExtentTree.MAX_UNWRITTEN_LEN);
        long room = alloc.free() - alloc.reserved() - alloc.resv();
        if (room <= 0 && reapEvicted()) {
          room = alloc.free() - alloc.reserved() - alloc.resv();
        }
        if (room <= 0) {
          throw new KernelException(Errno.ENOSPC, "ext4: fallocate: no free block on " + dev);
        }
        if (d.ext.extents() >= ExtentTree.MAX_EXTENTS) {
          throw new KernelException(Errno.EFBIG, "ext4: fallocate: extent tree full");
        }
        long g = d.ext.goal(l);
        long p = alloc.allocRun(g != 0 ? g : goal, (int) Math.min(want, room));
        if (p == 0) {
          throw new KernelException(Errno.ENOSPC, "ext4: fallocate: no free block on " + dev);
        }
        int got = alloc.lastLen();
        d.ext.insert(l, p, got, true);
        goal = p + got;
        end = l + got;
      }
      l = end;
      if (sizeTo >= 0 && Math.min(sizeTo, l * BLOCK) > inode.size()) {
        inode.setSize(Math.min(sizeTo, l * BLOCK));
      }
    }
    return l;
  }

  /** Blocks of {@code inode} reserved by delayed allocation and not yet allocated. */
  public synchronized long delayedBlocks(Inode inode) {
    DInode d = byVfs.get(inode);
    return d == null ? 0 : d.delayed.blocks();
  }
}
