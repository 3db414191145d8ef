package dev.refkern.fs.xfs.internal;

import static dev.refkern.fs.xfs.internal.Fmt.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.xfs.internal.Fmt.Dirent;
import dev.refkern.fs.xfs.internal.Fmt.Ext;
import dev.refkern.fs.xfs.internal.Fmt.Free;
import dev.refkern.fs.xfs.internal.Fmt.Geo;
import dev.refkern.fs.xfs.internal.Fmt.Refc;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * {@code xfs_repair -n} of an image file (its phases 2 to 7, cut down): the superblock; per AG the
 * AGF against its bnobt and cntbt (sorted, merged, the same extents, the counts right) and the AGI;
 * every in-use inode's core and extents against the free space (no block free and used, none used
 * twice unless the refcountbt says it is shared that many times, every refcount record matching the
 * owners, no COW staging extent left, none lost); directory entries against the AGI, link counts,
 * parents. One string per problem.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class XfsCheck {
  private XfsCheck() {}

  private static final long FREE = -1;
  private static final long META = -2;

  /**
   * One AG's free-space records against each other and the AGF ({@code agf}: freeblks, numrecs,
   * longest): null if they agree.
   */
  public static String freeSpaceProblem(Geo g, int ag, long[] agf, List<Free> bno, List<Free> cnt) {
    long total = 0;
    long longest = 0;
    long prevEnd = -1;
    for (Free f : bno) {
      if (f.len() < 1
          || f.start() < g.dataStart(ag)
          || f.start() + f.len() > g.agStart(ag) + g.agLen(ag)) {
        return "bnobt of AG " + ag + ": record " + f + " out of range";
      }
      if (f.start() <= prevEnd) {
        return "bnobt of AG " + ag + ": record " + f + " out of order, overlapping or not merged";
      }
      prevEnd = f.start() + f.len();
      total += f.len();
      longest = Math.max(longest, f.len());
    }
    List<Free> sorted = new ArrayList<>(bno);
    sorted.sort(
        (a, b) ->
            a.len() != b.len()
                ? Long.compare(a.len(), b.len())
                : Long.compare(a.start(), b.start()));
    if (!sorted.equals(cnt)) {
      return "AG " + ag + ": bnobt and cntbt disagree";
    }
    if (agf[0] != total || agf[1] != bno.size() || agf[2] != longest) {
      return "AGF of AG " + ag + ": freeblks " + agf[0] + " != " + total + " in the bnobt";
    }
    return null;
  }

  /** The problems found in the image {@code source}; empty when clean. */
  public static List<String> check(String source) {
    List<String> problems = new ArrayList<>();
    try (FileChannel ch = FileChannel.open(Path.of(source), StandardOpenOption.READ)) {
      new Run(ch, source, problems).go();
    } catch (IOException e) {
      problems.add("cannot read " + source + ": " + e.getMessage());
    }
    return problems;
  }

  private static final class Run {
    final FileChannel ch;
    final String dev;
    final List<String> problems;
    Geo g;
    long[] owner; // per block: FREE, META, an inode, or 0 for nothing yet
    int[] owners; // per block: data-fork mappings of it
    long[] refcount; // per block: its refcountbt count, 0 without a record
    long[][] masks;
    final Map<Long, Integer> modes = new HashMap<>();
    final Map<Long, Integer> nlinks = new HashMap<>();
    final Map<Long, Long> parents = new HashMap<>();
    final Map<Long, List<Ext>> forks = new HashMap<>();

    Run(FileChannel ch, String dev, List<String> problems) {
      this.ch = ch;
      this.dev = dev;
      this.problems = problems;
    }

    void go() throws IOException {
      try {
        g = decodeSuper(block(0), dev, ch.size() / BLOCK);
      } catch (KernelException e) {
        problems.add(e.getMessage());
        return;
      }
      if (logNeedsRecovery()) {
        return; // the blocks in place are not the filesystem until the log is replayed
      }
      owner = new long[(int) g.dblocks()];
      owners = new int[(int) g.dblocks()];
      refcount = new long[(int) g.dblocks()];
      masks = new long[g.agcount()][];
      for (int ag = 0; ag < g.agcount(); ag++) {
        for (long b = g.agStart(ag); b < g.dataStart(ag); b++) {
          owner[(int) b] = META;
        }
      }
      for (long b = g.logstart(); b < g.logstart() + g.logblocks(); b++) {
        owner[(int) b] = META;
      }
      for (int ag = 0; ag < g.agcount(); ag++) {
        freeSpace(ag);
        try {
          masks[ag] = decodeAgi(g, ag, block(g.agi(ag)), dev);
        } catch (KernelException e) {
          problems.add(e.getMessage());
          masks[ag] = null;
        }
      }
      for (int ag = 0; ag < g.agcount(); ag++) {
        refcounts(ag);
      }
      inodes();
      for (int b = 0; b < owner.length; b++) {
        long want = refcount[b] == 0 ? 1 : refcount[b];
        if (owners[b] > 0 && owners[b] != want) {
          problems.add(
              owners[b] > 1 && refcount[b] == 0
                  ? "block " + b + " is used twice (" + owners[b] + " mappings, no refcount)"
                  : "block " + b + " has " + owners[b] + " owners but refcount " + want);
        } else if (owners[b] == 0 && refcount[b] > 0) {
          problems.add("block " + b + " has refcount " + refcount[b] + " but no owner");
        }
      }
      for (int b = 0; b < owner.length; b++) {
        if (owner[b] == 0) {
          problems.add("block " + b + " is neither free nor used (lost)");
        }
      }
      namespace();
      ByteBuffer sb = be(block(0));
      long used = 0;
      for (long[] m : masks) {
        if (m != null) {
          for (long x : m) {
            used += CHUNK - Long.bitCount(x);
          }
        }
      }
      if (sb.getLong(64) != used) {
        problems.add("superblock: icount " + sb.getLong(64) + " != " + used + " inodes in use");
      }
    }

    void freeSpace(int ag) throws IOException {
      try {
        long[] agf = decodeAgf(g, ag, block(g.agf(ag)), dev);
        List<byte[]> bb = new ArrayList<>();
        List<byte[]> cb = new ArrayList<>();
        for (int i = 0; i < g.idxBlocks(); i++) {
          bb.add(block(g.bno(ag) + i));
          cb.add(block(g.cnt(ag) + i));
        }
        List<Free> bno = decodeRecs(g, ag, BNO_MAGIC, bb, dev);
        List<Free> cnt = decodeRecs(g, ag, CNT_MAGIC, cb, dev);
        String bad = freeSpaceProblem(g, ag, agf, bno, cnt);
        if (bad != null) {
          problems.add(bad);
        }
        for (Free f : bno) {
          for (long b = f.start(); b < f.start() + f.len() && b < owner.length; b++) {
            if (b >= 0 && owner[(int) b] == META) {
              problems.add("block " + b + " is free in AG " + ag + " but holds metadata");
            } else if (b >= 0) {
              owner[(int) b] = FREE;
            }
          }
        }
      } catch (KernelException e) {
        problems.add(e.getMessage());
      }
    }

    /** The refcountbt: shared records and no COW staging extent left ({@code xfs_repair}). */
    void refcounts(int ag) throws IOException {
      try {
        List<byte[]> rb = new ArrayList<>();
        for (int i = 0; i < g.refBlocks(); i++) {
          rb.add(block(g.refc(ag) + i));
        }
        long prevEnd = -1;
        for (Refc r : decodeRefcount(g, ag, rb, dev)) {
          if (r.cow()) {
            problems.add("refcountbt of AG " + ag + ": leftover COW staging extent " + r);
            for (long b = r.start(); b < r.start() + r.len(); b++) {
              if (owner[(int) b] == 0) {
                owner[(int) b] = META; // not lost: repair would free it
              }
            }
            continue;
          }
          if (r.start() < prevEnd) {
            problems.add("refcountbt of AG " + ag + ": record " + r + " out of order");
          }
          prevEnd = r.start() + r.len();
          for (long b = r.start(); b < prevEnd; b++) {
            refcount[(int) b] = r.refcount();
          }
        }
      } catch (KernelException e) {
        problems.add(e.getMessage());
      }
    }

    boolean inUse(long ino) {
      long[] m = masks[g.inoAg(ino)];
      int idx = g.inoIdx(ino);
      return m != null && (m[idx / CHUNK] & (1L << (idx % CHUNK))) == 0;
    }

    void inodes() throws IOException {
      for (int ag = 0; ag < g.agcount(); ag++) {
        if (masks[ag] == null) {
          continue;
        }
        for (int ib = 0; ib < g.ipag() / INOPB; ib++) {
          byte[] t = block(g.itable(ag) + ib);
          for (int j = 0; j < INOPB; j++) {
            long ino = g.ino(ag, ib * INOPB + j);
            int off = j * INODE_SIZE;
            ByteBuffer b = be(t);
            int mode = b.getShort(off + DI_MODE) & 0xffff;
            if (!inUse(ino)) {
              if (mode != 0) {
                problems.add(
                    "inode "
                        + ino
                        + " is free in the AGI but has mode "
                        + Integer.toOctalString(mode));
              }
              continue;
            }
            inode(ino, t, off, mode);
          }
        }
      }
    }

    void inode(long ino, byte[] t, int off, int mode) throws IOException {
      ByteBuffer b = be(t);
      int type = mode & Inode.S_IFMT;
      if (b.getShort(off) != DI_MAGIC
          || !inodeSealed(t, off)
          || b.getLong(off + DI_INO) != ino
          || (type != Inode.S_IFREG && type != Inode.S_IFDIR)) {
        problems.add("inode " + ino + " is in use in the AGI but its core is bad");
        return;
      }
      modes.put(ino, mode);
      nlinks.put(ino, b.getInt(off + DI_NLINK));
      parents.put(ino, b.getLong(off + DI_PARENT));
      int fmt = t[off + DI_FORMAT];
      int n = b.getInt(off + DI_NEXTENTS);
      List<Ext> exts = new ArrayList<>();
      if (fmt == FMT_EXTENTS && n >= 0 && n <= INLINE_EXTENTS) {
        for (int i = 0; i < n; i++) {
          exts.add(getExt(b, off + DI_FORK + 16 * i));
        }
      } else if (fmt == FMT_BTREE) {
        int nl = b.getInt(off + DI_FORK);
        for (int i = 0; i < nl && i < MAX_LEAVES; i++) {
          long leaf = b.getLong(off + DI_FORK + 8 + 8 * i);
          if (leaf < 0 || leaf >= g.dblocks()) {
            problems.add("inode " + ino + ": bmbt block " + leaf + " out of range");
            continue;
          }
          own(leaf, 1, ino);
          List<Ext> recs = decodeLeaf(ino, block(leaf));
          if (recs == null) {
            problems.add("inode " + ino + ": bmbt block " + leaf + " is corrupt");
          } else {
            exts.addAll(recs);
          }
        }
        if (exts.size() != n) {
          problems.add("inode " + ino + ": " + n + " extents recorded, " + exts.size() + " found");
        }
      } else {
        problems.add("inode " + ino + ": bad data fork format " + fmt + " or count " + n);
      }
      long prevEnd = 0;
      long blocks = 0;
      for (Ext e : exts) {
        if (e.len() < 1 || e.off() < prevEnd || e.blk() < 0 || e.blk() + e.len() > g.dblocks()) {
          problems.add("inode " + ino + ": bad extent " + e);
          continue;
        }
        prevEnd = e.end();
        blocks += e.len();
        own(e.blk(), e.len(), ino);
      }
      if (b.getLong(off + DI_NBLOCKS)
          != blocks + (fmt == FMT_BTREE ? b.getInt(off + DI_FORK) : 0)) {
        problems.add("inode " + ino + ": nblocks " + b.getLong(off + DI_NBLOCKS) + " wrong");
      }
      forks.put(ino, exts);
    }

    void own(long blk, long len, long ino) {
      for (long x = blk; x < blk + len; x++) {
        long o = owner[(int) x];
        if (o == FREE) {
          problems.add("block " + x + " is free in the bnobt but used by inode " + ino);
        } else if (o == META) {
          problems.add("block " + x + " holds AG metadata or the log but is used by inode " + ino);
        }
        owner[(int) x] = ino;
        owners[(int) x]++;
      }
    }

    void namespace() throws IOException {
      Map<Long, Integer> refs = new HashMap<>();
      Set<Long> seen = new HashSet<>();
      ArrayDeque<Long> dirs = new ArrayDeque<>();
      long root = g.rootino();
      if (!modes.containsKey(root) || (modes.get(root) & Inode.S_IFMT) != Inode.S_IFDIR) {
        problems.add("root inode " + root + " is not an in-use directory");
        return;
      }
      dirs.add(root);
      seen.add(root);
      refs.merge(root, 2, Integer::sum); // its "." and the root's ".."
      while (!dirs.isEmpty()) {
        long d = dirs.poll();
        for (Ext e : forks.getOrDefault(d, List.of())) {
          for (long i = 0; i < e.len(); i++) {
            List<Dirent> ents = decodeDir(d, block(e.blk() + i));
            if (ents == null) {
              problems.add("directory inode " + d + ": block " + (e.blk() + i) + " is corrupt");
              continue;
            }
            for (Dirent de : ents) {
              long c = de.ino();
              if (!g.validIno(c) || !modes.containsKey(c)) {
                problems.add(
                    "directory inode "
                        + d
                        + ": entry '"
                        + de.name()
                        + "' points at free inode "
                        + c);
                continue;
              }
              boolean isDir = (modes.get(c) & Inode.S_IFMT) == Inode.S_IFDIR;
              if ((de.ftype() == FT_DIR) != isDir) {
                problems.add(
                    "directory inode " + d + ": entry '" + de.name() + "' has the wrong file type");
              }
              if (isDir) {
                refs.merge(d, 1, Integer::sum); // the child's ".."
                refs.merge(c, 2, Integer::sum);
                if (!seen.add(c)) {
                  problems.add("directory inode " + c + " has more than one name");
                  continue;
                }
                if (parents.get(c) != d) {
                  problems.add("directory inode " + c + ": parent " + parents.get(c) + " != " + d);
                }
                dirs.add(c);
              } else {
                refs.merge(c, 1, Integer::sum);
                seen.add(c);
              }
            }
          }
        }
      }
      for (Map.Entry<Long, Integer> e : nlinks.entrySet()) {
        long ino = e.getKey();
        int want = refs.getOrDefault(ino, 0);
        if (!seen.contains(ino) && e.getValue() == 0) {
          continue; // on the unlinked list: mount frees it
        }
        if (!seen.contains(ino)) {
          problems.add(
              "inode " + ino + " is in use with " + e.getValue() + " links but unreachable");
        } else if (e.getValue() != want) {
          problems.add("inode " + ino + ": link count " + e.getValue() + " != " + want);
        }
      }
    }

    /**
     * {@code xfs_repair -n} on a dirty log: "the filesystem has valuable metadata changes in a log
     * which needs to be replayed"; it checks nothing else.
     */
    boolean logNeedsRecovery() throws IOException {
      ByteBuffer area = ByteBuffer.allocate(Math.toIntExact(g.logblocks() * (long) BLOCK));
      long at = g.logstart() * BLOCK;
      while (area.hasRemaining() && ch.read(area, at + area.position()) >= 0) {}
      try {
        if (!XfsLog.needsRecovery(area.array(), g.logstart(), BLOCK)) {
          return false;
        }
        problems.add("log needs recovery: mount the filesystem to replay it");
      } catch (KernelException e) {
        problems.add("log: " + e.getMessage());
      }
      return true;
    }

    byte[] block(long blk) throws IOException {
      ByteBuffer b = ByteBuffer.allocate(BLOCK);
      while (b.hasRemaining() && ch.read(b, blk * BLOCK + b.position()) >= 0) {}
      return b.array();
    }
  }
}
