package dev.refkern.fs.ext4;

import static dev.refkern.fs.ext4.internal.Disk.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BlockDevice;
import dev.refkern.fs.buffer.Buffers;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.fs.ext4.internal.Disk;
import dev.refkern.fs.ext4.internal.Ext4Check;
import dev.refkern.fs.ext4.internal.Ext4Errors;
import dev.refkern.fs.ext4.internal.Ext4Fallocate;
import dev.refkern.fs.ext4.internal.Ext4Sb;
import dev.refkern.fs.ext4.internal.Journal;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The {@code ext4} filesystem type, a {@code struct file_system_type} with {@code FS_REQUIRES_DEV}
 * ({@code fs/ext4/super.c}): block groups with block and inode bitmaps and an inode table, inodes
 * of which regular files map their blocks with extent trees (directories with 12 direct blocks),
 * linear directories, and file data through buffer heads with delayed allocation: {@code
 * write_begin} reserves blocks, writeback allocates them as contiguous extents. Truncate and punch
 * hole free blocks; files unlinked while open are on an orphan list that mount processes. Metadata
 * reaches the disk through a jbd2-like journal ({@code internal.Journal}) at {@code fsync}, {@code
 * sync} and unmount, and mount replays it after a power cut.
 *
 * <p>Options: {@code mkfs} formats the device first; with it {@code blocks_per_group=} and {@code
 * inodes_per_group=} (defaults 32768 and 256) shape the groups; {@code data=ordered} (default),
 * {@code journal} or {@code writeback} choose how file data meets the journal; {@code
 * errors=remount-ro} (default), {@code continue} or {@code panic} handle an inconsistency found
 * after mount; {@code nobuffers=warn} (default, mainline since 5.18) or {@code bug} (before) say
 * what writeback does with a dirty folio without buffers; anything else is {@code EINVAL}. Files
 * end at {@code (2^32 - 1) * 4096} bytes ({@code EFBIG} past it, or when a depth-2 extent tree is
 * full). Mounts choose stable pages for pinned folios ({@code pinned_writeback=wait}) unless told
 * otherwise.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Ext4 implements FileSystemType {
  /** Blocks per group unless {@code mkfs} is told: one bitmap block's worth. */
  public static final int DEFAULT_BLOCKS_PER_GROUP = BLOCK * 8;

  /** Inodes per group unless {@code mkfs} is told. */
  public static final int DEFAULT_INODES_PER_GROUP = 256;

  private final Map<SuperBlock, Ext4Sb> mounted = new IdentityHashMap<>();

  @Override
  public String name() {
    return "ext4";
  }

  @Override
  public boolean requiresDev() {
    return true;
  }

  /** ext4 writes stable pages: a pinned folio under writeback waits ({@code wait}). */
  @Override
  public String defaultPinnedWriteback() {
    return "wait";
  }

  /**
   * {@code mkfs.ext4 -b 4096 -g blocksPerGroup -N}: writes an empty filesystem with a root
   * directory to {@code bdev} and flushes it.
   *
   * @throws KernelException {@code EINVAL} for bad group sizes, {@code ENOSPC} if the device is too
   *     small, {@code EIO}
   */
  public static void mkfs(
      PhysicalMemory mem, BlockDevice bdev, int blocksPerGroup, int inodesPerGroup) {
    long blocks = bdev.capacitySectors() * Bio.SECTOR_SIZE / BLOCK;
    Ext4Sb.mkfs(
        new MetaIo(mem, bdev, Disk.BLOCK, "ext4"),
        Disk.plan(blocks, blocksPerGroup, inodesPerGroup),
        bdev.name());
  }

  /** {@link #mkfs(PhysicalMemory, BlockDevice, int, int)} with the default group sizes. */
  public static void mkfs(PhysicalMemory mem, BlockDevice bdev) {
    mkfs(mem, bdev, DEFAULT_BLOCKS_PER_GROUP, DEFAULT_INODES_PER_GROUP);
  }

  @Override
  public SuperBlock mount(VirtualMemory vm, String source, String options) {
    throw new KernelException(Errno.ENOTBLK, "ext4 needs a block device, not " + source);
  }

  @Override
  public SuperBlock mount(VirtualMemory vm, BlockDevice bdev, String source, String options) {
    boolean mkfs = false;
    Ext4Errors.Mode errorsMode = Ext4Errors.Mode.REMOUNT_RO;
    Ext4Errors.NoBuffers nobuffers = Ext4Errors.NoBuffers.WARN;
    Journal.DataMode data = Journal.DataMode.ORDERED;
    int bpg = -1;
    int ipg = -1;
    if (options != null && !options.isEmpty()) {
      for (String opt : options.split(",")) {
        int eq = opt.indexOf('=');
        String key = eq < 0 ? opt : opt.substring(0, eq);
        String val = eq < 0 ? "" : opt.substring(eq + 1);
        switch (key) {
          case "mkfs" -> mkfs = true;
          case "blocks_per_group" -> bpg = number(key, val);
          case "inodes_per_group" -> ipg = number(key, val);
          case "errors" -> errorsMode = Ext4Errors.Mode.parse(val);
          case "nobuffers" -> nobuffers = Ext4Errors.NoBuffers.parse(val);
          case "data" -> data = dataMode(val);
          default ->
              throw new KernelException(Errno.EINVAL, "ext4: Unrecognized mount option " + key);
        }
      }
    }
    if ((bpg >= 0 || ipg >= 0) && !mkfs) {
      throw new KernelException(Errno.EINVAL, "ext4: group sizes are for mkfs only");
    }
    PhysicalMemory mem = vm.physicalMemory();
    if (mkfs) {
      mkfs(
          mem,
          bdev,
          bpg < 0 ? DEFAULT_BLOCKS_PER_GROUP : bpg,
          ipg < 0 ? DEFAULT_INODES_PER_GROUP : ipg);
    }
    MetaIo io = new MetaIo(mem, bdev, Disk.BLOCK, "ext4");
    long devBlocks = bdev.capacitySectors() * Bio.SECTOR_SIZE / BLOCK;
    byte[] block0 = io.read(0);
    Disk.Super s = Disk.decodeSuper(block0, source, devBlocks);
    long[] jnl = Journal.locate(block0, s.geo(), source);
    Journal journal = null;
    if (jnl[1] > 0) { // ext4_load_journal(): replays even for a read-only mount, as ext4 does
      journal = Journal.load(io, source, jnl[0], (int) jnl[1], s.geo().blocks(), data);
      block0 = io.read(0); // the replay may have rewritten it
      s = Disk.decodeSuper(block0, source, devBlocks);
    } else if (data == Journal.DataMode.JOURNAL) {
      throw new KernelException(Errno.EINVAL, "ext4: " + source + ": data=journal needs a journal");
    }
    Ext4Sb fs = Ext4Sb.load(io, s.geo(), source);
    fs.setJournal(journal);
    fs.setErrors(
        new Ext4Errors(io, source, mem.health(), errorsMode, nobuffers, Ext4Errors.state(block0)));
    SuperBlock sb = new SuperBlock(this, vm, fs, source, fs.maxBytes(), s.geo().inodes(), bdev);
    fs.errors().onReadOnly(sb::setReadOnly);
    fs.attach(sb, new Buffers(sb, BLOCK));
    synchronized (mounted) {
      mounted.put(sb, fs);
    }
    return sb;
  }

  /** {@code data=ordered|journal|writeback}; anything else is {@code EINVAL}. */
  private static Journal.DataMode dataMode(String val) {
    return switch (val) {
      case "ordered" -> Journal.DataMode.ORDERED;
      case "journal" -> Journal.DataMode.JOURNAL;
      case "writeback" -> Journal.DataMode.WRITEBACK;
      default -> throw new KernelException(Errno.EINVAL, "ext4: bad value for data: '" + val + "'");
    };
  }

  /**
   * The journal's counters for the ext4 mounted as {@code sb} ({@code /proc/fs/jbd2/<dev>/info}):
   * see {@link Journal#stats()}; empty without a journal.
   *
   * @throws KernelException {@code EINVAL} if {@code sb} is not a mounted ext4
   */
  public Map<String, Long> journalStats(SuperBlock sb) {
    Journal j = fs(sb).journal();
    return j == null ? Map.of() : j.stats();
  }

  private static int number(String key, String val) {
    try {
      return Integer.parseInt(val);
    } catch (NumberFormatException e) {
      throw new KernelException(Errno.EINVAL, "ext4: bad value for " + key + ": '" + val + "'");
    }
  }

  private Ext4Sb fs(SuperBlock sb) {
    synchronized (mounted) {
      Ext4Sb fs = mounted.get(sb);
      if (fs == null) {
        throw new KernelException(Errno.EINVAL, sb + " is not a mounted ext4");
      }
      return fs;
    }
  }

  /** The {@code /sys/fs/ext4/<dev>/} counters of the mounted {@code sb}. */
  public Ext4Stats stats(SuperBlock sb) {
    return Ext4Stats.of(fs(sb).errors().counters());
  }

  /**
   * {@code ioctl(FIBMAP)} ({@code ext4_bmap()}): the disk block holding logical block {@code lblk}
   * of {@code inode}, 0 for a hole or a block delayed allocation has not placed yet.
   */
  public long bmap(Inode inode, long lblk) {
    return fs(inode.sb()).bmap(inode, lblk);
  }

  /**
   * {@code filemap_release_folio()} of {@code inode}'s page-cache folio {@code pfn}, as reclaim
   * calls it: locks it, and {@code ext4_release_folio()} frees its buffers if they are clean.
   *
   * @return whether the folio has no buffers now
   */
  public boolean releaseFolio(Inode inode, long pfn) {
    var folios = inode.mapping().folios();
    folios.folioLock(pfn);
    try {
      return fs(inode.sb()).releaseFolio(inode.mapping(), pfn);
    } finally {
      folios.folioUnlock(pfn);
    }
  }

  @Override
  public boolean writeBegin(Inode inode, long pfn, long pos, int len) {
    fs(inode.sb()).writeBegin(inode, pfn, pos, len);
    return true;
  }

  /** {@code ext4_setattr()} shrinking {@code i_size}: {@code ext4_truncate()} frees the blocks. */
  @Override
  public void setattrSize(Inode inode, long oldSize, long newSize) {
    fs(inode.sb()).setattrSize(inode, oldSize, newSize);
  }

  /** {@code ext4_evict_inode()}: an unlinked inode's last reference frees its blocks. */
  @Override
  public void evictInode(Inode inode) {
    Ext4Sb fs;
    synchronized (mounted) {
      fs = mounted.get(inode.sb());
    }
    if (fs != null) {
      fs.evictInode(inode);
    }
  }

  /**
   * {@code ext4_sync_file()}: data, then the inode with {@code REQ_PREFLUSH|REQ_FUA}; {@code
   * ext4_fallocate()}: unwritten extents for mode 0 and {@code FALLOC_FL_KEEP_SIZE}, {@code
   * FALLOC_FL_ZERO_RANGE}, {@code FALLOC_FL_PUNCH_HOLE}; see {@code internal.Ext4Fallocate}.
   */
  @Override
  public FileOperations fileOperations() {
    return fileOps;
  }

  private final FileOperations fileOps =
      new FileOperations() {
        @Override
        public void fsync(Inode inode, long start, long end, boolean datasync) {
          FileOperations.fileWriteAndWaitRange(inode, start, end);
          writeOrderedData(fs(inode.sb()));
          fs(inode.sb()).fsyncInode(inode);
        }

        @Override
        public void fallocate(Inode inode, int mode, long offset, long len) {
          fs(inode.sb()).errors().checkWritable("fallocate"); // ext4_journal_start(): EROFS
          Ext4Fallocate.fallocate(fs(inode.sb()), inode, mode, offset, len);
        }
      };

  @Override
  public void syncFs(SuperBlock sb) {
    writeOrderedData(fs(sb));
    fs(sb).syncFs();
  }

  /** data=ordered's data writes before taking the fs lock; the commit redoes any stragglers. */
  private static void writeOrderedData(Ext4Sb fs) {
    Journal j = fs.journal();
    if (j != null) {
      j.writeOrderedData();
    }
  }

  /** {@code ext4_put_super()}: writes everything back, then forgets every inode, even on EIO. */
  @Override
  public void killSb(SuperBlock sb) {
    try {
      sb.genericShutdown(
          () -> {
            syncFs(sb);
            fs(sb).destroyJournal();
          });
    } finally {
      synchronized (mounted) {
        mounted.remove(sb);
      }
    }
  }

  /**
   * {@code e2fsck -n} of the image file {@code source}: the superblock, bitmaps against inodes and
   * block maps, blocks owned twice, link counts, entries of free inodes; one string per problem.
   */
  @Override
  public List<String> check(String source) {
    return Ext4Check.check(source);
  }
}
