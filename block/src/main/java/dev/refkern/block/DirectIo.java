package dev.refkern.block;

import static dev.refkern.mm.Page.*;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.sched.Workqueue;
import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.Gup;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apiguardian.api.API;

/**
 * {@code O_DIRECT} I/O on a raw block device from a task's memory ({@code __blkdev_direct_IO()}
 * with {@code iov_iter_extract_pages()}): the user range is pinned ({@code FOLL_PIN}, marked {@code
 * BIO_PAGE_PINNED}), split into bios of at most {@link #MAX_BIO_PAGES} pages, and each bio's
 * completion unpins its own pages ({@code bio_release_pages()}), in whatever order the device
 * completes them. A read dirties its pages before submission ({@code bio_set_pages_dirty()}) and,
 * at completion, redirties any page found clean from a workqueue, since completion context may not
 * sleep to take the folio lock ({@code bio_check_pages_dirty()}).
 */
@API(status = STABLE, since = "0.1.0")
public final class DirectIo {
  /** Pages per bio; a larger buffer becomes several bios. */
  public static final int MAX_BIO_PAGES = 64;

  private final PhysicalMemory mem;
  private final Gup gup;
  private final FolioOps folios;
  private final Workqueue dirtyWork;
  private final AtomicInteger deferredRedirty = new AtomicInteger();
  private final BioPinTracking policy;

  public DirectIo(VirtualMemory vm) {
    this.mem = vm.physicalMemory();
    this.gup = vm.gup();
    this.folios = new FolioOps(mem);
    this.dirtyWork = mem.scheduler().allocWorkqueue("bio-dirty");
    this.policy =
        PolicyRegistry.global()
            .create(BioPinTracking.class, BioPinTracking.PARAM, mem.params(), gup);
  }

  /** Bios whose clean pages were redirtied from the workqueue. */
  public int deferredRedirty() {
    return deferredRedirty.get();
  }

  /** {@code read(2)} with {@code O_DIRECT}: device bytes from {@code pos} into user memory. */
  public long read(Task task, BlockDevice dev, long userAddr, long len, long pos) {
    return io(task, dev, userAddr, len, pos, BioOp.READ);
  }

  /** {@code write(2)} with {@code O_DIRECT}: user memory to the device at {@code pos}. */
  public long write(Task task, BlockDevice dev, long userAddr, long len, long pos) {
    return io(task, dev, userAddr, len, pos, BioOp.WRITE);
  }

  private long io(Task task, BlockDevice dev, long userAddr, long len, long pos, BioOp op) {
    int bs = Bio.SECTOR_SIZE;
    if (len < 0 || pos < 0 || (userAddr % bs) != 0 || (len % bs) != 0 || (pos % bs) != 0) {
      throw new KernelException(
          Errno.EINVAL, "O_DIRECT needs buffer, length and offset aligned to " + bs + " bytes");
    }
    long size = dev.capacitySectors() * bs;
    if (pos >= size) {
      if (op == BioOp.WRITE && len > 0) {
        throw new KernelException(Errno.ENOSPC, "write at " + pos + " beyond the device");
      }
      return 0;
    }
    len = Math.min(len, size - pos); // a read or write past the end is cut short
    if (len == 0) {
      return 0;
    }
    long first = userAddr & PAGE_MASK;
    int nrPages = (int) (((userAddr + len + PAGE_SIZE - 1) & PAGE_MASK) - first >>> PAGE_SHIFT);
    long[] pages = new long[nrPages];
    // iov_iter_extract_pages(): the device writes into memory on a read
    long pinned =
        gup.pinUserPagesFast(task, first, nrPages, op == BioOp.READ ? Foll.FOLL_WRITE : 0, pages);
    if (pinned < nrPages) {
      gup.unpinUserPages(pages, (int) pinned);
      throw new KernelException(
          Errno.EFAULT, "user buffer at 0x" + Long.toHexString(userAddr) + " not fully mapped");
    }
    List<Bio> bios = new ArrayList<>();
    long sector = pos / bs;
    long done = 0;
    for (int p = 0; p < nrPages; ) {
      Bio bio = new Bio(op, sector, 0, Math.min(nrPages - p, MAX_BIO_PAGES));
      int inBio = 0;
      while (p < nrPages && inBio < MAX_BIO_PAGES && done < len) {
        long addr = first + ((long) p << PAGE_SHIFT);
        int off = (int) (Math.max(addr, userAddr) - addr);
        int n = (int) Math.min(PAGE_SIZE - off, len - done);
        if (!policy.addPage(bio, pages[p], off, n, true)) {
          break;
        }
        done += n;
        p++;
        inBio++;
      }
      sector += bio.sectors();
      bios.add(bio);
    }
    if (op == BioOp.READ) {
      setPagesDirty(pages);
    }
    BioBatch batch = new BioBatch(mem.scheduler());
    for (Bio bio : bios) {
      batch.add(bio, this::endDio);
    }
    batch.submit(dev);
    int error = batch.await();
    dirtyWork.flush(); // deferred redirtying done before the read returns its pages to the user
    if (error != 0) {
      throw new KernelException(Errno.of(error), op + " of " + len + " bytes failed");
    }
    return len;
  }

  /** {@code bio_set_pages_dirty()}: the DMA will write these pages. */
  private void setPagesDirty(long[] pages) {
    for (long pfn : pages) {
      markDirtyLocked(pfn);
    }
  }

  private void markDirtyLocked(long pfn) {
    if (pfn == PageAllocator.NO_PFN || mem.memmap().testFlag(pfn, PageFlags.PG_ZERO_PAGE)) {
      return;
    }
    long head = mem.memmap().compoundHead(pfn);
    if (!folios.folioTestDirty(head)) {
      folios.folioMarkDirtyLock(head);
    }
  }

  /**
   * Completion context: a write's pages are unpinned now; a read checks its pages and, if one was
   * cleaned meanwhile (writeback ran), defers the redirty-and-unpin to a workqueue.
   */
  private void endDio(Bio bio) {
    if (bio.op() == BioOp.READ) {
      for (int i = 0; i < bio.vecCount(); i++) {
        if (!folios.folioTestDirty(mem.memmap().compoundHead(bio.vecPfn(i)))) {
          deferredRedirty.incrementAndGet();
          dirtyWork.queueWork(() -> releasePages(bio, true));
          return;
        }
      }
    }
    releasePages(bio, false);
  }

  /**
   * {@code bio_release_pages()}, redirtying first if asked; the policy knows which pages were
   * pinned.
   */
  private void releasePages(Bio bio, boolean redirty) {
    if (redirty) {
      for (int i = 0; i < bio.vecCount(); i++) {
        markDirtyLocked(bio.vecPfn(i));
      }
    }
    policy.releasePages(bio);
  }

  /** The bio pin-tracking design in force ({@code block.bio_pin_tracking=}). */
  public BioPinTracking bioPinTracking() {
    return policy;
  }
}
