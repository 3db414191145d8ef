package dev.refkern.fs.xfs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BlockDevice;
import dev.refkern.fs.Falloc;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.fs.xfs.internal.Fmt;
import dev.refkern.fs.xfs.internal.XfsAops;
import dev.refkern.fs.xfs.internal.XfsCheck;
import dev.refkern.fs.xfs.internal.XfsLog;
import dev.refkern.fs.xfs.internal.XfsMount;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.VirtualMemory;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The {@code xfs} filesystem type, a {@code struct file_system_type} with {@code FS_REQUIRES_DEV}
 * ({@code fs/xfs/xfs_super.c}): allocation groups, each with its free space indexed by block and by
 * size and its inode chunks; inodes whose data forks map extents (written or unwritten), in the
 * inode or in extent blocks; linear directories. File data goes only through iomap (no buffer
 * heads) with delayed allocation: a write reserves blocks, writeback allocates them. {@code
 * fallocate} makes unwritten extents (read as zeros, written at I/O completion) or punches holes.
 * Metadata reaches the disk through the filesystem's log ({@code internal.MetaLog}) at {@code
 * fsync}, {@code sync} and unmount.
 *
 * <p>Options: {@code mkfs} formats the device first; with it {@code agcount=} and {@code
 * inodes_per_ag=} (a multiple of 64) shape the AGs and {@code reflink=0} formats without reflink
 * (without {@code mkfs} it refuses clones on that mount); anything else is {@code EINVAL}. Mounts
 * bounce pinned folios under writeback ({@code pinned_writeback=bounce}) unless told otherwise.
 * After an error at run time (a failed log write, a failed allocation of reserved blocks) or {@link
 * #shutdown} every operation fails with {@code EIO}; corrupt metadata fails the mount with {@code
 * EUCLEAN} naming the structure.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Xfs implements FileSystemType {
  /** Inodes per AG unless {@code mkfs} is told. */
  public static final int DEFAULT_INODES_PER_AG = 256;

  private final Map<SuperBlock, XfsMount> mounted = new IdentityHashMap<>();

  @Override
  public String name() {
    return "xfs";
  }

  @Override
  public boolean requiresDev() {
    return true;
  }

  /**
   * xfs asks for stable pages but its iomap writeback can write from a copy: a pinned folio under
   * writeback is bounced ({@code bounce}) rather than waited for.
   */
  @Override
  public String defaultPinnedWriteback() {
    return "bounce";
  }

  /** The AG count {@code mkfs.xfs} picks for {@code blocks}: up to 4, each at least 512 blocks. */
  public static int defaultAgcount(long blocks) {
    return (int) Math.max(1, Math.min(4, blocks / 512));
  }

  /**
   * {@code mkfs.xfs -d agcount= -i}: writes an empty filesystem with a root directory and a zeroed
   * log to {@code bdev} and flushes it.
   *
   * @throws KernelException {@code EINVAL} for a bad geometry, {@code ENOSPC} if the device is too
   *     small, {@code EIO}
   */
  public static void mkfs(PhysicalMemory mem, BlockDevice bdev, int agcount, int inodesPerAg) {
    mkfs(mem, bdev, agcount, inodesPerAg, true);
  }

  /** {@code mkfs.xfs -m reflink=0|1}: {@link #mkfs(PhysicalMemory, BlockDevice, int, int)}. */
  public static void mkfs(
      PhysicalMemory mem, BlockDevice bdev, int agcount, int inodesPerAg, boolean reflink) {
    long blocks = bdev.capacitySectors() * Bio.SECTOR_SIZE / Fmt.BLOCK;
    Fmt.Geo g = Fmt.plan(blocks, agcount, inodesPerAg);
    XfsMount.mkfs(
        new MetaIo(mem, bdev, Fmt.BLOCK, "xfs"),
        g,
        reflink ? Fmt.FEAT_DEFAULT : Fmt.FEAT_DEFAULT & ~Fmt.FEAT_REFLINK);
    XfsLog.format(
        mem, bdev, g.logstart(), g.logblocks(), Fmt.BLOCK); // a clean log: an unmount record
  }

  /** {@link #mkfs(PhysicalMemory, BlockDevice, int, int)} with the defaults. */
  public static void mkfs(PhysicalMemory mem, BlockDevice bdev) {
    long blocks = bdev.capacitySectors() * Bio.SECTOR_SIZE / Fmt.BLOCK;
    mkfs(mem, bdev, defaultAgcount(blocks), DEFAULT_INODES_PER_AG);
  }

  @Override
  public SuperBlock mount(VirtualMemory vm, String source, String options) {
    throw new KernelException(Errno.ENOTBLK, "xfs needs a block device, not " + source);
  }

  @Override
  public SuperBlock mount(VirtualMemory vm, BlockDevice bdev, String source, String options) {
    boolean mkfs = false;
    int agcount = -1;
    int ipag = -1;
    int reflink = -1;
    if (options != null && !options.isEmpty()) {
      for (String opt : options.split(",")) {
        int eq = opt.indexOf('=');
        String key = eq < 0 ? opt : opt.substring(0, eq);
        String val = eq < 0 ? "" : opt.substring(eq + 1);
        switch (key) {
          case "mkfs" -> mkfs = true;
          case "agcount" -> agcount = number(key, val);
          case "inodes_per_ag" -> ipag = number(key, val);
          case "reflink" -> {
            reflink = number(key, val);
            if (reflink != 0 && reflink != 1) {
              throw new KernelException(Errno.EINVAL, "xfs: reflink=" + val);
            }
          }
          default ->
              throw new KernelException(Errno.EINVAL, "xfs: unknown mount option [" + key + "]");
        }
      }
    }
    if ((agcount >= 0 || ipag >= 0) && !mkfs) {
      throw new KernelException(Errno.EINVAL, "xfs: agcount= and inodes_per_ag= are for mkfs only");
    }
    PhysicalMemory mem = vm.physicalMemory();
    long devBlocks = bdev.capacitySectors() * Bio.SECTOR_SIZE / Fmt.BLOCK;
    if (mkfs) {
      mkfs(
          mem,
          bdev,
          agcount < 0 ? defaultAgcount(devBlocks) : agcount,
          ipag < 0 ? DEFAULT_INODES_PER_AG : ipag,
          reflink != 0);
    }
    MetaIo io = new MetaIo(mem, bdev, Fmt.BLOCK, "xfs");
    Fmt.Geo geo = Fmt.decodeSuper(io.read(0), source, devBlocks);
    XfsMount fs = XfsMount.mount(mem, io, geo, source, bdev);
    if (reflink == 0) {
      fs.disableReflink();
    }
    XfsAops aops = new XfsAops();
    SuperBlock sb = new SuperBlock(this, vm, aops, source, Long.MAX_VALUE, geo.inodes(), bdev);
    aops.bind(sb, fs);
    sb.setIomapOps(fs);
    try {
      fs.attach(sb);
    } catch (RuntimeException e) {
      for (Inode i : sb.inodes()) {
        i.evict();
      }
      fs.forceShutdown("mount failed: " + e.getMessage()); // the log's pages go with it
      throw e;
    }
    synchronized (mounted) {
      mounted.put(sb, fs);
    }
    return sb;
  }

  private static int number(String key, String val) {
    try {
      return Integer.parseInt(val);
    } catch (NumberFormatException e) {
      throw new KernelException(Errno.EINVAL, "xfs: bad value for " + key + ": '" + val + "'");
    }
  }

  private XfsMount fs(SuperBlock sb) {
    synchronized (mounted) {
      XfsMount fs = mounted.get(sb);
      if (fs == null) {
        throw new KernelException(Errno.EINVAL, sb + " is not a mounted xfs");
      }
      return fs;
    }
  }

  /** The log counters of the mounted {@code sb} ({@code /sys/fs/xfs/<dev>/stats}). */
  public XfsLogStats logStats(SuperBlock sb) {
    XfsLog.Counters c = fs(sb).logCounters();
    return new XfsLogStats(
        c.recordsWritten(), c.bytesLogged(), c.forces(), c.checkpoints(), c.transactionsReplayed());
  }

  /** {@code XFS_IOC_FSCOUNTS} of the mounted {@code sb}. */
  public XfsCounts counts(SuperBlock sb) {
    XfsMount fs = fs(sb);
    return new XfsCounts(
        fs.geo().dblocks(),
        fs.freeBlocks(),
        fs.available(),
        fs.delallocBlocks(),
        fs.busyBlocks(),
        fs.freeInodes());
  }

  /**
   * {@code FIEMAP} of one block ({@code xfs_bmapi_read()}): the device block holding file block
   * {@code lblk} of {@code inode}; 0 for a hole, -1 for a delayed block, {@code -(2 + blk)} for an
   * unwritten one.
   */
  public long bmap(Inode inode, long lblk) {
    return fs(inode.sb()).bmap(inode, lblk);
  }

  /**
   * The reference count ({@code xfs_refcount_irec}) of the device block under file block {@code
   * lblk}: 1 owned once, 2 or more shared, 0 for a hole or delayed block.
   */
  public long refcount(Inode inode, long lblk) {
    return fs(inode.sb()).refcount(inode, lblk);
  }

  /** Records of shared extents in all refcountbts of {@code sb}. */
  public int sharedRecords(SuperBlock sb) {
    return fs(sb).sharedRecords();
  }

  /** COW staging blocks of {@code sb}: allocated for copy on write, not yet remapped. */
  public long stagingBlocks(SuperBlock sb) {
    return fs(sb).stagingBlocks();
  }

  /** Data-fork extent records of {@code inode} ({@code di_nextents}). */
  public int extents(Inode inode) {
    return fs(inode.sb()).extents(inode);
  }

  /** Blocks in {@code inode}'s COW fork, reserved or allocated. */
  public long cowBlocks(Inode inode) {
    return fs(inode.sb()).cowBlocks(inode);
  }

  /** Blocks of file data {@code inode} has allocated, not counting delayed ones. */
  public long allocatedBlocks(Inode inode) {
    return fs(inode.sb()).allocatedBlocks(inode);
  }

  /** Blocks {@code inode} has reserved by delayed allocation. */
  public long delallocBlocks(Inode inode) {
    return fs(inode.sb()).delallocBlocks(inode);
  }

  /**
   * {@code XFS_IOC_GOINGDOWN} ({@code xfs_force_shutdown()}): every later operation on {@code sb}
   * fails with {@code EIO}; nothing more reaches the disk.
   */
  public void shutdown(SuperBlock sb, String why) {
    fs(sb).forceShutdown(why);
  }

  /** Why {@code sb} shut down, or null while it runs. */
  public String shutdownReason(SuperBlock sb) {
    return fs(sb).shutdownReason();
  }

  /** {@code xfs_setattr_size()}: the blocks past a smaller size are freed. */
  @Override
  public void setattrSize(Inode inode, long oldSize, long newSize) {
    fs(inode.sb()).setattrSize(inode, oldSize, newSize);
  }

  /** {@code xfs_inactive()}: an unlinked inode's last reference frees its blocks and itself. */
  @Override
  public void evictInode(Inode inode) {
    XfsMount fs;
    synchronized (mounted) {
      fs = mounted.get(inode.sb());
    }
    if (fs != null) {
      fs.evictInode(inode);
    }
  }

  /**
   * {@code xfs_file_operations}: {@code xfs_file_fsync()}, {@code xfs_file_fallocate()} (modes 0,
   * {@code KEEP_SIZE}, {@code PUNCH_HOLE|KEEP_SIZE} and {@code UNSHARE_RANGE[|KEEP_SIZE]}) and
   * {@code xfs_file_remap_range()} (reflink; {@code EOPNOTSUPP} with {@code reflink=0}).
   */
  @Override
  public FileOperations fileOperations() {
    return fileOps;
  }

  private final FileOperations fileOps =
      new FileOperations() {
        @Override
        public void fsync(Inode inode, long start, long end, boolean datasync) {
          fs(inode.sb()).fsync(inode, start, end);
        }

        @Override
        public void fallocate(Inode inode, int mode, long offset, long len) {
          XfsMount fs = fs(inode.sb());
          if (mode == 0 || mode == Falloc.FALLOC_FL_KEEP_SIZE) {
            fs.allocFileSpace(inode, offset, len, mode != 0);
          } else if (mode == (Falloc.FALLOC_FL_PUNCH_HOLE | Falloc.FALLOC_FL_KEEP_SIZE)) {
            fs.freeFileSpace(inode, offset, len);
          } else if ((mode & ~Falloc.FALLOC_FL_KEEP_SIZE) == Falloc.FALLOC_FL_UNSHARE_RANGE) {
            fs.reflink().unshare(inode, offset, len); // then xfs_alloc_file_space(), as XFS does
            fs.allocFileSpace(inode, offset, len, (mode & Falloc.FALLOC_FL_KEEP_SIZE) != 0);
          } else {
            throw new KernelException(Errno.EOPNOTSUPP, "xfs: fallocate mode " + mode);
          }
        }

        @Override
        public long remapFileRange(Inode src, long posIn, Inode dst, long posOut, long len) {
          return fs(src.sb()).reflink().remap(src, posIn, dst, posOut, len);
        }
      };

  @Override
  public void syncFs(SuperBlock sb) {
    fs(sb).syncFs();
  }

  /** {@code xfs_fs_put_super()}: writes everything back and unmounts the log, even on EIO. */
  @Override
  public void killSb(SuperBlock sb) {
    try {
      sb.genericShutdown(() -> fs(sb).unmount());
    } finally {
      synchronized (mounted) {
        mounted.remove(sb);
      }
    }
  }

  /**
   * {@code xfs_repair -n} of the image file {@code source}: superblock, AG headers, the free-space
   * indexes against each other and every inode's extents, AGI against inodes, link counts,
   * directory entries; one string per problem.
   */
  @Override
  public List<String> check(String source) {
    return XfsCheck.check(source);
  }
}
