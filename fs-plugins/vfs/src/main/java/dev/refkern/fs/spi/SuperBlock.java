package dev.refkern.fs.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.Errseq;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.spi.AddressSpaceOperations;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.ArrayList;
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
  private final Errseq wbErr = new Errseq();
  private Inode root;

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
    live.add(i);
    return i;
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
      nrInodes--;
    }
  }

  @Override
  public String toString() {
    return type.name() + ":" + source;
  }
}
