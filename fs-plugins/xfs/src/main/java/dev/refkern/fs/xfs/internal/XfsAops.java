package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.fs.iomap.IomapAops;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.spi.IomapOps;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Memmap;
import dev.refkern.mm.Page;
import dev.refkern.mm.VmFault;
import dev.refkern.mm.spi.AddressSpaceOperations;
import org.apiguardian.api.API;

/**
 * {@code xfs_address_space_operations} ({@code fs/xfs/xfs_aops.c}, read at v6.6): iomap's, plus
 * {@code xfs_end_ioend()} once a folio's write completed (its unwritten blocks become written) and
 * {@code xfs_write_fault()}'s {@code iomap_page_mkwrite()}, which reserves delayed blocks for a
 * shared mapping's first store so writeback finds no hole under it.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class XfsAops implements AddressSpaceOperations {
  private final IomapAops iomap = new IomapAops();
  private volatile SuperBlock sb;
  private volatile XfsMount fs;

  /** Serves {@code sb}, mounted as {@code fs}. */
  public void bind(SuperBlock sb, XfsMount fs) {
    this.sb = sb;
    this.fs = fs;
    iomap.bind(sb);
  }

  @Override
  public int readFolio(AddressSpace mapping, long pfn) {
    return iomap.readFolio(mapping, pfn);
  }

  @Override
  public int writeFolio(AddressSpace mapping, long pfn) {
    return writeFolioFrom(mapping, pfn, pfn);
  }

  @Override
  public int writeFolioFrom(AddressSpace mapping, long pfn, long dataPfn) {
    int rc = iomap.writeFolioFrom(mapping, pfn, dataPfn);
    Inode inode = sb.host(mapping);
    if (rc == 0 && inode != null) { // the bios completed: xfs_end_ioend()
      Memmap memmap = mapping.physicalMemory().memmap();
      long head = memmap.compoundHead(pfn);
      long pos = memmap.index(head) << Page.PAGE_SHIFT;
      // the mapping's size, not the inode's: no inode monitor under writeback (truncate holds it)
      fs.endIo(inode, pos, Math.min(pos + mapping.folioSize(head), mapping.size()));
    }
    return rc;
  }

  @Override
  public int pageMkwrite(AddressSpace mapping, long pfn) {
    Inode inode = sb.host(mapping);
    if (inode == null) {
      return GENERIC;
    }
    Memmap memmap = mapping.physicalMemory().memmap();
    long head = memmap.compoundHead(pfn);
    mapping.folios().folioLock(head);
    try {
      if (memmap.mapping(head) != mapping.id()) {
        return VmFault.VM_FAULT_NOPAGE;
      }
      long start = memmap.index(head) << Page.PAGE_SHIFT;
      long end = Math.min(start + mapping.folioSize(head), inode.size());
      Iomap m = new Iomap();
      for (long pos = start; pos < end; pos = m.end()) {
        fs.iomapBegin(inode, pos, end - pos, IomapOps.IOMAP_WRITE, m);
      }
    } catch (KernelException e) {
      return VmFault.VM_FAULT_SIGBUS; // ENOSPC or a shut down filesystem
    } finally {
      mapping.folios().folioUnlock(head);
    }
    return GENERIC; // filemap_page_mkwrite(): dirty the folio, wait for stable pages
  }
}
