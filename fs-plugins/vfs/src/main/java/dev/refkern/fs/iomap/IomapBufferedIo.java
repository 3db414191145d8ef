package dev.refkern.fs.iomap;

import static dev.refkern.mm.Page.PAGE_SHIFT;
import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.spi.IomapOps;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.vm.Filemap;
import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * The VFS side of iomap buffered I/O ({@code fs/iomap/buffered-io.c}, read at v6.6): {@code
 * iomap_file_buffered_write()}'s mapping step, {@code __iomap_write_begin()}'s read of a partly
 * written block, {@code iomap_zero_range()} and {@code iomap_truncate_page()}. Each does nothing
 * for a superblock without {@link dev.refkern.fs.spi.SuperBlock#iomapOps()}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class IomapBufferedIo {
  private static final byte[] ZEROES = new byte[PAGE_SIZE];

  private IomapBufferedIo() {}

  /**
   * The blocks one {@code write()} maps with {@link IomapOps#IOMAP_WRITE} ({@code iomap_iter()}
   * over the range): {@link #end} hands back what was not written.
   */
  public static final class Write {
    private final Inode inode;
    private final IomapOps ops;
    private final long pos;
    private final List<Iomap> maps = new ArrayList<>();
    private long length;

    private Write(Inode inode, IomapOps ops, long pos) {
      this.inode = inode;
      this.ops = ops;
      this.pos = pos;
    }

    /** Bytes from the write's position that are mapped; the write is cut short to them. */
    public long length() {
      return length;
    }

    /**
     * {@code __iomap_write_begin()} for a folio that the write covers only partly and is not
     * uptodate: reads it (holes and bytes past EOF as zeros) so the bytes around the write are
     * right. The folio stays locked.
     *
     * @throws KernelException {@code EIO} if the read fails
     */
    public void readFolio(long pfn) {
      int err = IomapAops.readRange(inode, pfn);
      if (err < 0) {
        throw new KernelException(Errno.of(err), "reading around a write to " + inode);
      }
    }

    /** {@code ->iomap_end} of each mapping with the part of {@code written} bytes it took. */
    public void end(long written) {
      for (Iomap m : maps) {
        long from = Math.max(pos, m.offset());
        long len = m.end() - from;
        long used = Math.max(0, Math.min(len, pos + written - from));
        ops.iomapEnd(inode, from, len, used, IomapOps.IOMAP_WRITE, m);
      }
    }
  }

  /**
   * Maps {@code [pos, pos + len)} of {@code inode} for writing: {@link IomapOps#iomapBegin} with
   * {@link IomapOps#IOMAP_WRITE} until the range is covered or the filesystem refuses. A refusal at
   * {@code pos} fails the write; a later one makes it short ({@code generic_perform_write()}'s
   * partial write).
   *
   * @return null if the filesystem does not use iomap
   * @throws KernelException the filesystem's refusal at {@code pos} ({@code ENOSPC}, {@code EFBIG})
   */
  public static Write beginWrite(Inode inode, long pos, long len) {
    IomapOps ops = inode.sb().iomapOps();
    if (ops == null) {
      return null;
    }
    Write w = new Write(inode, ops, pos);
    while (w.length < len) {
      long at = pos + w.length;
      Iomap m = new Iomap();
      try {
        ops.iomapBegin(inode, at, len - w.length, IomapOps.IOMAP_WRITE, m);
      } catch (KernelException e) {
        if (w.length == 0) {
          throw e;
        }
        break;
      }
      if (!m.contains(at) || m.type() == Iomap.HOLE) {
        throw new KernelException(Errno.EIO, "iomap_begin left " + at + " unmapped: " + m);
      }
      w.maps.add(m);
      w.length = Math.min(len, m.end() - pos);
    }
    return w;
  }

  /**
   * {@code iomap_zero_range()}: zeroes {@code [pos, pos + len)} of {@code inode} through the page
   * cache, skipping holes and unwritten ranges (which read as zeros already); the zeroed folios are
   * dirty, so writeback puts the zeros on disk.
   *
   * @throws KernelException {@code EIO} if a block cannot be read
   */
  public static void zeroRange(Inode inode, long pos, long len) {
    IomapOps ops = inode.sb().iomapOps();
    if (ops == null || len <= 0) {
      return;
    }
    AddressSpace mapping = inode.mapping();
    Filemap filemap = inode.sb().vm().filemap();
    Iomap m = new Iomap();
    long end = pos + len;
    while (pos < end) {
      ops.iomapBegin(inode, pos, end - pos, IomapOps.IOMAP_ZERO, m);
      long segEnd = m.contains(pos) ? Math.min(end, m.end()) : end;
      if (m.contains(pos) && m.type() != Iomap.HOLE && m.type() != Iomap.UNWRITTEN) {
        for (long p = pos; p < segEnd; ) {
          int off = (int) (p & (PAGE_SIZE - 1));
          int n = (int) Math.min(PAGE_SIZE - off, segEnd - p);
          long pfn = filemap.readMappingFolio(mapping, p >>> PAGE_SHIFT);
          mapping.folios().folioLock(pfn);
          try {
            if (mapping.physicalMemory().memmap().mapping(pfn) == mapping.id()) {
              mapping.physicalMemory().ram().write(pfn, off, ZEROES, 0, n);
              mapping.folios().folioMarkDirty(pfn);
            }
          } finally {
            mapping.folios().folioUnlock(pfn);
            mapping.physicalMemory().allocator().putPage(pfn);
          }
          p += n;
        }
      }
      ops.iomapEnd(inode, pos, segEnd - pos, segEnd - pos, IomapOps.IOMAP_ZERO, m);
      pos = segEnd;
    }
  }

  /**
   * {@code iomap_truncate_page()}: zeroes from {@code pos} to the end of its block (a page here) so
   * bytes past a new end of file, or past the old one when growing, never come back from disk.
   */
  public static void truncatePage(Inode inode, long pos) {
    int off = (int) (pos & (PAGE_SIZE - 1));
    if (off != 0 && inode.sb().iomapOps() != null) {
      zeroRange(inode, pos, PAGE_SIZE - off);
    }
  }
}
