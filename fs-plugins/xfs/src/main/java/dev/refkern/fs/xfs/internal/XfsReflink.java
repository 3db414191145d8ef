package dev.refkern.fs.xfs.internal;

import static dev.refkern.fs.xfs.internal.Fmt.BLOCK;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.xfs.internal.Fmt.Ext;
import dev.refkern.fs.xfs.internal.XfsMount.DInode;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.vm.Filemap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * Reflink and copy on write, {@code fs/xfs/xfs_reflink.c} with {@code fs/remap_range.c} and the COW
 * paths of {@code xfs_iomap.c} (read at v6.6). A clone ({@link #remap}) maps the source's extents
 * into the destination and raises their refcounts ({@link XfsRefcount}); a write to a shared block
 * reserves delayed blocks in the inode's COW fork ({@code xfs_reflink_allocate_cow()}), writeback
 * allocates them as COW staging extents (recorded in the refcountbt, so mount frees them after a
 * crash) and writes there, and I/O completion remaps them into the data fork, dropping the old
 * blocks' refcount ({@code xfs_reflink_end_cow()}). Direct writes to shared blocks allocate the COW
 * extent at once and remap at completion, as XFS does.
 *
 * <p><b>A long-term pinned page of a file whose blocks become shared.</b> Mainline sets COW up only
 * when a write is seen: {@code write()} or {@code ->page_mkwrite} ({@code xfs_filemap_page_mkwrite}
 * → {@code xfs_buffered_write_iomap_begin}); {@code xfs_map_blocks()} at writeback takes the COW
 * fork if it has an extent, else the data fork, without looking at sharing. A device writing a
 * {@code FOLL_LONGTERM|FOLL_WRITE}-pinned {@code MAP_SHARED} page raises no fault, so after the
 * file is cloned (the clone's prep cleaned the page) the DMA-dirtied page has no COW reservation
 * and mainline writes the device's data into the shared block: the clone changes. Here {@code
 * map_blocks} ({@link #mapCow}) deviates: a shared block without a COW extent gets one at
 * writeback, so the data goes to new blocks, remapped into the pinned file at completion, and the
 * other file keeps the old block. The page itself stays the DMA target and stays in its file's page
 * cache; with {@code pinned_writeback=bounce} (this plugin's default) a copy of it is written, with
 * {@code ignore} the page, with {@code skip} the folio stays dirty until it is unpinned, with
 * {@code wait} writeback waits for the unpin — in each case to the new blocks.
 *
 * <p>The clone's destination range is written back and dropped from its page cache ({@code
 * xfs_flush_unmap_range()} → {@code truncate_pagecache_range()}) through mm-core's truncate, so its
 * {@code truncate.pinned=} policy decides a pinned destination page: removed from the file (the
 * device keeps writing a page the file no longer has, and those writes never reach the file) or
 * what the policy says instead.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class XfsReflink {
  private final XfsMount m;

  XfsReflink(XfsMount m) {
    this.m = m;
  }

  // ---------------------------------------------------------------- remap

  /**
   * {@code xfs_file_remap_range()}: both inodes locked in inode-number order ({@code
   * xfs_ilock2_io_mmap()}), {@code xfs_reflink_remap_prep()}, {@code xfs_reflink_remap_blocks()}
   * and {@code xfs_reflink_update_dest()}. O(extents) in the range.
   *
   * @return the bytes remapped
   * @throws KernelException {@code EOPNOTSUPP} without reflink, the prep's {@code EINVAL}/{@code
   *     EFBIG}, {@code ENOSPC}, {@code EIO}
   */
  public long remap(Inode src, long posIn, Inode dst, long posOut, long len) {
    m.checkAlive();
    if (!m.hasReflink()) {
      throw new KernelException(Errno.EOPNOTSUPP, "XFS (" + m.dev() + "): reflink is off");
    }
    Inode first = src.ino() <= dst.ino() ? src : dst;
    Inode second = first == src ? dst : src;
    synchronized (first) {
      synchronized (second) {
        long n = FileOperations.remapFileRangePrep(src, posIn, dst, posOut, len, BLOCK);
        if (n == 0) {
          return 0;
        }
        long blocks = (n + BLOCK - 1) / BLOCK;
        // xfs_flush_unmap_range(): written back by the prep; now out of the page cache
        m.sb
            .vm()
            .truncate()
            .truncateInodePagesRange(
                dst.mapping(),
                posOut / Page.PAGE_SIZE,
                (posOut + blocks * BLOCK - 1) / Page.PAGE_SIZE);
        synchronized (m) {
          m.checkAlive();
          remapBlocks(src, posIn / BLOCK, dst, posOut / BLOCK, blocks);
        }
        if (posOut + n > dst.size()) { // xfs_reflink_update_dest()
          dst.setSize(posOut + n);
        }
        dst.touchModified();
        return n;
      }
    }
  }

  /** {@code xfs_reflink_remap_blocks()}: each source extent mapped at the destination. */
  private void remapBlocks(Inode src, long sB, Inode dst, long dB, long blocks) {
    DInode sd = m.byVfs.get(src);
    List<Ext> pieces = new ArrayList<>();
    if (sd != null) {
      Long fk = sd.data.floorKey(sB);
      for (Ext e : sd.data.subMap(fk == null ? sB : fk, sB + blocks).values()) {
        long s = Math.max(sB, e.off());
        long t = Math.min(sB + blocks, e.end());
        if (s < t) {
          pieces.add(XfsMount.clip(e, s, t));
        }
      }
    }
    DInode dd = m.dinode(dst, true);
    for (Ext p : pieces) { // raised first: a block both ranges map never drops to 0
      m.refc.adjust(p.blk(), p.len(), +1, null);
    }
    cancelCow(dd, dB, dB + blocks);
    m.unmap(dd, dB, dB + blocks); // the old blocks: a reference dropped, freed if it was the last
    for (Ext p : pieces) {
      long off = dB + (p.off() - sB);
      dd.data.put(off, new Ext(off, p.blk(), p.len(), p.unwritten()));
      m.mergeAround(dd, off);
    }
  }

  // ---------------------------------------------------------------- the COW fork

  /** {@code xfs_bmapi_reserve_delalloc()} on the COW fork over {@code [from, to)}'s gaps. */
  void reserveCow(DInode d, long from, long to) {
    for (long b = from; b < to; ) {
      long[] cd = rangeAt(d.cowDela, b);
      Ext c = cowAt(d, b);
      if (cd != null) {
        b = cd[0] + cd[1];
      } else if (c != null) {
        b = c.end();
      } else {
        long next = Math.min(to, Math.min(nextKey(d.cowDela, b), nextKey(d.cow, b)));
        m.needData(next - b);
        m.reserved += next - b;
        d.cowDela.put(b, next - b);
        b = next;
      }
    }
  }

  /**
   * {@code xfs_reflink_allocate_cow()} with {@code convert_now}: a real COW staging extent from
   * file block {@code from}, up to {@code to}; it may be shorter.
   */
  Ext allocCow(DInode d, long from, long to) {
    Ext c = cowAt(d, from);
    if (c != null) {
      return XfsMount.clip(c, from, Math.min(c.end(), to));
    }
    long next = Math.min(to, nextKey(d.cow, from));
    dropCowDela(d, from, next);
    m.needData(next - from);
    long[] got = m.allocBlocks(m.target(d, from), next - from);
    if (got == null) {
      throw new KernelException(Errno.ENOSPC, "XFS (" + m.dev() + "): no COW blocks");
    }
    c = new Ext(from, got[0], got[1], false);
    d.cow.put(from, c);
    m.refc.addStaging(got[0], got[1]);
    return c;
  }

  /**
   * {@code xfs_map_blocks()}'s COW fork lookup at file block {@code b}: an allocated COW extent, a
   * delayed one allocated now ({@code xfs_bmapi_convert_delalloc(XFS_COW_FORK)}), or, unlike
   * mainline, a fresh one for a shared block nobody reserved (a pinned page the device dirtied);
   * null to use the data fork.
   */
  Ext mapCow(DInode d, long b, long limit) {
    Ext c = cowAt(d, b);
    if (c != null) {
      return c;
    }
    long[] cd = rangeAt(d.cowDela, b);
    if (cd != null) {
      d.cowDela.remove(cd[0]);
      m.reserved -= cd[1];
      for (long off = cd[0]; off < cd[0] + cd[1]; ) {
        long[] got = m.allocBlocks(m.target(d, off), cd[0] + cd[1] - off);
        if (got == null) {
          throw new KernelException(Errno.ENOSPC, "XFS (" + m.dev() + "): COW allocation failed");
        }
        d.cow.put(off, new Ext(off, got[0], got[1], false));
        m.refc.addStaging(got[0], got[1]);
        off += got[1];
      }
      return cowAt(d, b);
    }
    Ext e = XfsMount.extentAt(d, b);
    if (e != null && m.refc.count(e.blk() + (b - e.off())) > 1) {
      long pb = e.blk() + (b - e.off());
      long end = Math.min(e.end(), Math.max(b + 1, limit));
      long run = e.off() + m.refc.runEnd(pb, e.blk() + (end - e.off())) - e.blk();
      return allocCow(d, b, run);
    }
    return null;
  }

  /**
   * {@code xfs_reflink_end_cow()}: the written COW extents over {@code [from, to)} replace the data
   * fork's blocks there, whose references drop; their staging records go.
   */
  void endCow(DInode d, long from, long to) {
    if (d.cow.isEmpty()) {
      return;
    }
    Long fk = d.cow.floorKey(from);
    for (Ext c : new ArrayList<>(d.cow.subMap(fk == null ? from : fk, to).values())) {
      long s = Math.max(from, c.off());
      long t = Math.min(to, c.end());
      if (s >= t) {
        continue;
      }
      cut(d.cow, c, s, t);
      m.unmap(d, s, t);
      Ext ne = XfsMount.clip(c, s, t);
      d.data.put(s, ne);
      m.mergeAround(d, s);
      m.refc.removeStaging(ne.blk(), ne.len());
    }
  }

  /** {@code xfs_reflink_cancel_cow_range()}: COW blocks over {@code [from, to)} freed, unused. */
  void cancelCow(DInode d, long from, long to) {
    if (!d.cow.isEmpty()) {
      Long fk = d.cow.floorKey(from);
      for (Ext c : new ArrayList<>(d.cow.subMap(fk == null ? from : fk, to).values())) {
        long s = Math.max(from, c.off());
        long t = Math.min(to, c.end());
        if (s < t) {
          cut(d.cow, c, s, t);
          Ext gone = XfsMount.clip(c, s, t);
          m.refc.removeStaging(gone.blk(), gone.len());
          m.freeBlocks(gone.blk(), gone.len());
        }
      }
    }
    dropCowDela(d, from, to);
  }

  private void dropCowDela(DInode d, long from, long to) {
    if (d.cowDela.isEmpty()) {
      return;
    }
    Long fk = d.cowDela.floorKey(from);
    for (Map.Entry<Long, Long> de :
        new ArrayList<>(d.cowDela.subMap(fk == null ? from : fk, to).entrySet())) {
      long off = de.getKey();
      long end = off + de.getValue();
      long s = Math.max(from, off);
      long t = Math.min(to, end);
      if (s >= t) {
        continue;
      }
      d.cowDela.remove(off);
      if (off < s) {
        d.cowDela.put(off, s - off);
      }
      if (t < end) {
        d.cowDela.put(t, end - t);
      }
      m.reserved -= t - s;
    }
  }

  /** Removes {@code [s, t)} from the fork extent {@code c}, keeping its other parts. */
  private static void cut(TreeMap<Long, Ext> fork, Ext c, long s, long t) {
    fork.remove(c.off());
    if (c.off() < s) {
      fork.put(c.off(), XfsMount.clip(c, c.off(), s));
    }
    if (t < c.end()) {
      fork.put(t, XfsMount.clip(c, t, c.end()));
    }
  }

  private static Ext cowAt(DInode d, long b) {
    Map.Entry<Long, Ext> e = d.cow.floorEntry(b);
    return e != null && e.getValue().end() > b ? e.getValue() : null;
  }

  private static long[] rangeAt(TreeMap<Long, Long> map, long b) {
    Map.Entry<Long, Long> e = map.floorEntry(b);
    return e != null && e.getKey() + e.getValue() > b
        ? new long[] {e.getKey(), e.getValue()}
        : null;
  }

  private static long nextKey(TreeMap<Long, ?> map, long b) {
    Long k = map.ceilingKey(b);
    return k == null ? Long.MAX_VALUE : k;
  }

  // ---------------------------------------------------------------- unshare

  /**
   * {@code xfs_reflink_unshare()}: every shared block of {@code [offset, offset + len)} below EOF
   * gets a COW reservation and its page is dirtied ({@code iomap_file_unshare()}), then the range
   * is written back, so completion remaps new blocks in.
   */
  public void unshare(Inode inode, long offset, long len) {
    m.checkAlive();
    synchronized (inode) {
      long end = Math.min(offset + len, inode.size());
      if (offset >= end) {
        return;
      }
      List<long[]> runs = new ArrayList<>();
      synchronized (m) {
        DInode d = m.byVfs.get(inode);
        long to = (end + BLOCK - 1) / BLOCK;
        for (long b = offset / BLOCK; d != null && b < to; ) {
          Ext e = XfsMount.extentAt(d, b);
          if (e == null) {
            b = Math.min(to, XfsMount.nextMapped(d, b + 1));
            continue;
          }
          long limit = Math.min(e.end(), to);
          long pb = e.blk() + (b - e.off());
          long run = e.off() + m.refc.runEnd(pb, e.blk() + (limit - e.off())) - e.blk();
          if (m.refc.count(pb) > 1) {
            reserveCow(d, b, run);
            runs.add(new long[] {b, run});
          }
          b = run;
        }
      }
      Filemap filemap = inode.sb().vm().filemap();
      AddressSpace mapping = inode.mapping();
      for (long[] r : runs) {
        for (long idx = r[0] * BLOCK / Page.PAGE_SIZE; idx < r[1] * BLOCK / Page.PAGE_SIZE; idx++) {
          long pfn = filemap.readMappingFolio(mapping, idx);
          mapping.folios().folioLock(pfn);
          try {
            if (mapping.physicalMemory().memmap().mapping(pfn) == mapping.id()) {
              mapping.folios().folioMarkDirty(pfn);
            }
          } finally {
            mapping.folios().folioUnlock(pfn);
            mapping.physicalMemory().allocator().putPage(pfn);
          }
        }
      }
      if (!runs.isEmpty()) {
        FileOperations.fileWriteAndWaitRange(inode, offset, end - 1);
      }
    }
  }
}
