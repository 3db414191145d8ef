package dev.refkern.fs.flat.internal;

import static dev.refkern.fs.flat.internal.Layout.BLOCK;
import static dev.refkern.fs.flat.internal.Layout.SLOT;
import static dev.refkern.fs.flat.internal.Layout.SLOTS_PER_BLOCK;
import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.block.BlockDevice;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.spi.IomapOps;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import org.apiguardian.api.API;

/**
 * A mounted flatfs ({@code s_fs_info}): which inode owns which slot, and its iomap ops. A file's
 * extent is fixed by its slot, so mapping never allocates; a slot is taken at the first write or
 * fsync of a new file and is free again once its inode is evicted.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class FlatSb implements IomapOps {
  private final Layout layout;
  private final MetaIo io;
  private final BlockDevice bdev;
  private final Inode[] owners;
  private SuperBlock sb;

  public FlatSb(Layout layout, MetaIo io, BlockDevice bdev) {
    this.layout = layout;
    this.io = io;
    this.bdev = bdev;
    this.owners = new Inode[layout.nrSlots];
  }

  public void attach(SuperBlock sb) {
    this.sb = sb;
  }

  public Layout layout() {
    return layout;
  }

  /** Records that slot {@code i} holds {@code inode} (at mount). */
  public synchronized void own(int i, Inode inode) {
    owners[i] = inode;
  }

  /**
   * The slot of {@code inode}, taking a free one for a new file.
   *
   * @throws KernelException {@code ENOSPC} if none is free
   */
  public synchronized int slotOf(Inode inode) {
    int free = -1;
    for (int i = 0; i < owners.length; i++) {
      if (owners[i] == inode) {
        return i;
      }
      if (free < 0 && (owners[i] == null || owners[i].evicted())) {
        free = i;
      }
    }
    if (free < 0) {
      throw new KernelException(Errno.ENOSPC, "flatfs: no free slot on " + bdev.name());
    }
    owners[free] = inode;
    return free;
  }

  @Override
  public void iomapBegin(Inode inode, long pos, long length, int flags, Iomap iomap) {
    long ext = layout.extentBytes();
    if ((flags & IOMAP_WRITE) != 0 && pos >= ext) {
      throw new KernelException(Errno.ENOSPC, "flatfs: write at " + pos + " past the extent");
    }
    long addr = layout.start(slotOf(inode)) * BLOCK;
    // a write, or zeroing past EOF before one, may use the whole extent; a read stops at EOF
    boolean writing = (flags & (IOMAP_WRITE | IOMAP_ZERO)) != 0;
    long valid = writing ? ext : Math.min(ext, roundUp(inode.size()));
    if (pos >= valid) { // past EOF (read) or past the extent: nothing there
      long end = Math.max(ext, pos + Math.max(length, 1));
      iomap.set(Iomap.HOLE, 0, pos, end - pos, Iomap.NULL_ADDR, null);
      return;
    }
    iomap.set(Iomap.MAPPED, 0, 0, valid, addr, bdev);
  }

  @Override
  public void mapBlocks(Inode inode, long pos, long length, Iomap iomap) {
    iomapBegin(inode, pos, length, IOMAP_WRITE, iomap);
  }

  private static long roundUp(long v) {
    return (v + BLOCK - 1) / BLOCK * BLOCK;
  }

  /**
   * Writes the table block holding {@code inode}'s slot with {@code flags} ({@code
   * REQ_PREFLUSH|REQ_FUA} from fsync: the data before it is durable first, the slot at completion).
   */
  public void writeSlotOf(Inode inode, int flags) {
    writeTableBlock(slotOf(inode) / SLOTS_PER_BLOCK, flags);
  }

  /** Writes every table block, then flushes the device ({@code ->sync_fs}). */
  public void writeTable() {
    for (int b = 0; b * SLOTS_PER_BLOCK < layout.nrSlots; b++) {
      writeTableBlock(b, 0);
    }
    io.flush();
  }

  private void writeTableBlock(int b, int flags) {
    byte[] table = new byte[BLOCK];
    synchronized (this) {
      for (int j = 0; j < SLOTS_PER_BLOCK; j++) {
        int i = b * SLOTS_PER_BLOCK + j;
        if (i < owners.length) {
          Layout.encodeSlot(table, j * SLOT, slot(i, owners[i]));
        }
      }
    }
    io.write(layout.tableStart + b, table, flags);
  }

  /** The on-disk slot {@code i} for {@code inode}: free unless it is linked in the root. */
  private Layout.Slot slot(int i, Inode inode) {
    if (inode == null || inode.evicted() || inode.nlink() == 0) {
      return null;
    }
    Inode root = sb.root();
    for (String name : root.names()) {
      if (root.lookup(name) == inode) {
        return new Layout.Slot(
            name,
            layout.start(i),
            inode.size(),
            inode.mode() & 07777,
            inode.nlink(),
            inode.mtime());
      }
    }
    return null;
  }
}
