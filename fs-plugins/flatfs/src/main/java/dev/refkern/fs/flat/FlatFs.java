package dev.refkern.fs.flat;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.Bio;
import dev.refkern.block.BlockDevice;
import dev.refkern.fs.buffer.MetaIo;
import dev.refkern.fs.flat.internal.FlatSb;
import dev.refkern.fs.flat.internal.Layout;
import dev.refkern.fs.iomap.IomapAops;
import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The {@code flatfs} filesystem type, a {@code struct file_system_type} with {@code
 * FS_REQUIRES_DEV}: a root directory of contiguous files on a block device, read and written
 * through iomap. The template for a block-backed plugin.
 *
 * <p>Block 0 is the superblock (magic, version, block size 4096, extent size, number of slots,
 * CRC32C), then the inode table (one 256-byte slot per file: name up to 200 bytes, start block,
 * size, mode, link count, mtime), then each slot's extent. A file holds at most one extent ({@code
 * s_maxbytes}: {@code EFBIG} past it); a new file with no free slot gets {@code ENOSPC}; {@code
 * mkdir} is {@code EPERM}.
 *
 * <p>Data reaches the disk at writeback; a file's slot at {@code fsync} (after a {@code
 * REQ_PREFLUSH}, with {@code REQ_FUA}), at {@code sync} and at unmount. Options: {@code mkfs}
 * formats the device first, {@code extent=} (with a k/m/g suffix, with {@code mkfs} only) sets the
 * extent size, default 64k; anything else is {@code EINVAL}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class FlatFs implements FileSystemType {
  /** The extent size {@code mkfs} uses unless told. */
  public static final long DEFAULT_EXTENT = 64 << 10;

  private final Map<SuperBlock, FlatSb> mounted = new IdentityHashMap<>();

  @Override
  public String name() {
    return "flatfs";
  }

  @Override
  public boolean requiresDev() {
    return true;
  }

  @Override
  public boolean hasMkdir() {
    return false; // one flat root directory
  }

  /**
   * {@code mkfs.flatfs}: writes an empty filesystem of {@code extentBytes} extents to {@code bdev}
   * and flushes it.
   *
   * @throws KernelException {@code EINVAL} for an extent that is not whole blocks, {@code ENOSPC}
   *     if not one slot fits, {@code EIO}
   */
  public static void mkfs(PhysicalMemory mem, BlockDevice bdev, long extentBytes) {
    if (extentBytes <= 0 || extentBytes % Layout.BLOCK != 0) {
      throw new KernelException(
          Errno.EINVAL, "flatfs: extent " + extentBytes + " not whole blocks");
    }
    long blocks = bdev.capacitySectors() * Bio.SECTOR_SIZE / Layout.BLOCK;
    int slots = Layout.fit(blocks, extentBytes / Layout.BLOCK);
    if (slots < 1) {
      throw new KernelException(Errno.ENOSPC, "flatfs: " + bdev.name() + " too small");
    }
    Layout l = new Layout(slots, extentBytes / Layout.BLOCK);
    MetaIo io = new MetaIo(mem, bdev, Layout.BLOCK, "flatfs");
    for (long b = l.tableStart; b < l.dataStart; b++) {
      io.write(b, new byte[Layout.BLOCK], 0);
    }
    io.write(0, l.encodeSuper(), 0);
    io.flush();
  }

  @Override
  public SuperBlock mount(VirtualMemory vm, String source, String options) {
    throw new KernelException(Errno.ENOTBLK, "flatfs needs a block device, not " + source);
  }

  @Override
  public SuperBlock mount(VirtualMemory vm, BlockDevice bdev, String source, String options) {
    boolean mkfs = false;
    long extent = -1;
    if (options != null && !options.isEmpty()) {
      for (String opt : options.split(",")) {
        int eq = opt.indexOf('=');
        String key = eq < 0 ? opt : opt.substring(0, eq);
        switch (key) {
          case "mkfs" -> mkfs = true;
          case "extent" -> extent = memparse(eq < 0 ? "" : opt.substring(eq + 1));
          default -> throw new KernelException(Errno.EINVAL, "flatfs: unknown parameter " + key);
        }
      }
    }
    if (extent >= 0 && !mkfs) {
      throw new KernelException(Errno.EINVAL, "flatfs: extent= is for mkfs only");
    }
    PhysicalMemory mem = vm.physicalMemory();
    if (mkfs) {
      mkfs(mem, bdev, extent < 0 ? DEFAULT_EXTENT : extent);
    }
    MetaIo io = new MetaIo(mem, bdev, Layout.BLOCK, "flatfs");
    Layout l = Layout.decodeSuper(io.read(0), source);
    if (l.totalBlocks() * Layout.BLOCK > bdev.capacitySectors() * Bio.SECTOR_SIZE) {
      throw new KernelException(Errno.EINVAL, "flatfs: " + source + " is smaller than its fs");
    }
    FlatSb fs = new FlatSb(l, io, bdev);
    IomapAops aops = new IomapAops();
    SuperBlock sb = new SuperBlock(this, vm, aops, source, l.extentBytes(), l.nrSlots + 1L, bdev);
    aops.bind(sb);
    fs.attach(sb);
    sb.setIomapOps(fs);
    Inode root = sb.newInode(Inode.S_IFDIR | 0755);
    sb.setRoot(root);
    for (int b = 0; b * Layout.SLOTS_PER_BLOCK < l.nrSlots; b++) {
      byte[] table = io.read(l.tableStart + b);
      for (int j = 0; j < Layout.SLOTS_PER_BLOCK; j++) {
        int i = b * Layout.SLOTS_PER_BLOCK + j;
        Layout.Slot s = i < l.nrSlots ? Layout.decodeSlot(table, j * Layout.SLOT) : null;
        if (s != null && s.used() && !s.name().isEmpty() && root.lookup(s.name()) == null) {
          Inode f = sb.newInode(Inode.S_IFREG | (s.mode() & 07777));
          f.setSize(Math.min(s.size(), l.extentBytes()));
          root.addEntry(s.name(), f);
          fs.own(i, f);
        }
      }
    }
    synchronized (mounted) {
      mounted.put(sb, fs);
    }
    return sb;
  }

  private static long memparse(String v) {
    int shift = 0;
    if (!v.isEmpty()) {
      shift =
          switch (Character.toLowerCase(v.charAt(v.length() - 1))) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            default -> 0;
          };
    }
    try {
      return Long.parseLong(shift == 0 ? v : v.substring(0, v.length() - 1)) << shift;
    } catch (NumberFormatException e) {
      throw new KernelException(Errno.EINVAL, "flatfs: bad extent '" + v + "'");
    }
  }

  private FlatSb fs(SuperBlock sb) {
    synchronized (mounted) {
      FlatSb fs = mounted.get(sb);
      if (fs == null) {
        throw new KernelException(Errno.EINVAL, sb + " is not a mounted flatfs");
      }
      return fs;
    }
  }

  /** {@code ->fsync}: data first, then the inode's slot with {@code REQ_PREFLUSH|REQ_FUA}. */
  @Override
  public FileOperations fileOperations() {
    return fileOps;
  }

  private final FileOperations fileOps =
      new FileOperations() {
        @Override
        public void fsync(Inode inode, long start, long end, boolean datasync) {
          FileOperations.fileWriteAndWaitRange(inode, start, end);
          fs(inode.sb()).writeSlotOf(inode, Bio.REQ_PREFLUSH | Bio.REQ_FUA);
        }
      };

  @Override
  public void syncFs(SuperBlock sb) {
    fs(sb).writeTable();
  }

  /** Writes everything back, then the table, then forgets every inode, even if the disk fails. */
  @Override
  public void killSb(SuperBlock sb) {
    try {
      sb.genericShutdown(() -> syncFs(sb));
    } finally {
      synchronized (mounted) {
        mounted.remove(sb);
      }
    }
  }

  /**
   * {@code fsck.flatfs} of the image file {@code source}: bad magic or checksum, and per used slot
   * an extent out of range or overlapping another, or a size past the extent, one string each.
   */
  @Override
  public List<String> check(String source) {
    List<String> problems = new ArrayList<>();
    try (FileChannel ch = FileChannel.open(Path.of(source), StandardOpenOption.READ)) {
      long totalBlocks = ch.size() / Layout.BLOCK;
      Layout l;
      try {
        l = Layout.decodeSuper(block(ch, 0), source);
      } catch (KernelException e) {
        problems.add(e.getMessage());
        return problems;
      }
      List<long[]> extents = new ArrayList<>();
      for (int i = 0; i < l.nrSlots; i++) {
        if (i % Layout.SLOTS_PER_BLOCK == 0
            && l.tableStart + i / Layout.SLOTS_PER_BLOCK >= totalBlocks) {
          problems.add("inode table past the end of " + source);
          break;
        }
        byte[] table = block(ch, l.tableStart + i / Layout.SLOTS_PER_BLOCK);
        Layout.Slot s = Layout.decodeSlot(table, (i % Layout.SLOTS_PER_BLOCK) * Layout.SLOT);
        if (!s.used()) {
          continue;
        }
        long end = s.start() + l.extentBlocks;
        if (s.start() < l.dataStart || end > totalBlocks) {
          problems.add("slot " + i + " (" + s.name() + "): extent " + s.start() + " out of range");
        }
        for (long[] e : extents) {
          if (s.start() < e[1] && e[0] < end) {
            problems.add("slot " + i + " (" + s.name() + "): extent overlaps slot " + e[2]);
          }
        }
        extents.add(new long[] {s.start(), end, i});
        if (s.size() > l.extentBytes()) {
          problems.add("slot " + i + " (" + s.name() + "): size " + s.size() + " > extent");
        }
      }
    } catch (IOException e) {
      problems.add("cannot read " + source + ": " + e.getMessage());
    }
    return problems;
  }

  private static byte[] block(FileChannel ch, long blk) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(Layout.BLOCK);
    while (b.hasRemaining() && ch.read(b, blk * Layout.BLOCK + b.position()) >= 0) {}
    return b.array();
  }
}
