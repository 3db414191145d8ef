package dev.refkern.fs.iomap;

import static dev.refkern.mm.Page.PAGE_MASK;
import static dev.refkern.mm.Page.PAGE_SHIFT;
import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BioBatch;
import dev.refkern.block.BioOp;
import dev.refkern.block.BioPinTracking;
import dev.refkern.block.BlockDevice;
import dev.refkern.fs.internal.FilemapRange;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.spi.IomapOps;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Gfp;
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
import java.util.concurrent.atomic.LongAdder;
import org.apiguardian.api.API;

/**
 * Direct I/O through a filesystem's block mapping, {@code iomap_dio_rw()} ({@code
 * fs/iomap/direct-io.c}, read at v6.6, with {@code IOMAP_DIO_BOUNCE} from v7.0): the file range is
 * written back (and, for a write, invalidated: {@code kiocb_invalidate_pages()}) first, then mapped
 * extent by extent with {@link IomapOps#IOMAP_DIRECT}; mapped blocks move between the device and
 * the user's pages, pinned ({@code FOLL_PIN}) per bio and unpinned at its completion ({@code
 * bio_release_pages()}); holes and unwritten blocks read as zeros.
 *
 * <p>Buffer address, file offset and length must be multiples of the device's logical block size
 * (512), else {@code EINVAL}. A write whose cached range cannot be invalidated fails with {@code
 * ENOTBLK}, which the VFS turns into a buffered write, as xfs and ext4 do; {@link #fallbacks()}
 * counts them. With {@code O_DSYNC} a pure overwrite goes out {@code REQ_FUA} ({@code
 * IOMAP_DIO_WRITE_THROUGH}) on a device with {@code BLK_FEAT_FUA}; otherwise, and always with
 * {@code O_SYNC}, completion runs the filesystem's {@code fsync} and a cache flush ({@code
 * generic_write_sync()}). On a stable-writes mapping, {@code dio.stable_bounce=on} copies a write's
 * data into bounce pages at submission ({@link #bytesBounced()}).
 *
 * <p>Each extent's bios are waited for before {@link IomapOps#iomapEnd}, so the filesystem may
 * convert unwritten blocks there.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class IomapDirectIo {
  /** The logical block size every device here has ({@code bdev_logical_block_size()}). */
  public static final int LOGICAL_BLOCK_SIZE = Bio.SECTOR_SIZE;

  /** Pages per bio. */
  public static final int MAX_BIO_PAGES = 64;

  private static final byte[] ZEROES = new byte[PAGE_SIZE];

  private final VirtualMemory vm;
  private final PhysicalMemory mem;
  private final Gup gup;
  private final FolioOps folios;
  private final BioPinTracking pinTracking;
  private final Workqueue dirtyWork;
  private final LongAdder fallbacks = new LongAdder();
  private final LongAdder bytesBounced = new LongAdder();
  private final LongAdder fuaBios = new LongAdder();
  private final LongAdder syncs = new LongAdder();
  private final LongAdder deferredRedirty = new LongAdder();

  /** Direct I/O on {@code vm}, pinning and tracking bio pins as {@code block.bio_pin_tracking=}. */
  public IomapDirectIo(VirtualMemory vm) {
    this.vm = vm;
    this.mem = vm.physicalMemory();
    this.gup = vm.gup();
    this.folios = new FolioOps(mem);
    this.pinTracking =
        PolicyRegistry.global()
            .create(BioPinTracking.class, BioPinTracking.PARAM, mem.params(), gup);
    this.dirtyWork = mem.scheduler().allocWorkqueue("dio-dirty");
  }

  /**
   * Whether files of {@code sb} do direct I/O through iomap ({@code FMODE_CAN_ODIRECT} from an fs
   * with {@code ->direct_IO}): a block device and {@link SuperBlock#iomapOps()}.
   */
  public static boolean supported(SuperBlock sb) {
    return sb.bdev() != null && sb.iomapOps() != null;
  }

  /** Writes that fell back to buffered I/O because the cache could not be invalidated. */
  public long fallbacks() {
    return fallbacks.sum();
  }

  /** Bytes copied into bounce pages ({@code dio.stable_bounce=on}). */
  public long bytesBounced() {
    return bytesBounced.sum();
  }

  /** Write bios sent with {@code REQ_FUA} ({@code O_DSYNC} write-through). */
  public long fuaBios() {
    return fuaBios.sum();
  }

  /** {@code generic_write_sync()} calls at completion ({@code O_SYNC}, or no write-through). */
  public long syncs() {
    return syncs.sum();
  }

  /** Read bios whose pages writeback had cleaned, redirtied from a workqueue. */
  public long deferredRedirty() {
    return deferredRedirty.sum();
  }

  /** Counts a write the caller redid buffered after {@code ENOTBLK}. */
  public void countFallback() {
    fallbacks.increment();
  }

  /**
   * {@code iomap_dio_rw()} for a read: {@code len} bytes of {@code inode} from {@code pos} into the
   * task's memory at {@code buf}.
   *
   * @return bytes read, cut at {@code i_size}; 0 at or past it
   * @throws KernelException {@code EINVAL} (misaligned), {@code EFAULT}, {@code EIO}
   */
  public long read(Task task, Inode inode, long buf, long len, long pos) {
    long size = inode.size();
    if (len == 0 || pos >= size) {
      return 0;
    }
    checkAligned(buf, len, pos);
    AddressSpace mapping = inode.mapping();
    int err =
        FilemapRange.writeAndWaitRange(vm, mapping, pos, pos + len - 1); // kiocb_write_and_wait
    if (err < 0) {
      throw new KernelException(Errno.of(err), "writeback before direct read of " + inode);
    }
    iterate(task, inode, buf, len, pos, false, new State());
    inode.touchAccessed();
    return Math.min(len, size - pos);
  }

  /**
   * {@code iomap_dio_rw()} for a write, called under the inode's lock ({@code i_rwsem}): {@code
   * len} bytes from the task's memory at {@code buf} to {@code inode} at {@code pos}; {@code
   * i_size} grows at completion.
   *
   * @param dsync {@code O_DSYNC}: durable data at return
   * @param sync {@code O_SYNC}: durable data and metadata at return
   * @throws KernelException {@code ENOTBLK} if the cached range could not be written back or
   *     invalidated (nothing was written: redo it buffered), {@code EINVAL}, {@code EFAULT}, {@code
   *     EIO}, {@code ENOSPC} from the filesystem's allocation
   */
  public long write(
      Task task, Inode inode, long buf, long len, long pos, boolean dsync, boolean sync) {
    if (len == 0) {
      return 0;
    }
    checkAligned(buf, len, pos);
    AddressSpace mapping = inode.mapping();
    long end = pos + len - 1;
    long size = inode.size();
    if (pos > size) {
      IomapBufferedIo.zeroRange(inode, size, pos - size); // xfs_file_write_zero_eof()
    }
    // kiocb_invalidate_pages(); any failure is -ENOTBLK in __iomap_dio_rw()
    int err = FilemapRange.writeAndWaitRange(vm, mapping, pos, end);
    if (err == 0) {
      err =
          FilemapRange.invalidateInodePages2Range(
              vm, mapping, pos >>> PAGE_SHIFT, end >>> PAGE_SHIFT);
    }
    if (err < 0) {
      throw new KernelException(
          Errno.ENOTBLK, "direct write to " + inode + ": page cache busy (" + err + ")");
    }
    State st = new State();
    st.writeThrough = dsync && !sync; // IOMAP_DIO_WRITE_THROUGH, cleared by any extent that can't
    st.bounce = vm.dioStableBounce().bounce(mapping);
    iterate(task, inode, buf, len, pos, true, st);
    if (pos + len > inode.size()) {
      inode.setSize(pos + len); // the filesystem's ->end_io: i_size at completion
    }
    inode.touchModified();
    // kiocb_invalidate_post_direct_write(): a racing buffered read may have cached old data
    FilemapRange.invalidateInodePages2Range(vm, mapping, pos >>> PAGE_SHIFT, end >>> PAGE_SHIFT);
    if ((dsync || sync) && !st.writeThrough) {
      syncs.increment(); // generic_write_sync(): vfs_fsync_range(), then the cache flush
      inode.sb().type().fileOperations().fsync(inode, pos, pos + len - 1, !sync);
      BlockDevice bdev = inode.sb().bdev();
      if ((bdev.features() & BlockDevice.BLK_FEAT_WRITE_CACHE) != 0) {
        int st2 = BioBatch.submitBioWait(mem.scheduler(), bdev, new Bio(BioOp.FLUSH, 0, 0));
        if (st2 != 0) {
          throw new KernelException(Errno.of(st2), "flush after direct write to " + inode);
        }
      }
    }
    return len;
  }

  /** One I/O's state ({@code struct iomap_dio}). */
  private static final class State {
    boolean writeThrough;
    boolean bounce;
    final long[] pages = new long[MAX_BIO_PAGES + 1]; // one per I/O, reused by every bio
    byte[] copy; // the bounce copy's staging page, allocated on first use
  }

  private static void checkAligned(long buf, long len, long pos) {
    if (len < 0 || pos < 0 || ((buf | len | pos) & (LOGICAL_BLOCK_SIZE - 1)) != 0) {
      throw new KernelException(
          Errno.EINVAL,
          "O_DIRECT needs buffer 0x"
              + Long.toHexString(buf)
              + ", offset "
              + pos
              + " and length "
              + len
              + " aligned to "
              + LOGICAL_BLOCK_SIZE);
    }
  }

  /** {@code iomap_iter()} over the range, one extent at a time ({@code iomap_dio_iter()}). */
  private void iterate(
      Task task, Inode inode, long buf, long len, long pos, boolean write, State st) {
    IomapOps ops = inode.sb().iomapOps();
    int flags = IomapOps.IOMAP_DIRECT | (write ? IomapOps.IOMAP_WRITE : IomapOps.IOMAP_READ);
    Iomap m = new Iomap();
    long done = 0;
    while (done < len) {
      long at = pos + done;
      ops.iomapBegin(inode, at, len - done, flags, m);
      if (!m.contains(at)) {
        throw new KernelException(Errno.EIO, "iomap_begin left " + at + " unmapped: " + m);
      }
      long n = Math.min(len - done, m.end() - at);
      long written = 0;
      try {
        switch (m.type()) {
          case Iomap.MAPPED -> bioIter(task, inode, m, buf + done, n, at, write, st);
          case Iomap.UNWRITTEN -> {
            if (write) {
              bioIter(task, inode, m, buf + done, n, at, true, st);
            } else {
              zeroUser(task, buf + done, n); // iomap_dio_hole_iter()
            }
          }
          case Iomap.HOLE -> {
            if (write) {
              mem.health().warn(true, "WARN_ON_ONCE: direct write to a hole of " + inode);
              throw new KernelException(Errno.EIO, "iomap_begin gave a hole to a direct write");
            }
            zeroUser(task, buf + done, n);
          }
          default ->
              throw new KernelException(
                  Errno.EIO, "Direct I/O collision with buffered writes! " + inode + " " + m);
        }
        written = n;
      } finally {
        ops.iomapEnd(inode, at, n, written, flags, m);
      }
      done += n;
    }
  }

  private void zeroUser(Task task, long addr, long n) {
    for (long off = 0; off < n; ) {
      int c = (int) Math.min(PAGE_SIZE, n - off);
      task.store(addr + off, ZEROES, 0, c);
      off += c;
    }
  }

  /**
   * {@code iomap_dio_bio_iter()}: bios for {@code n} bytes at file {@code pos}, user {@code addr},
   * all waited for before returning.
   */
  private void bioIter(
      Task task, Inode inode, Iomap m, long addr, long n, long pos, boolean write, State st) {
    BlockDevice bdev = m.bdev();
    int opf = 0;
    if (write && st.writeThrough) {
      boolean metaDirty =
          (m.flags() & (Iomap.F_DIRTY | Iomap.F_NEW)) != 0
              || m.type() == Iomap.UNWRITTEN
              || pos + n > inode.size(); // i_size changes at completion
      int feat = bdev.features();
      boolean fuaOk =
          (feat & BlockDevice.BLK_FEAT_FUA) != 0 || (feat & BlockDevice.BLK_FEAT_WRITE_CACHE) == 0;
      if (!metaDirty && fuaOk) {
        opf = Bio.REQ_FUA;
      } else {
        st.writeThrough = false;
      }
    }
    BioBatch batch = new BioBatch(mem.scheduler());
    long sector = m.sector(pos);
    try {
      for (long done = 0; done < n; ) {
        Bio bio =
            st.bounce && write
                ? bounceBio(task, addr + done, n - done, sector, opf, st)
                : pinnedBio(task, addr + done, n - done, sector, write, opf, st);
        done += bio.size();
        sector += bio.sectors();
        if (opf != 0) {
          fuaBios.increment();
        }
        batch.add(bio, b -> endBio(b, st.bounce && write));
        batch.submit(bdev);
      }
    } finally {
      int err = batch.await(); // every pin dropped before an error leaves
      dirtyWork.flush(); // deferred redirtying done before the pages go back to the user
      if (err != 0) {
        throw new KernelException(
            Errno.of(err), (write ? "direct write" : "direct read") + " of " + inode + " failed");
      }
    }
  }

  /**
   * A bio over the user's pages, pinned ({@code iov_iter_extract_pages()}, {@code FOLL_WRITE} for a
   * read, which also dirties them: {@code bio_set_pages_dirty()}).
   */
  private Bio pinnedBio(
      Task task, long addr, long left, long sector, boolean write, int opf, State st) {
    long first = addr & PAGE_MASK;
    long last = Math.min(addr + left, first + ((long) MAX_BIO_PAGES << PAGE_SHIFT));
    int nr = (int) ((last - first + PAGE_SIZE - 1) >>> PAGE_SHIFT);
    long[] pages = st.pages;
    long got = gup.pinUserPagesFast(task, first, nr, write ? 0 : Foll.FOLL_WRITE, pages);
    if (got < nr) {
      gup.unpinUserPages(pages, (int) Math.max(got, 0));
      throw new KernelException(
          Errno.EFAULT, "user buffer at 0x" + Long.toHexString(addr) + " not fully mapped");
    }
    Bio bio = new Bio(write ? BioOp.WRITE : BioOp.READ, sector, opf, nr);
    int i = 0;
    for (long a = addr; i < nr && a < last; i++) {
      int off = (int) (a & (PAGE_SIZE - 1));
      int len = (int) Math.min(PAGE_SIZE - off, last - a);
      if (!pinTracking.addPage(bio, pages[i], off, len, true)) {
        break; // this bio is full: the rest is pinned again for the next one
      }
      if (!write) {
        markDirty(pages[i]);
      }
      a += len;
    }
    for (int j = i; j < nr; j++) {
      gup.unpinUserPage(pages[j]);
    }
    return bio;
  }

  /** {@code IOMAP_DIO_BOUNCE}: the user's data copied at submission into the bio's own pages. */
  private Bio bounceBio(Task task, long addr, long left, long sector, int opf, State st) {
    int nr = (int) Math.min(MAX_BIO_PAGES, (left + PAGE_SIZE - 1) >>> PAGE_SHIFT);
    if (st.copy == null) {
      st.copy = new byte[PAGE_SIZE];
    }
    Bio bio = new Bio(BioOp.WRITE, sector, opf, nr);
    try {
      for (long off = 0; off < left && bio.vecCount() < nr; ) {
        int len = (int) Math.min(PAGE_SIZE, left - off);
        task.load(addr + off, st.copy, 0, len); // copy_from_iter(): EFAULT if unmapped
        long pfn = mem.allocator().allocPages(Gfp.KERNEL, 0);
        if (pfn == PageAllocator.NO_PFN) {
          throw new KernelException(Errno.ENOMEM, "no bounce page for a direct write");
        }
        mem.ram().write(pfn, 0, st.copy, 0, len);
        bio.addPage(pfn, 0, len);
        off += len;
      }
    } catch (RuntimeException e) {
      freeBounce(bio);
      throw e;
    }
    bytesBounced.add(bio.size());
    return bio;
  }

  private void freeBounce(Bio bio) {
    for (int i = 0; i < bio.vecCount(); i++) {
      mem.allocator().putPage(bio.vecPfn(i));
    }
  }

  private void markDirty(long pfn) {
    if (mem.memmap().testFlag(pfn, PageFlags.PG_ZERO_PAGE)) {
      return;
    }
    long head = mem.memmap().compoundHead(pfn);
    if (!folios.folioTestDirty(head)) {
      folios.folioMarkDirtyLock(head);
    }
  }

  /**
   * {@code iomap_dio_bio_end_io()}: bounce pages are freed; a read's pages found clean (writeback
   * ran) are redirtied from a workqueue, since completion context may not sleep on the folio lock
   * ({@code bio_check_pages_dirty()}); then {@code bio_release_pages()} unpins.
   */
  private void endBio(Bio bio, boolean bounced) {
    if (bounced) {
      freeBounce(bio);
      return;
    }
    if (bio.op() == BioOp.READ) {
      for (int i = 0; i < bio.vecCount(); i++) {
        long pfn = bio.vecPfn(i);
        if (!mem.memmap().testFlag(pfn, PageFlags.PG_ZERO_PAGE)
            && !folios.folioTestDirty(mem.memmap().compoundHead(pfn))) {
          deferredRedirty.increment();
          dirtyWork.queueWork(
              () -> {
                for (int j = 0; j < bio.vecCount(); j++) {
                  markDirty(bio.vecPfn(j));
                }
                pinTracking.releasePages(bio);
              });
          return;
        }
      }
    }
    pinTracking.releasePages(bio);
  }
}
