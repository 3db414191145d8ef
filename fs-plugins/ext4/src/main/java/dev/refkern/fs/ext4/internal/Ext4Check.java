package dev.refkern.fs.ext4.internal;

import static dev.refkern.fs.ext4.internal.Disk.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.KernelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * {@code e2fsck -n} of an image file ({@code e2fsprogs}' passes 1, 2, 4 and 5, cut down): block
 * maps (extent trees: header magic, depth, entry counts, node checksums, order) against the block
 * bitmap and each other, the orphan list, directory entries against the inode bitmap, link counts,
 * free counts.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class Ext4Check {
  private Ext4Check() {}

  /** The problems found in the image {@code source}, one string each; empty when clean. */
  public static List<String> check(String source) {
    List<String> problems = new ArrayList<>();
    try (FileChannel ch = FileChannel.open(Path.of(source), StandardOpenOption.READ)) {
      Disk.Super s;
      byte[] block0 = block(ch, 0);
      try {
        s = decodeSuper(block0, source, ch.size() / BLOCK);
      } catch (KernelException e) {
        problems.add(e.getMessage());
        return problems;
      }
      if ((Ext4Errors.state(block0) & Ext4Errors.ERROR_FS) != 0) {
        problems.add("superblock: the filesystem has errors (s_state ERROR_FS), check forced");
      }
      long[] jnl;
      try {
        jnl = Journal.locate(block(ch, 0), s.geo(), source);
      } catch (KernelException e) {
        problems.add(e.getMessage());
        jnl = new long[] {0, 0};
      }
      if (jnl[1] > 0 && Journal.needsRecovery(block(ch, jnl[0]))) {
        problems.add("journal needs recovery"); // e2fsck: the needs_recovery flag is set
      }
      Pass p = new Pass(ch, s.geo(), problems);
      p.journal = jnl;
      p.run(s);
    } catch (IOException e) {
      problems.add("cannot read " + source + ": " + e.getMessage());
    }
    return problems;
  }

  private static final class Pass {
    final FileChannel ch;
    final Geometry geo;
    final List<String> problems;
    final byte[][] bbm;
    final byte[][] ibm;
    final long[] owner; // block -> inode that maps it
    final int[] refs; // inode -> directory entries naming it (and ".." of subdirectories)
    long[] journal = {0, 0}; // the journal's area, owned by inode 8

    Pass(FileChannel ch, Geometry geo, List<String> problems) {
      this.ch = ch;
      this.geo = geo;
      this.problems = problems;
      bbm = new byte[geo.groups()][];
      ibm = new byte[geo.groups()][];
      owner = new long[(int) geo.blocks()];
      refs = new int[(int) geo.inodes() + 1];
    }

    boolean inUse(long ino) {
      int g = (int) ((ino - 1) / geo.inodesPerGroup());
      return testBit(ibm[g], (ino - 1) % geo.inodesPerGroup());
    }

    ByteBuffer inode(long ino) throws IOException {
      byte[] t = block(ch, geo.inodeBlock(ino));
      int off = Geometry.inodeOffset(ino);
      return le(java.util.Arrays.copyOfRange(t, off, off + INODE_SIZE));
    }

    /**
     * The file's blocks in order (0 for holes), its indirect block last; for an extent tree its
     * data blocks, then its node blocks (a corrupt tree is reported and owns nothing).
     */
    long[] blocks(long ino, ByteBuffer in) throws IOException {
      if ((in.getInt(ExtentTree.I_FLAGS) & ExtentTree.EXTENTS_FL) != 0) {
        return extentBlocks(ino, in);
      }
      long[] out = new long[NDIR + PER_INDIRECT + 1];
      for (int i = 0; i < NDIR; i++) {
        out[i] = in.getInt(I_BLOCK + 4 * i) & 0xffffffffL;
      }
      long ind = in.getInt(I_BLOCK + 4 * NDIR) & 0xffffffffL;
      out[NDIR + PER_INDIRECT] = ind;
      if (ind != 0 && geo.isData(ind)) {
        ByteBuffer ib = le(block(ch, ind));
        for (int i = 0; i < PER_INDIRECT; i++) {
          out[NDIR + i] = ib.getInt(4 * i) & 0xffffffffL;
        }
      }
      return out;
    }

    long[] extentBlocks(long ino, ByteBuffer in) throws IOException {
      ExtentTree t;
      try {
        t =
            ExtentTree.decode(
                in,
                I_BLOCK,
                ino,
                blk -> {
                  try {
                    return block(ch, blk);
                  } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                  }
                },
                geo::isData);
      } catch (KernelException e) {
        problems.add("inode " + ino + ": extent tree: " + ExtentTree.why(e));
        return new long[0];
      } catch (java.io.UncheckedIOException e) {
        throw e.getCause();
      }
      if (t.bad() != null) {
        problems.add("inode " + ino + ": extent tree: " + ExtentTree.why(t.bad()));
        return new long[0];
      }
      long n = 0;
      for (int i = 0; i < t.extents(); i++) {
        n += t.extentAt(i)[2];
      }
      long[] nodes = t.nodeBlocks();
      long[] out = new long[(int) Math.min(n + nodes.length, geo.blocks() + nodes.length)];
      int k = 0;
      for (int i = 0; i < t.extents() && k < out.length - nodes.length; i++) {
        long[] e = t.extentAt(i);
        for (long j = 0; j < e[2] && k < out.length - nodes.length; j++) {
          out[k++] = e[1] + j;
        }
      }
      System.arraycopy(nodes, 0, out, k, nodes.length);
      return out;
    }

    /** {@code s_last_orphan}'s chain through {@code i_dtime}, reporting a bad or looping one. */
    java.util.Set<Long> orphans() throws IOException {
      java.util.Set<Long> out = new java.util.HashSet<>();
      long ino = Disk.lastOrphan(block(ch, 0));
      while (ino != 0) {
        if (ino < FIRST_INO || ino > geo.inodes() || !inUse(ino)) {
          problems.add("orphan list: inode " + ino + " is not an inode in use");
          break;
        }
        if (!out.add(ino)) {
          problems.add("orphan list: loops at inode " + ino);
          break;
        }
        ino = inode(ino).getInt(I_DTIME) & 0xffffffffL;
      }
      return out;
    }

    void run(Disk.Super s) throws IOException {
      ByteBuffer gdt = le(block(ch, 1));
      long freeB = 0;
      long freeI = 0;
      for (int g = 0; g < geo.groups(); g++) {
        bbm[g] = block(ch, geo.blockBitmap(g));
        ibm[g] = block(ch, geo.inodeBitmap(g));
        int fb = 0;
        for (long b = geo.groupStart(g); b < geo.groupEnd(g); b++) {
          fb += testBit(bbm[g], b - geo.groupStart(g)) ? 0 : 1;
        }
        int fi = 0;
        for (int i = 0; i < geo.inodesPerGroup(); i++) {
          fi += testBit(ibm[g], i) ? 0 : 1;
        }
        if (gdt.getInt(g * GD_SIZE + 12) != fb || gdt.getInt(g * GD_SIZE + 16) != fi) {
          problems.add("group " + g + ": free counts in its descriptor differ from its bitmaps");
        }
        freeB += fb;
        freeI += fi;
      }
      if (s.freeBlocks() != freeB || s.freeInodes() != freeI) {
        problems.add(
            "superblock: free counts "
                + s.freeBlocks()
                + "/"
                + s.freeInodes()
                + ", bitmaps say "
                + freeB
                + "/"
                + freeI);
      }
      for (long b = journal[0]; b < journal[0] + journal[1]; b++) {
        owner[(int) b] = Journal.JOURNAL_INO;
        if (!testBit(bbm[0], b)) {
          problems.add("journal block " + b + " is free in the block bitmap");
        }
      }
      // pass 1: every inode in use, its blocks
      Map<Long, Integer> links = new HashMap<>();
      java.util.Set<Long> orphans = orphans();
      for (long ino = 1; ino <= geo.inodes(); ino++) {
        if (!inUse(ino) || (ino < FIRST_INO && ino != ROOT_INO)) {
          continue;
        }
        ByteBuffer in = inode(ino);
        int nlink = in.getShort(I_LINKS) & 0xffff;
        links.put(ino, nlink);
        if (nlink == 0 && !orphans.contains(ino)) { // an orphan is freed at the next mount
          problems.add("inode " + ino + ": in use with no links");
          continue;
        }
        for (long b : blocks(ino, in)) {
          if (b == 0) {
            continue;
          }
          if (!geo.isData(b)) {
            problems.add("inode " + ino + ": block " + b + " is not a data block");
            continue;
          }
          if (owner[(int) b] != 0) {
            problems.add("block " + b + " owned by inodes " + owner[(int) b] + " and " + ino);
            continue;
          }
          owner[(int) b] = ino;
          int g = (int) (b / geo.blocksPerGroup());
          if (!testBit(bbm[g], b - geo.groupStart(g))) {
            problems.add("block " + b + " of inode " + ino + " is free in the block bitmap");
          }
        }
      }
      // pass 5: bitmap bits nobody owns
      for (long b = 0; b < geo.blocks(); b++) {
        int g = (int) (b / geo.blocksPerGroup());
        if (geo.isData(b) && owner[(int) b] == 0 && testBit(bbm[g], b - geo.groupStart(g))) {
          problems.add("block " + b + " is used in the block bitmap but owned by no inode");
        }
      }
      // pass 2: the tree from the root
      if (!links.containsKey((long) ROOT_INO)) {
        problems.add("root inode 2 is not in use");
        return;
      }
      refs[ROOT_INO] = 1; // its own ".." in place of a parent's entry
      ArrayDeque<Long> dirs = new ArrayDeque<>();
      dirs.add((long) ROOT_INO);
      boolean[] visited = new boolean[refs.length];
      visited[ROOT_INO] = true;
      while (!dirs.isEmpty()) {
        long d = dirs.poll();
        ByteBuffer in = inode(d);
        if ((in.getShort(I_MODE) & Inode.S_IFMT) != Inode.S_IFDIR) {
          problems.add("inode " + d + ": named as a directory but is not one");
          continue;
        }
        refs[(int) d]++; // its "."
        long[] bl = blocks(d, in);
        long size = in.getInt(I_SIZE_LO) & 0xffffffffL;
        // a directory with a bad EXTENTS_FL tree (reported in pass 1) has no blocks to read
        for (int i = 0; i < size / BLOCK && i < NDIR && i < bl.length; i++) {
          if (bl[i] == 0 || !geo.isData(bl[i])) {
            continue;
          }
          byte[] blk = block(ch, bl[i]);
          for (int off = 0; off < BLOCK; ) {
            Dirent e = dirent(blk, off);
            if (e == null) {
              problems.add("directory " + d + ": bad entry at block " + i + " offset " + off);
              break;
            }
            off += e.recLen();
            if (e.ino() == 0 || e.name().equals(".") || e.name().equals("..")) {
              continue;
            }
            if (e.ino() > geo.inodes() || !links.containsKey(e.ino())) {
              problems.add(
                  "directory " + d + ": entry '" + e.name() + "' points at free inode " + e.ino());
              continue;
            }
            refs[(int) e.ino()]++;
            if (e.fileType() == FT_DIR) {
              refs[(int) d]++; // the child's ".."
              if (!visited[(int) e.ino()]) {
                visited[(int) e.ino()] = true;
                dirs.add(e.ino());
              }
            }
          }
        }
      }
      // pass 4: link counts
      for (Map.Entry<Long, Integer> e : links.entrySet()) {
        long ino = e.getKey();
        if (e.getValue() != 0 && e.getValue() != refs[(int) ino]) {
          problems.add(
              "inode " + ino + ": link count " + e.getValue() + ", found " + refs[(int) ino]);
        }
      }
    }
  }

  static byte[] block(FileChannel ch, long blk) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(BLOCK);
    while (b.hasRemaining() && ch.read(b, blk * BLOCK + b.position()) >= 0) {}
    return b.array();
  }
}
