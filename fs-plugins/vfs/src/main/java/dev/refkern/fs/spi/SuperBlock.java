package dev.refkern.fs.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.BlockDevice;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.Errseq;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.spi.AddressSpaceOperations;
import dev.refkern.mm.vm.MappingPinnedPolicies;
import dev.refkern.mm.vm.PinnedTruncateDecision;
import dev.refkern.mm.vm.PinnedWritebackDecision;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import org.apiguardian.api.API;

/**
 * A mounted filesystem instance, {@code struct super_block} ({@code include/linux/fs.h}): its type,
 * root, inode numbers, {@code s_maxbytes} and the address-space operations of its files.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class SuperBlock {
  /**
   * refkern's {@code MAX_LFS_FILESIZE}: the last page index the page cache takes is {@code
   * AddressSpace.MAX_INDEX}, so a file ends before it.
   */
  public static final long MAX_LFS_FILESIZE =
      dev.refkern.mm.AddressSpace.MAX_INDEX << Page.PAGE_SHIFT;

  private final FileSystemType type;
  private final VirtualMemory vm;
  private final AddressSpaceOperations aops;
  private final String source;
  private final long maxBytes;
  private final long maxInodes;
  private long nextIno = 1;
  private long nrInodes;
  private final List<Inode> live = new ArrayList<>();
  private final IdentityHashMap<AddressSpace, Inode> hosts = new IdentityHashMap<>();
  private final BlockDevice bdev;
  private final boolean stableWrites;
  private volatile IomapOps iomapOps;
  private volatile boolean rdonly; // SB_RDONLY set at run time (ext4's errors=remount-ro)
  private final Errseq wbErr = new Errseq();
  private Inode root;
  private PinnedWritebackDecision pinnedWriteback; // null: the booted policy
  private PinnedTruncateDecision pinnedTruncate;

  /**
   * A superblock of {@code type} on {@code vm}, whose files' page caches use {@code aops}.
   *
   * @param maxBytes {@code s_maxbytes}: writes and truncates past it fail with {@code EFBIG}
   * @param maxInodes how many inodes may live at once ({@code nr_inodes=}), or {@link
   *     Long#MAX_VALUE}
   */
  public SuperBlock(
      FileSystemType type,
      VirtualMemory vm,
      AddressSpaceOperations aops,
      String source,
      long maxBytes,
      long maxInodes) {
    this(type, vm, aops, source, maxBytes, maxInodes, null);
  }

  /**
   * A superblock on the block device {@code bdev} ({@code get_tree_bdev()}'s {@code
   * setup_bdev_super()}): a device with {@link BlockDevice#BLK_FEAT_STABLE_WRITES} sets {@code
   * SB_I_STABLE_WRITES}, so every regular file's mapping gets {@code AS_STABLE_WRITES}.
   *
   * @param bdev {@code s_bdev}, or null for a filesystem on no device
   */
  public SuperBlock(
      FileSystemType type,
      VirtualMemory vm,
      AddressSpaceOperations aops,
      String source,
      long maxBytes,
      long maxInodes,
      BlockDevice bdev) {
    this.bdev = bdev;
    this.stableWrites = bdev != null && (bdev.features() & BlockDevice.BLK_FEAT_STABLE_WRITES) != 0;
    this.type = type;
    this.vm = vm;
    this.aops = aops;
    this.source = source;
    this.maxBytes = Math.min(maxBytes, MAX_LFS_FILESIZE);
    this.maxInodes = maxInodes;
  }

  public FileSystemType type() {
    return type;
  }

  public VirtualMemory vm() {
    return vm;
  }

  public AddressSpaceOperations aops() {
    return aops;
  }

  public String source() {
    return source;
  }

  /** {@code s_bdev}: the block device, null for tmpfs. */
  public BlockDevice bdev() {
    return bdev;
  }

  /** {@code s_iflags & SB_I_STABLE_WRITES}: the device needs stable pages during writeback. */
  public boolean stableWrites() {
    return stableWrites;
  }

  /**
   * {@code sb_rdonly()}: the filesystem itself went read-only after mount (ext4's {@code
   * errors=remount-ro}); every mount of it refuses changes with {@code EROFS}.
   */
  public boolean readOnly() {
    return rdonly;
  }

  /** Sets {@code SB_RDONLY} ({@code sb->s_flags |= SB_RDONLY} in {@code ext4_handle_error()}). */
  public void setReadOnly() {
    rdonly = true;
  }

  /** The filesystem's {@code iomap_ops}, null if it does not use iomap for buffered I/O. */
  public IomapOps iomapOps() {
    return iomapOps;
  }

  /**
   * Makes buffered writes and truncates go through {@code ops} ({@code iomap_file_buffered_write}).
   */
  public void setIomapOps(IomapOps ops) {
    this.iomapOps = ops;
  }

  /** {@code mapping->host}: the inode whose page cache {@code mapping} is, or null. */
  public synchronized Inode host(AddressSpace mapping) {
    return hosts.get(mapping);
  }

  /** {@code s_maxbytes}. */
  public long maxBytes() {
    return maxBytes;
  }

  /** {@code s_wb_err}: every writeback error of its files, for {@code syncfs()}. */
  public Errseq wbErr() {
    return wbErr;
  }

  /** {@code s_root}'s inode. */
  public synchronized Inode root() {
    return root;
  }

  /** Sets the root directory ({@code d_make_root()}), once, from {@code ->mount}. */
  public synchronized void setRoot(Inode dir) {
    if (root != null || !dir.isDir() || dir.sb() != this) {
      throw new IllegalStateException("root already set or not a directory of this superblock");
    }
    root = dir;
  }

  /**
   * {@code new_inode()}: a fresh inode of {@code mode} ({@link Inode#S_IFREG} or {@link
   * Inode#S_IFDIR} with permission bits) with no links yet.
   *
   * @throws KernelException {@code ENOSPC} when {@code nr_inodes} are in use
   */
  public synchronized Inode newInode(int mode) {
    if (nrInodes >= maxInodes) {
      throw new KernelException(Errno.ENOSPC, "no free inodes on " + type.name() + " " + source);
    }
    nrInodes++;
    Inode i = new Inode(this, nextIno++, mode);
    applyPinnedPolicies(i);
    live.add(i);
    if (i.mapping() != null) {
      hosts.put(i.mapping(), i);
    }
    return i;
  }

  /**
   * The mount's {@code pinned_writeback=} / {@code pinned_truncate=} decisions (null: the booted
   * policy), given to every inode's mapping, now and as inodes are created.
   */
  public synchronized void setPinnedPolicies(
      PinnedWritebackDecision writeback, PinnedTruncateDecision truncate) {
    pinnedWriteback = writeback;
    pinnedTruncate = truncate;
    for (Inode i : live) {
      applyPinnedPolicies(i);
    }
  }

  /** The mount's writeback decision for pinned folios; null for the booted policy. */
  public synchronized PinnedWritebackDecision pinnedWriteback() {
    return pinnedWriteback;
  }

  /** The mount's truncate decision for pinned folios; null for the booted policy. */
  public synchronized PinnedTruncateDecision pinnedTruncate() {
    return pinnedTruncate;
  }

  private void applyPinnedPolicies(Inode i) {
    if (i.mapping() != null) {
      MappingPinnedPolicies.setPinnedWriteback(i.mapping(), pinnedWriteback);
      MappingPinnedPolicies.setPinnedTruncate(i.mapping(), pinnedTruncate);
    }
  }

  /** Inodes alive now (linked or still open). */
  public synchronized long nrInodes() {
    return nrInodes;
  }

  /** Every live inode, for {@code ->kill_sb} and checks. */
  public synchronized List<Inode> inodes() {
    return List.copyOf(live);
  }

  /** {@code evict()} accounting: the inode has gone. */
  synchronized void forget(Inode i) {
    if (live.remove(i)) {
      hosts.remove(i.mapping());
      nrInodes--;
    }
  }

  /**
   * {@code generic_shutdown_super()} for a block-backed {@code ->kill_sb}: writes every file's
   * pages back, runs {@code putSuper} (the filesystem's metadata), then evicts every inode even if
   * the device failed: what was not durable by then is lost, the superblock goes all the same.
   */
  public void genericShutdown(Runnable putSuper) {
    try {
      for (Inode i : inodes()) {
        if (i.isReg()) {
          vm.filemap().filemapWriteAndWait(i.mapping());
        }
      }
      putSuper.run();
    } catch (KernelException e) {
      // a dead disk: nothing more can be made durable
    } finally {
      for (Inode i : inodes()) {
        i.evict();
      }
    }
  }

  @Override
  public String toString() {
    return type.name() + ":" + source;
  }
}
