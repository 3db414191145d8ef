package dev.refkern.fs.iomap;

import static dev.refkern.mm.Page.PAGE_SHIFT;
import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BioBatch;
import dev.refkern.block.BioOp;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.spi.IomapOps;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.spi.AddressSpaceOperations;
import org.apiguardian.api.API;

/**
 * The iomap {@code address_space_operations} ({@code fs/iomap/buffered-io.c}, read at v6.6): {@code
 * iomap_read_folio()} maps the folio's range with {@link IomapOps#iomapBegin} and reads the mapped
 * parts from the device, zeroing holes and bytes past {@code i_size}; the per-folio writeback of
 * {@code iomap_writepages()} maps it with {@link IomapOps#mapBlocks}, skips holes and writes the
 * rest, waiting for each bio (writeback is synchronous here).
 *
 * <p>One instance serves one superblock: {@link #bind} it once the superblock exists; the ops are
 * the superblock's {@link SuperBlock#iomapOps()}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class IomapAops implements AddressSpaceOperations {
  private static final byte[] ZEROES = new byte[PAGE_SIZE];

  private volatile SuperBlock sb;

  /** Serves {@code sb}'s files from now on. */
  public void bind(SuperBlock sb) {
    this.sb = sb;
  }

  private Inode host(AddressSpace mapping) {
    Inode inode = sb == null ? null : sb.host(mapping);
    if (inode == null || sb.iomapOps() == null || sb.bdev() == null) {
      throw new KernelException(Errno.EIO, mapping + " has no iomap inode on a block device");
    }
    return inode;
  }

  @Override
  public int readFolio(AddressSpace mapping, long pfn) {
    int err;
    try {
      err = readRange(host(mapping), pfn);
    } catch (KernelException e) {
      err = -e.errno().number();
    }
    if (err == 0) {
      mapping.folios().folioMarkUptodate(pfn);
    }
    mapping.folios().folioUnlock(pfn); // folio_end_read()
    return err;
  }

  /**
   * Fills the locked folio at {@code pfn} of {@code inode} from the device ({@code
   * iomap_read_folio_iter()}), leaving it locked and its flags alone.
   *
   * @return 0, or a negative errno
   */
  static int readRange(Inode inode, long pfn) {
    AddressSpace mapping = inode.mapping();
    Memmap memmap = mapping.physicalMemory().memmap();
    long head = memmap.compoundHead(pfn);
    long pos = memmap.index(head) << PAGE_SHIFT;
    long end = pos + mapping.folioSize(head);
    long size = inode.size();
    IomapOps ops = inode.sb().iomapOps();
    Iomap m = new Iomap(); // one per folio, as the kernel's iomap_iter on the stack
    while (pos < end) {
      if (pos >= size) {
        zero(mapping, head, pos, end, end);
        break;
      }
      ops.iomapBegin(inode, pos, end - pos, IomapOps.IOMAP_READ, m);
      if (!m.contains(pos)) {
        return -Errno.EIO.number();
      }
      long segEnd = Math.min(end, m.end());
      if (m.type() == Iomap.MAPPED) {
        long ioEnd = Math.min(segEnd, roundUp(size, Bio.SECTOR_SIZE));
        int err = io(inode, BioOp.READ, m, head, pos, ioEnd, end);
        if (err != 0) {
          return err;
        }
        zero(mapping, head, Math.min(size, segEnd), segEnd, end); // iomap_block_needs_zeroing()
      } else {
        zero(mapping, head, pos, segEnd, end); // hole, delalloc, unwritten read as zeros
      }
      ops.iomapEnd(inode, pos, segEnd - pos, segEnd - pos, IomapOps.IOMAP_READ, m);
      pos = segEnd;
    }
    return 0;
  }

  @Override
  public int writeFolio(AddressSpace mapping, long pfn) {
    return writeFolioFrom(mapping, pfn, pfn);
  }

  /**
   * Writes the bounce folio {@code dataPfn} (a copy of the folio at {@code pfn}, same order) at the
   * folio's place: {@code writeback.pinned=bounce} and {@code skip}'s integrity writeback then keep
   * a pinned folio's DMA out of the written blocks, as fscrypt's bounce pages do for iomap.
   */
  @Override
  public int writeFolioFrom(AddressSpace mapping, long pfn, long dataPfn) {
    try {
      return writeRange(host(mapping), pfn, dataPfn);
    } catch (KernelException e) {
      return -e.errno().number();
    }
  }

  private static int writeRange(Inode inode, long pfn, long dataPfn) {
    AddressSpace mapping = inode.mapping();
    Memmap memmap = mapping.physicalMemory().memmap();
    long head = memmap.compoundHead(pfn);
    long data = dataPfn == pfn ? head : dataPfn; // the bounce copy is a head already
    long pos = memmap.index(head) << PAGE_SHIFT;
    int folioSize = mapping.folioSize(head);
    long folioEnd = pos + folioSize;
    long size = inode.size();
    if (pos >= size) {
      return 0; // iomap_writepage_handle_eof(): wholly past EOF, truncate will drop it
    }
    // the part past EOF goes out as zeros (folio_zero_segment() in handle_eof)
    zero(mapping, data, size, folioEnd, folioEnd, folioSize);
    IomapOps ops = inode.sb().iomapOps();
    // round_up(end_pos, i_blocksize()): the EOF block goes out whole, its tail as zeros, or a
    // later size extension would read the block's stale bytes from the device
    long end = Math.min(folioEnd, roundUp(size, ops.blockSize()));
    Iomap m = new Iomap();
    while (pos < end) {
      ops.mapBlocks(inode, pos, end - pos, m);
      if (!m.contains(pos)) {
        return -Errno.EIO.number();
      }
      long segEnd = Math.min(end, m.end());
      if (m.type() == Iomap.MAPPED || m.type() == Iomap.UNWRITTEN) {
        int err = io(inode, BioOp.WRITE, m, data, pos, segEnd, folioEnd, folioSize);
        if (err != 0) {
          return err;
        }
      } // IOMAP_HOLE: nothing to write
      pos = segEnd;
    }
    return 0;
  }

  /** One bio for file bytes {@code [pos, ioEnd)} of the folio at {@code head}, waited for. */
  private static int io(
      Inode inode, BioOp op, Iomap m, long head, long pos, long ioEnd, long folioEnd) {
    return io(inode, op, m, head, pos, ioEnd, folioEnd, inode.mapping().folioSize(head));
  }

  /** {@code head} may be a bounce copy without a compound head: the folio size is given. */
  private static int io(
      Inode inode, BioOp op, Iomap m, long head, long pos, long ioEnd, long folioEnd, int size) {
    if (ioEnd <= pos) {
      return 0;
    }
    long folioStart = folioEnd - size;
    int nr = (int) (((ioEnd - 1) >>> PAGE_SHIFT) - (pos >>> PAGE_SHIFT) + 1);
    Bio bio = new Bio(op, m.sector(pos), 0, nr);
    for (long p = pos; p < ioEnd; ) {
      long rel = p - folioStart;
      int off = (int) (rel & (PAGE_SIZE - 1));
      int len = (int) Math.min(PAGE_SIZE - off, ioEnd - p);
      bio.addPage(head + (rel >>> PAGE_SHIFT), off, len);
      p += len;
    }
    int status =
        BioBatch.submitBioWait(
            inode.sb().vm().physicalMemory().scheduler(), inode.sb().bdev(), bio);
    return status == 0 ? 0 : -Errno.EIO.number();
  }

  /** Zeroes file bytes {@code [from, to)} of the folio at {@code head} that ends at {@code end}. */
  private static void zero(AddressSpace mapping, long head, long from, long to, long end) {
    zero(mapping, head, from, to, end, mapping.folioSize(head));
  }

  private static void zero(
      AddressSpace mapping, long head, long from, long to, long end, int size) {
    long folioStart = end - size;
    for (long p = Math.max(from, folioStart); p < to; ) {
      long rel = p - folioStart;
      int off = (int) (rel & (PAGE_SIZE - 1));
      int len = (int) Math.min(PAGE_SIZE - off, to - p);
      mapping.physicalMemory().ram().write(head + (rel >>> PAGE_SHIFT), off, ZEROES, 0, len);
      p += len;
    }
  }

  private static long roundUp(long v, long unit) {
    return (v + unit - 1) / unit * unit;
  }
}
