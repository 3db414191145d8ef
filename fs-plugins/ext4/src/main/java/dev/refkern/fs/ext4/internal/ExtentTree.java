package dev.refkern.fs.ext4.internal;

import static dev.refkern.fs.ext4.internal.Disk.BLOCK;
import static dev.refkern.fs.ext4.internal.Disk.le;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.function.LongFunction;
import java.util.function.LongPredicate;
import org.apiguardian.api.API;

/**
 * An inode's extent tree, {@code struct ext4_extent_header} over {@code struct ext4_extent} leaves
 * and {@code struct ext4_extent_idx} index nodes ({@code fs/ext4/ext4_extents.h}, {@code
 * fs/ext4/extents.c}, read at v6.6), of depth at most 2: the root in {@code i_block} (4 entries),
 * nodes of 340 entries and an {@code ext4_extent_tail} checksum.
 *
 * <p>In memory the extents are a sorted array (lookup by binary search, no allocation); the tree
 * nodes are rebuilt from it at {@link #encode} when it changed, reusing the node blocks it had, and
 * only changed nodes are written. Unwritten extents ({@code fallocate()}'s, {@code
 * EXT4_EXT_MARK_UNWRIT}) are stored as ext4 does: {@code ee_len} is 32768 plus the length, so an
 * unwritten extent holds at most 32767 blocks; they read as zeros until {@link #markWritten}.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class ExtentTree {
  /** {@code EXT4_EXT_MAGIC}. */
  public static final int MAGIC = 0xF30A;

  /** Deepest tree here (ext4 allows {@code EXT4_MAX_EXTENT_DEPTH} = 5). */
  public static final int MAX_DEPTH = 2;

  /** Entries in the root: {@code (sizeof(i_block) - 12) / 12}. */
  public static final int ROOT_MAX = 4;

  /** Entries in a node block, leaving 4 bytes for {@code ext4_extent_tail}. */
  public static final int NODE_MAX = (BLOCK - 12 - 4) / 12;

  /** {@code EXT_INIT_MAX_LEN}: the longest initialized extent. */
  public static final int MAX_LEN = 1 << 15;

  /** {@code EXT_UNWRITTEN_MAX_LEN}: the longest unwritten extent. */
  public static final int MAX_UNWRITTEN_LEN = MAX_LEN - 1;

  /** Extents a depth-2 tree holds; one more is {@code EFBIG}. */
  public static final long MAX_EXTENTS = (long) ROOT_MAX * NODE_MAX * NODE_MAX;

  /** {@code EXT4_EXTENTS_FL} in {@code i_flags}. */
  public static final int EXTENTS_FL = 0x80000;

  /** {@code i_flags} of {@code struct ext4_inode}. */
  public static final int I_FLAGS = 0x20;

  /** Device block allocation and writes for {@link #encode}. */
  public interface NodeIo {
    /** A free block for a tree node, or 0. */
    int alloc();

    void free(long blk);

    void write(long blk, byte[] data);
  }

  /** Receives each run of device blocks {@link #remove} unmaps. */
  @FunctionalInterface
  public interface FreeRun {
    void free(long pblk, int count);
  }

  private int n;
  private long[] lblk = new long[4];
  private long[] pblk = new long[4];
  private int[] len = new int[4];
  private boolean[] unw = new boolean[4]; // ext4_ext_is_unwritten()
  private int unwritten; // how many extents are unwritten
  private long[] nodes = new long[0]; // node blocks: leaves first, then index blocks
  private byte[][] written = new byte[0][]; // what each node block holds on disk
  private int depth;
  private boolean dirty;

  /** Extents in the tree. */
  public int extents() {
    return n;
  }

  /** {@code ext_depth()} as of the last {@link #encode} or decode. */
  public int depth() {
    return depth;
  }

  /** Node blocks (not counting the root in the inode). */
  public long[] nodeBlocks() {
    return nodes.clone();
  }

  /** Whether the tree changed since it was last encoded. */
  public boolean dirty() {
    return dirty;
  }

  /** The extent with the greatest start at or before {@code l}, or -1. */
  private int find(long l) {
    int lo = 0;
    int hi = n - 1;
    int at = -1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (lblk[mid] <= l) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return at;
  }

  /** {@code ext4_ext_map_blocks()} without create: the device block of {@code l}, or 0. */
  public long lookup(long l) {
    int i = find(l);
    return i >= 0 && l < lblk[i] + len[i] ? pblk[i] + (l - lblk[i]) : 0;
  }

  /** Whether block {@code l} is mapped by an unwritten extent (it reads as zeros). */
  public boolean isUnwritten(long l) {
    if (unwritten == 0) {
      return false;
    }
    int i = find(l);
    return i >= 0 && l < lblk[i] + len[i] && unw[i];
  }

  /** Whether any extent is unwritten: the common case of none costs nothing at writeback. */
  public boolean hasUnwritten() {
    return unwritten > 0;
  }

  /**
   * {@code ext4_ext_find_goal()}: where a block for {@code l} should go: after the extent before
   * it, or 0 if none.
   */
  public long goal(long l) {
    int i = find(l);
    return i >= 0 ? pblk[i] + (l - lblk[i]) : 0;
  }

  /** The end of the extent holding {@code l}, or {@code l} if it is unmapped. */
  public long runEnd(long l) {
    int i = find(l);
    return i >= 0 && l < lblk[i] + len[i] ? lblk[i] + len[i] : l;
  }

  /** Blocks mapped, summed over the extents. */
  public long blocks() {
    long b = 0;
    for (int i = 0; i < n; i++) {
      b += len[i];
    }
    return b;
  }

  /** The first mapped logical block after {@code l}, or {@code Long.MAX_VALUE}. */
  public long nextMapped(long l) {
    int i = find(l);
    return i + 1 < n ? lblk[i + 1] : Long.MAX_VALUE;
  }

  /**
   * {@code ext4_ext_insert_extent()}: maps {@code [l, l + count)}, unmapped before, to {@code [p, p
   * + count)}, merged with a neighbour when contiguous ({@code ext4_ext_try_to_merge()}).
   *
   * @throws KernelException {@code EFBIG} if a depth-2 tree cannot hold another extent
   */
  public void insert(long l, long p, int count) {
    insert(l, p, count, false);
  }

  /**
   * {@link #insert(long, long, int)}, as an unwritten extent if {@code uninit} ({@code
   * EXT4_GET_BLOCKS_UNWRIT_EXT}); only extents in the same state merge.
   */
  public void insert(long l, long p, int count, boolean uninit) {
    int max = uninit ? MAX_UNWRITTEN_LEN : MAX_LEN;
    int i = find(l);
    if (i >= 0
        && unw[i] == uninit
        && lblk[i] + len[i] == l
        && pblk[i] + len[i] == p
        && (long) len[i] + count <= max) {
      len[i] += count;
      mergeNext(i);
      dirty = true;
      return;
    }
    if (i + 1 < n
        && unw[i + 1] == uninit
        && l + count == lblk[i + 1]
        && p + count == pblk[i + 1]
        && (long) len[i + 1] + count <= max) {
      lblk[i + 1] = l;
      pblk[i + 1] = p;
      len[i + 1] += count;
      dirty = true;
      return;
    }
    if (n >= MAX_EXTENTS) {
      throw new KernelException(Errno.EFBIG, "ext4: extent tree full at depth " + MAX_DEPTH);
    }
    insertAt(i + 1, l, p, count, uninit);
  }

  /**
   * {@code ext4_convert_unwritten_extents()}: blocks {@code [from, to)} hold their data now, so the
   * unwritten extents over them become initialized, split at the ends and merged with initialized
   * neighbours ({@code ext4_split_convert_extents()}, {@code ext4_ext_try_to_merge()}).
   *
   * @throws KernelException {@code ENOSPC} if splitting needs an extent a full tree cannot hold
   */
  public void markWritten(long from, long to) {
    if (unwritten > 0) {
      convert(from, to, false);
    }
  }

  /**
   * {@code ext4_zero_range()}'s {@code EXT4_GET_BLOCKS_CONVERT_UNWRITTEN}: the mapped blocks of
   * {@code [from, to)} become unwritten, so they read as zeros without being written.
   *
   * @throws KernelException {@code ENOSPC} if splitting needs an extent a full tree cannot hold
   */
  public void markUnwritten(long from, long to) {
    convert(from, to, true);
  }

  private void convert(long from, long to, boolean uninit) {
    int i = Math.max(0, find(from));
    while (i < n && lblk[i] < to) {
      long s = lblk[i];
      long e = s + len[i];
      if (e <= from || unw[i] == uninit) {
        i++;
        continue;
      }
      long cutS = Math.max(s, from);
      long cutE = Math.min(e, to);
      if (uninit && cutE - cutS > MAX_UNWRITTEN_LEN) {
        cutE = cutS + MAX_UNWRITTEN_LEN; // the rest on the next turn
      }
      int extra = (cutS > s ? 1 : 0) + (cutE < e ? 1 : 0);
      if (n + extra > MAX_EXTENTS) {
        throw new KernelException(Errno.ENOSPC, "ext4: no room to split an extent");
      }
      long p = pblk[i];
      boolean was = unw[i];
      if (cutE < e) { // the tail keeps its state
        insertAt(i + 1, cutE, p + (cutE - s), (int) (e - cutE), was);
      }
      if (cutS > s) { // so does the head; the converted middle follows it
        len[i] = (int) (cutS - s);
        insertAt(i + 1, cutS, p + (cutS - s), (int) (cutE - cutS), uninit);
        i++;
      } else {
        len[i] = (int) (cutE - cutS);
        unw[i] = uninit;
        unwritten += uninit ? 1 : -1;
        dirty = true;
      }
      if (i > 0 && mergePrev(i)) {
        i--;
      }
      mergeNext(i);
      i++;
    }
  }

  /** Merges extent {@code i} into extent {@code i - 1} when contiguous and in one state. */
  private boolean mergePrev(int i) {
    int h = i - 1;
    if (unw[h] == unw[i]
        && lblk[h] + len[h] == lblk[i]
        && pblk[h] + len[h] == pblk[i]
        && (long) len[h] + len[i] <= (unw[i] ? MAX_UNWRITTEN_LEN : MAX_LEN)) {
      len[h] += len[i];
      deleteAt(i);
      return true;
    }
    return false;
  }

  private void mergeNext(int i) {
    if (i + 1 < n
        && unw[i] == unw[i + 1]
        && lblk[i] + len[i] == lblk[i + 1]
        && pblk[i] + len[i] == pblk[i + 1]
        && (long) len[i] + len[i + 1] <= (unw[i] ? MAX_UNWRITTEN_LEN : MAX_LEN)) {
      len[i] += len[i + 1];
      deleteAt(i + 1);
    }
  }

  private void insertAt(int at, long l, long p, int count, boolean uninit) {
    if (n == lblk.length) {
      lblk = Arrays.copyOf(lblk, n * 2);
      pblk = Arrays.copyOf(pblk, n * 2);
      len = Arrays.copyOf(len, n * 2);
      unw = Arrays.copyOf(unw, n * 2);
    }
    System.arraycopy(lblk, at, lblk, at + 1, n - at);
    System.arraycopy(pblk, at, pblk, at + 1, n - at);
    System.arraycopy(len, at, len, at + 1, n - at);
    System.arraycopy(unw, at, unw, at + 1, n - at);
    lblk[at] = l;
    pblk[at] = p;
    len[at] = count;
    unw[at] = uninit;
    unwritten += uninit ? 1 : 0;
    n++;
    dirty = true;
  }

  private void deleteAt(int at) {
    unwritten -= unw[at] ? 1 : 0;
    System.arraycopy(lblk, at + 1, lblk, at, n - at - 1);
    System.arraycopy(pblk, at + 1, pblk, at, n - at - 1);
    System.arraycopy(len, at + 1, len, at, n - at - 1);
    System.arraycopy(unw, at + 1, unw, at, n - at - 1);
    n--;
    dirty = true;
  }

  /**
   * {@code ext4_ext_remove_space()}: unmaps logical blocks {@code [from, to)}, handing each freed
   * run to {@code free}; an extent straddling both ends is split.
   *
   * @throws KernelException {@code ENOSPC} if splitting needs an extent a full tree cannot hold
   */
  public void remove(long from, long to, FreeRun free) {
    int i = Math.max(0, find(from));
    while (i < n && lblk[i] < to) {
      long s = lblk[i];
      long e = s + len[i];
      if (e <= from) {
        i++;
        continue;
      }
      long cutS = Math.max(s, from);
      long cutE = Math.min(e, to);
      if (cutS > s && cutE < e) { // a hole in the middle: split
        if (n >= MAX_EXTENTS) {
          throw new KernelException(Errno.ENOSPC, "ext4: no room to split an extent");
        }
        free.free(pblk[i] + (cutS - s), (int) (cutE - cutS));
        len[i] = (int) (cutS - s);
        insertAt(i + 1, cutE, pblk[i] + (cutE - s), (int) (e - cutE), unw[i]);
        return;
      }
      free.free(pblk[i] + (cutS - s), (int) (cutE - cutS));
      dirty = true;
      if (cutS == s && cutE == e) {
        deleteAt(i);
      } else if (cutS == s) {
        pblk[i] += cutE - s;
        lblk[i] = cutE;
        len[i] = (int) (e - cutE);
        i++;
      } else {
        len[i] = (int) (cutS - s);
        i++;
      }
    }
  }

  /** Calls {@code free} for every mapped run and every node block, emptying the tree. */
  public void freeAll(FreeRun free, NodeIo io) {
    for (int i = 0; i < n; i++) {
      free.free(pblk[i], len[i]);
    }
    for (long b : nodes) {
      io.free(b);
    }
    n = 0;
    unwritten = 0;
    nodes = new long[0];
    written = new byte[0][];
    depth = 0;
    dirty = true;
  }

  /** Extent {@code i} as {lblk, pblk, len, unwritten (1) or not (0)}, for checks. */
  long[] extentAt(int i) {
    return new long[] {lblk[i], pblk[i], len[i], unw[i] ? 1 : 0};
  }

  // ---------------------------------------------------------------- on disk

  /** Node blocks a tree of {@code extents} needs at the least depth that holds them. */
  static int nodesFor(int extents) {
    if (extents <= ROOT_MAX) {
      return 0;
    }
    int leaves = (extents + NODE_MAX - 1) / NODE_MAX;
    return leaves <= ROOT_MAX ? leaves : leaves + (leaves + NODE_MAX - 1) / NODE_MAX;
  }

  /**
   * Writes the tree: the root into the 60 bytes of {@code i_block} at {@code off} of {@code
   * inodeTable}, nodes through {@code io} (allocating or freeing node blocks as the depth needs,
   * writing only nodes that changed).
   *
   * @throws KernelException {@code ENOSPC} if no block is left for a node
   */
  public void encode(byte[] inodeTable, int off, NodeIo io) {
    int need = nodesFor(n);
    int have = nodes.length;
    if (need != have) {
      long[] nn = Arrays.copyOf(nodes, need);
      for (int k = have; k < need; k++) {
        int b = io.alloc();
        if (b == 0) {
          for (int j = have; j < k; j++) {
            io.free(nn[j]);
          }
          throw new KernelException(Errno.ENOSPC, "ext4: no block for an extent tree node");
        }
        nn[k] = b;
      }
      for (int k = need; k < have; k++) {
        io.free(nodes[k]);
      }
      nodes = nn;
      written = Arrays.copyOf(written, need);
    }
    ByteBuffer root = le(inodeTable);
    Arrays.fill(inodeTable, off, off + 60, (byte) 0);
    if (n <= ROOT_MAX) {
      depth = 0;
      header(root, off, n, ROOT_MAX, 0);
      for (int i = 0; i < n; i++) {
        extent(root, off + 12 + 12 * i, i);
      }
      dirty = false;
      return;
    }
    int leaves = (n + NODE_MAX - 1) / NODE_MAX;
    for (int k = 0; k < leaves; k++) {
      ByteBuffer b = le(new byte[BLOCK]);
      int first = k * NODE_MAX;
      int cnt = Math.min(NODE_MAX, n - first);
      header(b, 0, cnt, NODE_MAX, 0);
      for (int j = 0; j < cnt; j++) {
        extent(b, 12 + 12 * j, first + j);
      }
      writeNode(k, b.array(), io);
    }
    if (leaves <= ROOT_MAX) {
      depth = 1;
      header(root, off, leaves, ROOT_MAX, 1);
      for (int k = 0; k < leaves; k++) {
        index(root, off + 12 + 12 * k, lblk[k * NODE_MAX], nodes[k]);
      }
    } else {
      depth = 2;
      int idx = (leaves + NODE_MAX - 1) / NODE_MAX;
      for (int j = 0; j < idx; j++) {
        ByteBuffer b = le(new byte[BLOCK]);
        int first = j * NODE_MAX;
        int cnt = Math.min(NODE_MAX, leaves - first);
        header(b, 0, cnt, NODE_MAX, 1);
        for (int k = 0; k < cnt; k++) {
          index(b, 12 + 12 * k, lblk[(first + k) * NODE_MAX], nodes[first + k]);
        }
        writeNode(leaves + j, b.array(), io);
      }
      header(root, off, idx, ROOT_MAX, 2);
      for (int j = 0; j < idx; j++) {
        index(root, off + 12 + 12 * j, lblk[j * NODE_MAX * NODE_MAX], nodes[leaves + j]);
      }
    }
    dirty = false;
  }

  private void writeNode(int k, byte[] data, NodeIo io) {
    le(data).putInt(BLOCK - 4, Disk.crc(data, BLOCK - 4)); // ext4_extent_block_csum_set()
    if (!Arrays.equals(written[k], data)) {
      io.write(nodes[k], data);
      written[k] = data;
    }
  }

  private static void header(ByteBuffer b, int off, int entries, int max, int depth) {
    b.putShort(off, (short) MAGIC).putShort(off + 2, (short) entries);
    b.putShort(off + 4, (short) max).putShort(off + 6, (short) depth).putInt(off + 8, 0);
  }

  private void extent(ByteBuffer b, int off, int i) {
    b.putInt(off, (int) lblk[i]).putShort(off + 4, (short) (len[i] + (unw[i] ? MAX_LEN : 0)));
    b.putShort(off + 6, (short) (pblk[i] >>> 32)).putInt(off + 8, (int) pblk[i]);
  }

  private static void index(ByteBuffer b, int off, long l, long leaf) {
    b.putInt(off, (int) l).putInt(off + 4, (int) leaf).putShort(off + 8, (short) (leaf >>> 32));
  }

  /**
   * {@code ext4_ext_check_inode()} of the root at {@code off} of {@code inode}, then the node
   * checks {@code ext4_find_extent()} makes when it reads each node ({@code __ext4_ext_check()}:
   * magic, depth, {@code eh_max}, {@code eh_entries}, {@code ext4_valid_extent_entries()}, the tail
   * checksum), nodes read through {@code read}. A bad root is {@code iget}'s error and throws; a
   * bad node is found only when a block is mapped, so it is kept as {@link #bad()}, and the tree is
   * not to be mapped or changed.
   *
   * @param isData whether a device block may hold data or a node ({@code ext4_inode_block_valid()})
   * @throws KernelException {@code EUCLEAN} (EFSCORRUPTED) for a bad root, its message {@code
   *     "inode #N: pblk 0 bad header/extent: ..."} as {@code ext4_error_inode()} says it
   */
  public static ExtentTree decode(
      ByteBuffer inode, int off, long ino, LongFunction<byte[]> read, LongPredicate isData) {
    ExtentTree t = new ExtentTree();
    int rootDepth = inode.getShort(off + 6) & 0xffff;
    String why = checkNode(inode, off, ROOT_MAX, rootDepth, isData, t.n, -1);
    if (why != null) {
      throw corrupt(Errno.EUCLEAN, ino, 0, inode, off, ROOT_MAX, rootDepth, why);
    }
    t.depth = rootDepth;
    t.walk(inode, off, rootDepth, ino, read, isData, new long[] {-1});
    long[] leavesFirst = new long[t.nodes.length];
    int k = 0;
    for (int pass = 0; pass < 2; pass++) { // leaves first, as encode lays them out
      for (int i = 0; i < t.nodes.length; i++) {
        if ((t.nodeDepth[i] == 0) == (pass == 0)) {
          leavesFirst[k++] = t.nodes[i];
        }
      }
    }
    t.nodes = leavesFirst;
    t.written = new byte[t.nodes.length][]; // unknown: the first encode rewrites them
    t.nodeDepth = null;
    t.dirty = false;
    return t;
  }

  private int[] nodeDepth = new int[0];
  private KernelException bad;

  /**
   * The error {@code ext4_find_extent()} meets in a node block ({@code EUCLEAN}, also for a bad
   * checksum; {@code EIO}), or null. A tree with one maps nothing and must not change.
   */
  public KernelException bad() {
    return bad;
  }

  private void walk(
      ByteBuffer b,
      int off,
      int d,
      long ino,
      LongFunction<byte[]> read,
      LongPredicate isData,
      long[] last) {
    int entries = b.getShort(off + 2) & 0xffff;
    for (int i = 0; i < entries && bad == null; i++) {
      int e = off + 12 + 12 * i;
      if (d == 0) {
        long l = b.getInt(e) & 0xffffffffL;
        int c = b.getShort(e + 4) & 0xffff;
        boolean u = c > MAX_LEN; // ext4_ext_is_unwritten(), ext4_ext_get_actual_len()
        c = u ? c - MAX_LEN : c;
        long p = ((long) (b.getShort(e + 6) & 0xffff) << 32) | (b.getInt(e + 8) & 0xffffffffL);
        last[0] = l + c - 1;
        insertAt(n, l, p, c, u);
        continue;
      }
      long leaf = (b.getInt(e + 4) & 0xffffffffL) | ((long) (b.getShort(e + 8) & 0xffff) << 32);
      byte[] blk;
      try {
        blk = read.apply(leaf);
      } catch (KernelException x) {
        bad = x; // __read_extent_tree_block(): the read failed
        return;
      }
      ByteBuffer nb = le(blk);
      String why = checkNode(nb, 0, NODE_MAX, d - 1, isData, n, last[0]);
      if (why == null && nb.getInt(BLOCK - 4) != Disk.crc(blk, BLOCK - 4)) {
        // ext4_extent_block_csum_verify(); the kernel's EFSBADCRC (EBADMSG) is not in Errno
        why = "extent tree corrupted";
      }
      if (why != null) {
        bad = corrupt(Errno.EUCLEAN, ino, leaf, nb, 0, NODE_MAX, d - 1, why);
        return;
      }
      nodes = Arrays.copyOf(nodes, nodes.length + 1);
      nodes[nodes.length - 1] = leaf;
      nodeDepth = Arrays.copyOf(nodeDepth, nodeDepth.length + 1);
      nodeDepth[nodeDepth.length - 1] = d - 1;
      walk(nb, 0, d - 1, ino, read, isData, last);
    }
  }

  /**
   * {@code __ext4_ext_check()} of one node: its kernel error message, or null. Entries are checked
   * as {@code ext4_valid_extent_entries()} does: each extent of non-zero initialized length, inside
   * the data area and after the one before ({@code last}, across leaves), each index inside the
   * data area and after the one before.
   */
  private static String checkNode(
      ByteBuffer b, int off, int max, int depth, LongPredicate isData, int had, long last) {
    int magic = b.getShort(off) & 0xffff;
    int entries = b.getShort(off + 2) & 0xffff;
    int m = b.getShort(off + 4) & 0xffff;
    int d = b.getShort(off + 6) & 0xffff;
    if (magic != MAGIC) {
      return "invalid magic";
    }
    if (d != depth || d > MAX_DEPTH) {
      return d > MAX_DEPTH ? "too large eh_depth" : "unexpected eh_depth";
    }
    if (m == 0) {
      return "invalid eh_max";
    }
    if (m > max) {
      return "too large eh_max";
    }
    if (entries > m) {
      return "invalid eh_entries";
    }
    long prev = last;
    for (int i = 0; i < entries; i++) {
      int e = off + 12 + 12 * i;
      long l = b.getInt(e) & 0xffffffffL;
      if (d == 0) {
        int c = b.getShort(e + 4) & 0xffff;
        c = c > MAX_LEN ? c - MAX_LEN : c; // an unwritten extent's actual length
        long p = ((long) (b.getShort(e + 6) & 0xffff) << 32) | (b.getInt(e + 8) & 0xffffffffL);
        if (c == 0
            || c > MAX_LEN
            || l + c - 1 > 0xffffffffL
            || l <= prev
            || !isData.test(p)
            || !isData.test(p + c - 1)) {
          return "invalid extent entries";
        }
        prev = l + c - 1;
      } else {
        long leaf = (b.getInt(e + 4) & 0xffffffffL) | ((long) (b.getShort(e + 8) & 0xffff) << 32);
        if ((i > 0 && l <= prev) || !isData.test(leaf)) {
          return "invalid extent entries";
        }
        prev = l;
      }
    }
    if (d == 0 && (long) had + entries > MAX_EXTENTS) {
      return "invalid eh_entries";
    }
    return null;
  }

  /** The message of a {@link #decode} or {@link #bad()} error without its errno prefix. */
  static String why(KernelException x) {
    String m = x.getMessage();
    String p = x.errno() + ": ";
    return m.startsWith(p) ? m.substring(p.length()) : m;
  }

  private static KernelException corrupt(
      Errno errno, long ino, long pblk, ByteBuffer b, int off, int max, int depth, String why) {
    return new KernelException(
        errno,
        String.format(
            "inode #%d: pblk %d bad header/extent: %s - magic %x, entries %d, max %d(%d), depth"
                + " %d(%d)",
            ino,
            pblk,
            why,
            b.getShort(off) & 0xffff,
            b.getShort(off + 2) & 0xffff,
            b.getShort(off + 4) & 0xffff,
            max,
            b.getShort(off + 6) & 0xffff,
            depth));
  }
}
