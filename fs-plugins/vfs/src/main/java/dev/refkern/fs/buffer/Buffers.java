package dev.refkern.fs.buffer;

import static dev.refkern.fs.buffer.BufferHead.*;
import static dev.refkern.mm.Page.PAGE_SHIFT;
import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BioBatch;
import dev.refkern.block.BioOp;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageFlags;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The buffer-head helpers of {@code fs/buffer.c} (read at v6.6) for one superblock's files: {@code
 * create_empty_buffers()}, {@code block_read_full_folio()}, {@code block_write_begin()}/{@code
 * block_write_end()}, {@code block_dirty_folio()}, {@code mark_buffer_dirty()}, {@code
 * block_write_full_folio()}, {@code block_invalidate_folio()} and {@code try_to_free_buffers()}.
 *
 * <p>A folio with buffers has {@code PG_private} (with its reference, {@code
 * folio_attach_private()}); mm-core's private word holds no object, so the buffers live in a table
 * by mapping and folio index. Callers hold the folio lock, as in the kernel. I/O waits for each bio
 * ({@code submit_bio_wait()}).
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Buffers {
  private static final byte[] ZEROES = new byte[PAGE_SIZE];
  private static final long PRIVATE_BUFFERS = 1; // folio->private is "the buffers"

  private final SuperBlock sb;
  private final int blockSize;
  private final Map<AddressSpace, Map<Long, BufferHead[]>> table = new IdentityHashMap<>();

  /**
   * Buffers of {@code blockSize} bytes ({@code sb_set_blocksize()}) for files of {@code sb}, which
   * must have a block device.
   */
  public Buffers(SuperBlock sb, int blockSize) {
    if (blockSize < Bio.SECTOR_SIZE
        || blockSize > PAGE_SIZE
        || Integer.bitCount(blockSize) != 1
        || sb.bdev() == null) {
      throw new KernelException(Errno.EINVAL, "block size " + blockSize + " on " + sb);
    }
    this.sb = sb;
    this.blockSize = blockSize;
  }

  /** {@code i_blocksize()}. */
  public int blockSize() {
    return blockSize;
  }

  /** {@code folio_buffers()}: the folio's buffers in order, or null if it has none. */
  public synchronized BufferHead[] folioBuffers(AddressSpace mapping, long pfn) {
    Map<Long, BufferHead[]> m = table.get(mapping);
    BufferHead[] bhs = m == null ? null : m.get(index(mapping, pfn));
    return bhs != null && bhs[0].folio() == pfn ? bhs : null;
  }

  /**
   * The buffer half of {@code buffer_migrate_folio()}: the buffers of {@code src}, whose cache slot
   * and private data {@code dst} has taken, now belong to {@code dst}.
   */
  public synchronized void migrateFolio(AddressSpace mapping, long dst, long src) {
    Map<Long, BufferHead[]> m = table.get(mapping);
    BufferHead[] bhs = m == null ? null : m.get(index(mapping, dst));
    if (bhs != null && bhs[0].folio() == src) {
      for (BufferHead bh : bhs) {
        bh.setFolio(dst);
      }
    }
  }

  /** Folios of {@code mapping} with buffers (for checks: 0 once truncated). */
  public synchronized int nrFoliosWithBuffers(AddressSpace mapping) {
    Map<Long, BufferHead[]> m = table.get(mapping);
    return m == null ? 0 : m.size();
  }

  /**
   * {@code create_empty_buffers()}: attaches unmapped buffers to the locked folio, each with the
   * {@code b_state} bits {@code stateBits} and, as the folio is, uptodate and dirty.
   */
  public BufferHead[] createEmptyBuffers(AddressSpace mapping, long pfn, int stateBits) {
    int n = mapping.folioSize(pfn) / blockSize;
    BufferHead[] bhs = new BufferHead[n];
    boolean uptodate = mapping.physicalMemory().memmap().testFlag(pfn, PageFlags.PG_UPTODATE);
    boolean dirty = mapping.folios().folioTestDirty(pfn);
    for (int i = 0; i < n; i++) {
      bhs[i] = new BufferHead(mapping, pfn, i * blockSize, blockSize);
      for (int b = 0; b < 32; b++) {
        if ((stateBits & (1 << b)) != 0) {
          bhs[i].set(b);
        }
      }
      if (uptodate) {
        bhs[i].set(BH_UPTODATE);
      }
      if (dirty) {
        bhs[i].set(BH_DIRTY);
      }
    }
    synchronized (this) {
      table.computeIfAbsent(mapping, k -> new HashMap<>()).put(index(mapping, pfn), bhs);
    }
    mapping.folios().folioAttachPrivate(pfn, PRIVATE_BUFFERS);
    return bhs;
  }

  private BufferHead[] buffersOrCreate(AddressSpace mapping, long pfn, int stateBits) {
    BufferHead[] bhs = folioBuffers(mapping, pfn);
    return bhs != null ? bhs : createEmptyBuffers(mapping, pfn, stateBits);
  }

  /**
   * {@code mark_buffer_dirty()}: dirties the buffer and, if it was clean, its folio ({@code
   * __folio_mark_dirty()}, not the mapping's {@code ->dirty_folio}, which would dirty every
   * buffer).
   */
  public void markBufferDirty(BufferHead bh) {
    if (bh.testAndSet(BH_DIRTY)) {
      return;
    }
    AddressSpace mapping = bh.mapping();
    mapping.folios().filemapDirtyFolio(mapping, bh.folio());
  }

  /**
   * {@code block_dirty_folio()}, a {@code ->dirty_folio}: every buffer of the folio becomes dirty,
   * then the folio; a folio without buffers is just dirtied.
   *
   * @return true if the folio was newly dirtied
   */
  public boolean blockDirtyFolio(AddressSpace mapping, long pfn) {
    BufferHead[] bhs = folioBuffers(mapping, pfn);
    if (bhs != null) {
      for (BufferHead bh : bhs) {
        bh.set(BH_DIRTY);
      }
    }
    return mapping.folios().filemapDirtyFolio(mapping, pfn);
  }

  /**
   * {@code block_read_full_folio()}, a {@code ->read_folio}: maps each buffer not uptodate with
   * {@code getBlock} (no allocation), reads the mapped ones, zeroes holes and blocks past EOF;
   * marks the folio uptodate if every buffer is, and unlocks it.
   *
   * @return 0, or a negative errno
   */
  public int blockReadFullFolio(AddressSpace mapping, long pfn, GetBlock getBlock) {
    int err = 0;
    try {
      Inode inode = host(mapping);
      BufferHead[] bhs = buffersOrCreate(mapping, pfn, 0);
      long iblock = firstBlock(mapping, pfn);
      long lblock = (inode.size() + blockSize - 1) / blockSize;
      boolean all = true;
      for (int i = 0; i < bhs.length && err == 0; i++) {
        BufferHead bh = bhs[i];
        if (bh.test(BH_UPTODATE)) {
          continue;
        }
        if (!bh.test(BH_MAPPED) && iblock + i < lblock) {
          err = getBlock.getBlock(inode, iblock + i, bh, false);
        }
        if (err == 0 && !bh.test(BH_MAPPED)) {
          zero(mapping, bh, 0, blockSize); // a hole or past EOF
          bh.set(BH_UPTODATE);
        } else if (err == 0) {
          err = io(BioOp.READ, bh);
          if (err == 0) {
            bh.set(BH_UPTODATE);
          }
        }
        all &= bh.test(BH_UPTODATE);
      }
      if (err == 0 && all) {
        mapping.folios().folioMarkUptodate(pfn);
      }
    } catch (KernelException e) {
      err = -e.errno().number();
    } finally {
      mapping.folios().folioUnlock(pfn);
    }
    return err;
  }

  /**
   * {@code block_write_begin()}: the folio at {@code pos}, locked and referenced, with buffers for
   * {@code [pos, pos + len)} mapped (allocated through {@code getBlock}) and the partly written
   * ones read in; a new block is zeroed around the write.
   *
   * @return the folio's pfn
   * @throws KernelException {@code getBlock}'s error ({@code ENOSPC}) or the read's ({@code EIO});
   *     the folio is then unlocked and released
   */
  public long blockWriteBegin(AddressSpace mapping, long pos, int len, GetBlock getBlock) {
    long pfn = sb.vm().filemap().filemapGrabFolio(mapping, pos >>> PAGE_SHIFT);
    try {
      blockPrepareWrite(mapping, pfn, pos, len, getBlock);
      return pfn;
    } catch (RuntimeException e) {
      mapping.folios().folioUnlock(pfn);
      mapping.physicalMemory().allocator().putPage(pfn);
      throw e;
    }
  }

  /**
   * {@code __block_write_begin()}: {@link #blockWriteBegin} on a folio the caller grabbed and
   * locked; on an error the caller unlocks and releases it.
   *
   * @throws KernelException {@code getBlock}'s error ({@code ENOSPC}) or the read's ({@code EIO})
   */
  public void blockPrepareWrite(
      AddressSpace mapping, long pfn, long pos, int len, GetBlock getBlock) {
    {
      int from = (int) (pos & (PAGE_SIZE - 1));
      int to = from + len;
      Inode inode = host(mapping);
      BufferHead[] bhs = buffersOrCreate(mapping, pfn, 0);
      boolean uptodate = mapping.physicalMemory().memmap().testFlag(pfn, PageFlags.PG_UPTODATE);
      long iblock = firstBlock(mapping, pfn);
      for (int i = 0; i < bhs.length; i++) {
        BufferHead bh = bhs[i];
        int start = bh.offset();
        int end = start + blockSize;
        if (end <= from || start >= to) {
          if (uptodate) {
            bh.set(BH_UPTODATE);
          }
          continue;
        }
        bh.clear(BH_NEW);
        if (!bh.test(BH_MAPPED)) {
          int err = getBlock.getBlock(inode, iblock + i, bh, true);
          if (err < 0) {
            throw new KernelException(Errno.of(err), "get_block of block " + (iblock + i));
          }
          if (bh.test(BH_NEW)) {
            if (uptodate) {
              bh.clear(BH_NEW);
              bh.set(BH_UPTODATE);
              markBufferDirty(bh);
              continue;
            }
            zero(mapping, bh, 0, Math.max(0, from - start)); // folio_zero_segments()
            zero(mapping, bh, Math.min(blockSize, to - start), blockSize);
            continue;
          }
        }
        if (uptodate) {
          bh.set(BH_UPTODATE);
          continue;
        }
        if (!bh.test(BH_UPTODATE) && !bh.test(BH_DELAY) && (start < from || end > to)) {
          int err = io(BioOp.READ, bh);
          if (err < 0) {
            throw new KernelException(Errno.of(err), "reading block " + bh.blocknr());
          }
          bh.set(BH_UPTODATE);
        }
      }
    }
  }

  /**
   * {@code block_write_end()} with {@code generic_write_end()}: the {@code copied} bytes at {@code
   * pos} are in the folio; their buffers become uptodate and dirty ({@code
   * __block_commit_write()}), the folio uptodate once all its buffers are, {@code i_size} grows;
   * unlocks and releases the folio.
   */
  public void blockWriteEnd(AddressSpace mapping, long pfn, long pos, int copied) {
    try {
      int from = (int) (pos & (PAGE_SIZE - 1));
      int to = from + copied;
      boolean all = true;
      for (BufferHead bh : folioBuffers(mapping, pfn)) {
        if (bh.offset() + blockSize > from && bh.offset() < to) {
          bh.set(BH_UPTODATE);
          markBufferDirty(bh);
          bh.clear(BH_NEW);
        }
        all &= bh.test(BH_UPTODATE);
      }
      if (all) {
        mapping.folios().folioMarkUptodate(pfn);
      }
      Inode inode = host(mapping);
      if (pos + copied > inode.size()) {
        inode.setSize(pos + copied);
      }
    } finally {
      mapping.folios().folioUnlock(pfn);
      mapping.physicalMemory().allocator().putPage(pfn);
    }
  }

  /**
   * {@code block_write_full_folio()}, the per-folio write under writeback: buffers past EOF are
   * cleaned, dirty unmapped ones get blocks from {@code getBlock}, every mapped dirty buffer is
   * written and cleaned. The buffers stay attached.
   *
   * @return 0, or a negative errno ({@code -EIO} from the device)
   */
  public int blockWriteFullFolio(AddressSpace mapping, long pfn, GetBlock getBlock) {
    return blockWriteFullFolioFrom(mapping, pfn, pfn, getBlock);
  }

  /**
   * {@link #blockWriteFullFolio} whose bios carry {@code dataPfn}, a copy of the folio {@code pfn}
   * laid out like it (a bounce page, as {@code fscrypt} writes its ciphertext pages): the buffers
   * of {@code pfn} are mapped and cleaned, the device gets the copy.
   */
  public int blockWriteFullFolioFrom(
      AddressSpace mapping, long pfn, long dataPfn, GetBlock getBlock) {
    try {
      Inode inode = host(mapping);
      long size = inode.size();
      long start = mapping.physicalMemory().memmap().index(pfn) << PAGE_SHIFT;
      if (start >= size) {
        return 0; // wholly past EOF: truncate drops it
      }
      BufferHead[] bhs = buffersOrCreate(mapping, pfn, (1 << BH_UPTODATE) | (1 << BH_DIRTY));
      long iblock = firstBlock(mapping, pfn);
      long lastBlock = (size - 1) / blockSize;
      for (int i = 0; i < bhs.length; i++) {
        BufferHead bh = bhs[i];
        if (iblock + i > lastBlock) {
          bh.clear(BH_DIRTY); // past EOF: nothing to write
          bh.set(BH_UPTODATE);
        } else if (!bh.test(BH_MAPPED) && bh.test(BH_DIRTY)) {
          int err = getBlock.getBlock(inode, iblock + i, bh, true);
          if (err < 0) {
            return err;
          }
          bh.clear(BH_NEW);
        }
      }
      int first = 0;
      for (BufferHead bh : bhs) {
        if (bh.test(BH_MAPPED) && bh.test(BH_DIRTY)) {
          bh.clear(BH_DIRTY);
          int err = io(BioOp.WRITE, bh, dataPfn);
          if (err < 0) {
            bh.set(BH_DIRTY); // mark_buffer_write_io_error() keeps it for a retry
            first = first == 0 ? err : first;
          }
        }
      }
      return first;
    } catch (KernelException e) {
      return -e.errno().number();
    }
  }

  /**
   * {@code block_invalidate_folio()}, an {@code ->invalidate_folio}: buffers wholly inside {@code
   * [offset, offset + length)} are discarded; if that is the whole folio its buffers are freed.
   */
  public void blockInvalidateFolio(AddressSpace mapping, long pfn, int offset, int length) {
    BufferHead[] bhs = folioBuffers(mapping, pfn);
    if (bhs == null) {
      mapping.folios().folioDetachPrivate(pfn);
      return;
    }
    for (BufferHead bh : bhs) {
      if (bh.offset() >= offset && bh.offset() + blockSize <= offset + length) {
        bh.unmap(); // discard_buffer()
      }
    }
    if (offset == 0 && length >= mapping.folioSize(pfn)) {
      tryToFreeBuffers(mapping, pfn);
    }
  }

  /**
   * {@code try_to_free_buffers()}: detaches the locked folio's buffers unless one is dirty or
   * locked, or the folio is under writeback.
   *
   * @return true if the folio has no buffers now
   */
  public boolean tryToFreeBuffers(AddressSpace mapping, long pfn) {
    if (mapping.folios().folioTestWriteback(pfn)) {
      return false;
    }
    BufferHead[] bhs = folioBuffers(mapping, pfn);
    if (bhs != null) {
      for (BufferHead bh : bhs) {
        if (bh.test(BH_DIRTY) || bh.test(BH_LOCK)) {
          return false; // buffer_busy()
        }
      }
      synchronized (this) {
        Map<Long, BufferHead[]> m = table.get(mapping);
        m.remove(index(mapping, pfn));
        if (m.isEmpty()) {
          table.remove(mapping);
        }
      }
    }
    mapping.folios().folioDetachPrivate(pfn);
    return true;
  }

  private Inode host(AddressSpace mapping) {
    Inode inode = sb.host(mapping);
    if (inode == null) {
      throw new KernelException(Errno.EIO, mapping + " is no file of " + sb);
    }
    return inode;
  }

  private static long index(AddressSpace mapping, long pfn) {
    return mapping.physicalMemory().memmap().index(pfn);
  }

  private long firstBlock(AddressSpace mapping, long pfn) {
    return (index(mapping, pfn) << PAGE_SHIFT) / blockSize;
  }

  private void zero(AddressSpace mapping, BufferHead bh, int from, int to) {
    if (to > from) {
      mapping.physicalMemory().ram().write(bh.folio(), bh.offset() + from, ZEROES, 0, to - from);
    }
  }

  /** {@code submit_bh()} and wait: one bio for the buffer's block. */
  private int io(BioOp op, BufferHead bh) {
    return io(op, bh, bh.folio());
  }

  /**
   * {@link #io(BioOp, BufferHead)} carrying the block of {@code dataPfn} at the buffer's offset.
   */
  private int io(BioOp op, BufferHead bh, long dataPfn) {
    bh.set(BH_LOCK);
    try {
      Bio bio =
          new Bio(op, bh.blocknr() * (blockSize / Bio.SECTOR_SIZE), 0, 1)
              .addPage(dataPfn, bh.offset(), blockSize);
      int status = BioBatch.submitBioWait(sb.vm().physicalMemory().scheduler(), sb.bdev(), bio);
      return status == 0 ? 0 : -Errno.EIO.number();
    } finally {
      bh.clear(BH_LOCK);
    }
  }
}
