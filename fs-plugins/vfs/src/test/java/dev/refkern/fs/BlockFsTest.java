package dev.refkern.fs;

import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.Bio;
import dev.refkern.block.BioOp;
import dev.refkern.block.BlockDevice;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.RamDisk;
import dev.refkern.fs.buffer.BufferHead;
import dev.refkern.fs.buffer.Buffers;
import dev.refkern.fs.buffer.GetBlock;
import dev.refkern.fs.iomap.IomapAops;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.Iomap;
import dev.refkern.fs.spi.IomapOps;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.spi.AddressSpaceOperations;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * What fs/ gives a block-backed filesystem: device lookup for mounts, stable pages, iomap buffered
 * I/O and buffer heads, each on a tiny in-test filesystem over a RAM disk.
 */
class BlockFsTest {
  private static final long EXTENT = 8L * PAGE_SIZE; // bytes of disk per file

  @TempDir Path dir;
  private VirtualMemory vm;
  private PhysicalMemory mem;
  private long freeAtStart;
  private final List<RamDisk> disks = new ArrayList<>();
  private Vfs vfs;
  private Task task;
  private long buf;

  @BeforeEach
  void boot() {
    vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir, false);
    mem = vm.physicalMemory();
    freeAtStart = free();
    FileSystems types = FileSystems.standard();
    types.register(new LinearFs());
    types.register(new BhFs());
    vfs = new Vfs(vm, types, "tmpfs", "");
    vfs.mkdir("/mnt", 0755);
    task = vm.createTask("t");
    buf = task.mmapAnon(4L * PAGE_SIZE);
  }

  @AfterEach
  void checkNothingLeaked() {
    vfs.shutdown();
    task.exit();
    disks.forEach(RamDisk::close);
    List<String> p = mem.debugVm().checkNoPinsHeld();
    long free = free();
    mem.close();
    assertTrue(p.isEmpty(), p.toString());
    assertEquals(freeAtStart, free, "pages leaked");
  }

  private long free() {
    vm.lru().lruAddDrainAll();
    return mem.allocator().nrFreePages();
  }

  private RamDisk disk(DiskOptions opts) {
    RamDisk d = new RamDisk(mem, 1024, opts);
    disks.add(d);
    return d;
  }

  private static void assertErrno(Errno e, Executable call) {
    KernelException ex = assertThrows(KernelException.class, call);
    assertEquals(e, ex.errno(), ex.getMessage());
  }

  private static byte[] fill(int len, int b) {
    byte[] a = new byte[len];
    Arrays.fill(a, (byte) b);
    return a;
  }

  private long pwrite(int fd, byte[] data, long off) {
    task.store(buf, data, 0, data.length);
    return vfs.pwrite(task, fd, buf, data.length, off);
  }

  private byte[] pread(int fd, int len, long off) {
    long n = vfs.pread(task, fd, buf, len, off);
    byte[] b = new byte[(int) n];
    task.load(buf, b, 0, b.length);
    return b;
  }

  private Inode inode(String path) {
    for (Mount m : vfs.mounts()) {
      if (path.startsWith(m.path() + "/") && !m.path().equals("/")) {
        return m.sb().root().lookup(path.substring(m.path().length() + 1));
      }
    }
    throw new AssertionError(path);
  }

  /** Drops the clean page cache of {@code path}, so the next read comes from the disk. */
  private void dropCache(String path) {
    vm.truncate().truncateInodePages(inode(path).mapping(), 0);
  }

  // ---------------------------------------------------------------- device lookup, stable pages

  @Test
  void blockBackedMountResolvesItsSourceLikeLookupBdev() {
    RamDisk d = disk(DiskOptions.defaults());
    assertErrno(Errno.ENOENT, () -> vfs.mount("linearfs", "/dev/nothing", "/mnt", ""));
    // a name that exists but is no device node: get_tree_bdev() says ENOTBLK
    assertErrno(Errno.ENOTBLK, () -> vfs.mount("linearfs", "/mnt", "/mnt", ""));
    assertErrno(Errno.EINVAL, () -> vfs.mount("linearfs", "", "/mnt", ""));
    vfs.registerBlockDevice("/dev/ram0", d);
    Mount m = vfs.mount("linearfs", "/dev/ram0", "/mnt", "");
    assertSame(d, m.sb().bdev());
    assertNull(vfs.mounts().get(0).sb().bdev(), "tmpfs has no s_bdev");
  }

  @Test
  void stableWritesDeviceGivesEveryRegularInodeAStableMapping() {
    vfs.registerBlockDevice("/dev/ram0", disk(DiskOptions.defaults().integrity(true)));
    vfs.registerBlockDevice("/dev/ram1", disk(DiskOptions.defaults()));
    vfs.mkdir("/plain", 0755);
    Mount stable = vfs.mount("linearfs", "/dev/ram0", "/mnt", "");
    vfs.mount("linearfs", "/dev/ram1", "/plain", "");
    assertTrue(stable.sb().stableWrites(), "SB_I_STABLE_WRITES");
    vfs.close(task, vfs.open(task, "/mnt/f", O_RDWR | O_CREAT, 0644));
    vfs.close(task, vfs.open(task, "/plain/f", O_RDWR | O_CREAT, 0644));
    assertTrue(inode("/mnt/f").mapping().stableWrites(), "AS_STABLE_WRITES");
    assertFalse(inode("/plain/f").mapping().stableWrites());
  }

  // ---------------------------------------------------------------- iomap

  private int linearFile(BlockDevice d, String name) {
    vfs.registerBlockDevice("/dev/ram0", d);
    vfs.mount("linearfs", "/dev/ram0", "/mnt", "");
    return vfs.open(task, "/mnt/" + name, O_RDWR | O_CREAT, 0644);
  }

  @Test
  void iomapWritebackPutsDataAtTheMappedDeviceBytesAndReadsItBack() {
    RamDisk d = disk(DiskOptions.defaults());
    int fd = linearFile(d, "f");
    long ino = inode("/mnt/f").ino();
    byte[] data = fill(PAGE_SIZE + 100, 0x5a);
    assertEquals(data.length, pwrite(fd, data, 10));
    vfs.fsync(task, fd);
    byte[] media = d.peek(ino * EXTENT / Bio.SECTOR_SIZE, 2 * PAGE_SIZE / Bio.SECTOR_SIZE);
    assertArrayEquals(data, Arrays.copyOfRange(media, 10, 10 + data.length));
    dropCache("/mnt/f");
    assertArrayEquals(data, pread(fd, data.length, 10), "read_folio from the device");
    vfs.close(task, fd);
  }

  @Test
  void partialWriteToAnUncachedBlockKeepsTheRestOfTheBlock() {
    RamDisk d = disk(DiskOptions.defaults());
    int fd = linearFile(d, "f");
    pwrite(fd, fill(PAGE_SIZE, 'A'), 0);
    vfs.fsync(task, fd);
    dropCache("/mnt/f");
    pwrite(fd, fill(10, 'b'), 100); // __iomap_write_begin() must read the block first
    vfs.fsync(task, fd);
    dropCache("/mnt/f");
    byte[] want = fill(PAGE_SIZE, 'A');
    Arrays.fill(want, 100, 110, (byte) 'b');
    assertArrayEquals(want, pread(fd, PAGE_SIZE, 0));
    vfs.close(task, fd);
  }

  @Test
  void writeAllocationFailureSurfacesAsEnospcOrAShortWrite() {
    int fd = linearFile(disk(DiskOptions.defaults()), "f");
    assertErrno(Errno.ENOSPC, () -> pwrite(fd, fill(10, 1), EXTENT));
    assertEquals(100, pwrite(fd, fill(300, 1), EXTENT - 100), "short write up to the extent");
    assertEquals(EXTENT, vfs.fstat(task, fd).size());
    vfs.close(task, fd);
  }

  @Test
  void truncateZeroesThePartialBlockOnDiskToo() {
    int fd = linearFile(disk(DiskOptions.defaults()), "f");
    pwrite(fd, fill(PAGE_SIZE, 'A'), 0);
    vfs.fsync(task, fd);
    vfs.ftruncate(task, fd, 100); // iomap_truncate_page(): bytes 100.. zeroed and dirtied
    vfs.fsync(task, fd);
    dropCache("/mnt/f");
    vfs.ftruncate(task, fd, PAGE_SIZE);
    byte[] want = new byte[PAGE_SIZE];
    Arrays.fill(want, 0, 100, (byte) 'A');
    assertArrayEquals(want, pread(fd, PAGE_SIZE, 0), "old bytes past the cut stay gone");
    vfs.close(task, fd);
  }

  @Test
  void writebackBioErrorFailsFsyncWithEio() {
    FailingDisk d = new FailingDisk(disk(DiskOptions.defaults()));
    int fd = linearFile(d, "f");
    pwrite(fd, fill(100, 1), 0);
    d.failWrites.set(true);
    assertErrno(Errno.EIO, () -> vfs.fsync(task, fd));
    d.failWrites.set(false);
    vfs.close(task, fd);
  }

  // ---------------------------------------------------------------- buffer heads

  private BhFs.Sb bhfs() {
    RamDisk d = disk(DiskOptions.defaults());
    vfs.registerBlockDevice("/dev/ram0", d);
    Mount m = vfs.mount("bhfs", "/dev/ram0", "/mnt", "");
    return BhFs.of(m.sb());
  }

  @Test
  void bufferedWriteThroughBufferHeadsReachesTheDiskAndTruncateFreesThem() {
    BhFs.Sb fs = bhfs();
    int fd = vfs.open(task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    byte[] data = fill(PAGE_SIZE + 1024, 'x');
    pwrite(fd, data, 0);
    AddressSpace mapping = inode("/mnt/f").mapping();
    assertTrue(fs.dirtied.get() >= 2, "a folio without buffers still reached ->dirty_folio");
    vfs.fsync(task, fd);
    long ino = inode("/mnt/f").ino();
    assertArrayEquals(
        data, fs.disk.peek(BhFs.block(ino, 0) * 2, data.length / Bio.SECTOR_SIZE), "on disk");
    assertEquals(2, fs.buffers.nrFoliosWithBuffers(mapping), "writeback releases nothing");
    dropCache("/mnt/f"); // clean buffers: try_to_free_buffers() lets them go
    assertEquals(0, fs.buffers.nrFoliosWithBuffers(mapping));
    assertArrayEquals(data, pread(fd, data.length, 0), "block_read_full_folio()");
    vfs.ftruncate(task, fd, 0);
    assertEquals(0, fs.buffers.nrFoliosWithBuffers(mapping), "block_invalidate_folio()");
    vfs.close(task, fd);
  }

  /**
   * The path ext4's O2 crash takes: a GUP user dirties a folio whose buffers were released after
   * writeback cleaned it ({@code unpin_user_pages_dirty_lock()} then {@code folio_mark_dirty()}).
   * The VFS must hand that folio, without buffers, to the filesystem's {@code ->dirty_folio}.
   */
  @Test
  void unpinDirtyOfAFolioWithoutBuffersReachesTheFilesystemsDirtyFolio() {
    BhFs.Sb fs = bhfs();
    int fd = vfs.open(task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    pwrite(fd, fill(PAGE_SIZE, 'x'), 0);
    long addr =
        vfs.mmap(
            task,
            0,
            PAGE_SIZE,
            dev.refkern.mm.vm.Mman.PROT_READ | dev.refkern.mm.vm.Mman.PROT_WRITE,
            dev.refkern.mm.vm.Mman.MAP_SHARED,
            fd,
            0);
    long[] pages = new long[1];
    assertEquals(
        1,
        vm.gup().pinUserPages(task, addr, 1, dev.refkern.mm.vm.Foll.FOLL_WRITE, pages),
        "pin_user_pages(FOLL_WRITE)");
    AddressSpace mapping = inode("/mnt/f").mapping();
    vfs.fsync(task, fd); // writeback cleans the folio; the pin stays
    mapping.folios().folioLock(pages[0]);
    try {
      assertTrue(fs.buffers.tryToFreeBuffers(mapping, pages[0]), "clean buffers released");
    } finally {
      mapping.folios().folioUnlock(pages[0]);
    }
    int before = fs.dirtied.get();
    vm.gup().unpinUserPagesDirtyLock(pages, 1, true); // the device wrote: set_page_dirty
    assertEquals(before + 1, fs.dirtied.get(), "->dirty_folio was called");
    assertTrue(mapping.folios().folioTestDirty(pages[0]), "dirty");
    assertNull(fs.buffers.folioBuffers(mapping, pages[0]), "and still without buffers");
    vfs.munmap(task, addr, PAGE_SIZE);
    vfs.close(task, fd);
  }

  @Test
  void blockWriteBeginReadsPartlyWrittenBlocksAndZeroesNewOnes() {
    BhFs.Sb fs = bhfs();
    int fd = vfs.open(task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    Inode inode = inode("/mnt/f");
    AddressSpace mapping = inode.mapping();
    pwrite(fd, fill(2048, 'A'), 0); // blocks 0 and 1 allocated and written
    vfs.fsync(task, fd);
    dropCache("/mnt/f");
    long written = fs.disk.bytesWritten();

    // bytes 10..30 of block 1 (on disk) and 10..30 of block 2 (new)
    long pfn = fs.buffers.blockWriteBegin(mapping, 1024 + 10, 20, fs.getBlock);
    BufferHead[] bhs = fs.buffers.folioBuffers(mapping, pfn);
    assertTrue(bhs[1].test(BufferHead.BH_UPTODATE), "read in: the write covers it partly");
    mem.ram().write(pfn, 1024 + 10, fill(20, 'b'), 0, 20);
    fs.buffers.blockWriteEnd(mapping, pfn, 1024 + 10, 20);
    pfn = fs.buffers.blockWriteBegin(mapping, 2048 + 10, 20, fs.getBlock);
    bhs = fs.buffers.folioBuffers(mapping, pfn);
    assertTrue(bhs[2].test(BufferHead.BH_NEW), "get_block allocated it");
    mem.ram().write(pfn, 2048 + 10, fill(20, 'c'), 0, 20);
    fs.buffers.blockWriteEnd(mapping, pfn, 2048 + 10, 20);
    assertFalse(bhs[0].test(BufferHead.BH_DIRTY), "only the written buffers are dirty");
    assertTrue(bhs[1].test(BufferHead.BH_DIRTY) && bhs[2].test(BufferHead.BH_DIRTY));
    assertEquals(2048 + 30, inode.size());

    vfs.fsync(task, fd);
    assertEquals(2 * 1024, fs.disk.bytesWritten() - written, "two dirty buffers written, no more");
    byte[] want = fill(2048 + 30, 'A');
    Arrays.fill(want, 1024 + 10, 1024 + 30, (byte) 'b');
    Arrays.fill(want, 2048, 2048 + 30, (byte) 0);
    Arrays.fill(want, 2048 + 10, 2048 + 30, (byte) 'c');
    dropCache("/mnt/f");
    assertArrayEquals(want, pread(fd, want.length, 0));
    vfs.close(task, fd);
  }

  @Test
  void tryToFreeBuffersRefusesDirtyBuffers() {
    BhFs.Sb fs = bhfs();
    int fd = vfs.open(task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    AddressSpace mapping = inode("/mnt/f").mapping();
    long pfn = fs.buffers.blockWriteBegin(mapping, 0, 100, fs.getBlock);
    BufferHead[] bhs = fs.buffers.folioBuffers(mapping, pfn);
    assertEquals(4, bhs.length, "create_empty_buffers(): 4 KiB folio, 1 KiB blocks");
    assertFalse(mapping.folios().folioTestDirty(pfn));
    fs.buffers.markBufferDirty(bhs[3]);
    assertTrue(mapping.folios().folioTestDirty(pfn), "mark_buffer_dirty() dirties the folio");
    fs.buffers.blockWriteEnd(mapping, pfn, 0, 100); // unlocks and drops our reference
    mapping.folios().folioLock(pfn); // the page cache still holds it
    try {
      assertFalse(fs.buffers.tryToFreeBuffers(mapping, pfn), "dirty buffers are busy");
      assertTrue(mem.memmap().testFlag(pfn, PageFlags.PG_PRIVATE));
    } finally {
      mapping.folios().folioUnlock(pfn);
    }
    vfs.fsync(task, fd);
    mapping.folios().folioLock(pfn);
    try {
      assertTrue(fs.buffers.tryToFreeBuffers(mapping, pfn), "clean after writeback");
      assertFalse(mem.memmap().testFlag(pfn, PageFlags.PG_PRIVATE));
      assertNull(fs.buffers.folioBuffers(mapping, pfn));
    } finally {
      mapping.folios().folioUnlock(pfn);
    }
    vfs.close(task, fd);
  }

  // ---------------------------------------------------------------- the in-test filesystems

  /** A device whose writes fail with {@code -EIO} while {@link #failWrites} is set. */
  private static final class FailingDisk implements BlockDevice {
    final RamDisk d;
    final AtomicBoolean failWrites = new AtomicBoolean();

    FailingDisk(RamDisk d) {
      this.d = d;
    }

    public String name() {
      return "failing-" + d.name();
    }

    public long capacitySectors() {
      return d.capacitySectors();
    }

    public int features() {
      return d.features();
    }

    public void submitBio(Bio bio) {
      if (bio.op() == BioOp.WRITE && failWrites.get()) {
        bio.setStatus(-Errno.EIO.number());
        bio.endio();
      } else {
        d.submitBio(bio);
      }
    }
  }

  /** Each file is {@link #EXTENT} bytes of disk at {@code ino * EXTENT}, mapped with iomap. */
  private static final class LinearFs implements FileSystemType, IomapOps {
    public String name() {
      return "linearfs";
    }

    public boolean requiresDev() {
      return true;
    }

    public SuperBlock mount(VirtualMemory vm, String source, String options) {
      throw new KernelException(Errno.ENOTBLK, source);
    }

    public SuperBlock mount(VirtualMemory vm, BlockDevice bdev, String source, String options) {
      IomapAops aops = new IomapAops();
      long files = bdev.capacitySectors() * Bio.SECTOR_SIZE / EXTENT - 1;
      SuperBlock sb =
          new SuperBlock(this, vm, aops, source, SuperBlock.MAX_LFS_FILESIZE, files, bdev);
      aops.bind(sb);
      sb.setIomapOps(this);
      sb.setRoot(sb.newInode(Inode.S_IFDIR | 0755));
      return sb;
    }

    public void iomapBegin(Inode inode, long pos, long length, int flags, Iomap iomap) {
      if (pos >= EXTENT) {
        if ((flags & IOMAP_WRITE) != 0) {
          throw new KernelException(Errno.ENOSPC, "past the extent of " + inode);
        }
        iomap.set(Iomap.HOLE, 0, pos, Long.MAX_VALUE / 2, Iomap.NULL_ADDR, null);
        return;
      }
      iomap.set(Iomap.MAPPED, 0, 0, EXTENT, inode.ino() * EXTENT, inode.sb().bdev());
    }

    public void killSb(SuperBlock sb) {
      for (Inode i : sb.inodes()) {
        i.evict();
      }
    }

    public List<String> check(String source) {
      return List.of();
    }
  }

  /**
   * 1 KiB blocks through buffer heads: file block {@code b} of inode {@code i} is {@link #block}.
   */
  private static final class BhFs implements FileSystemType {
    static final java.util.Map<SuperBlock, Sb> SBS =
        java.util.Collections.synchronizedMap(new java.util.IdentityHashMap<>());

    static long block(long ino, long iblock) {
      return ino * 64 + iblock;
    }

    static Sb of(SuperBlock sb) {
      return SBS.get(sb);
    }

    /** The mounted instance: its aops. */
    static final class Sb implements AddressSpaceOperations {
      Buffers buffers;
      RamDisk disk;
      final AtomicInteger dirtied = new AtomicInteger();
      final Set<Long> allocated = new HashSet<>();
      final GetBlock getBlock =
          (inode, iblock, bh, create) -> {
            long b = block(inode.ino(), iblock);
            synchronized (allocated) {
              if (!allocated.contains(b)) {
                if (!create) {
                  return 0; // a hole
                }
                allocated.add(b);
                bh.set(BufferHead.BH_NEW);
              }
            }
            bh.mapBh(b);
            return 0;
          };

      public int readFolio(AddressSpace mapping, long pfn) {
        return buffers.blockReadFullFolio(mapping, pfn, getBlock);
      }

      public int writeFolio(AddressSpace mapping, long pfn) {
        return buffers.blockWriteFullFolio(mapping, pfn, getBlock);
      }

      public boolean dirtyFolio(AddressSpace mapping, long pfn) {
        dirtied.incrementAndGet();
        return buffers.blockDirtyFolio(mapping, pfn);
      }

      public void invalidateFolio(AddressSpace mapping, long pfn, int offset, int length) {
        buffers.blockInvalidateFolio(mapping, pfn, offset, length);
      }
    }

    public String name() {
      return "bhfs";
    }

    public boolean requiresDev() {
      return true;
    }

    public SuperBlock mount(VirtualMemory vm, String source, String options) {
      throw new KernelException(Errno.ENOTBLK, source);
    }

    public SuperBlock mount(VirtualMemory vm, BlockDevice bdev, String source, String options) {
      Sb s = new Sb();
      SuperBlock sb = new SuperBlock(this, vm, s, source, 64 * 1024, 10, bdev);
      s.buffers = new Buffers(sb, 1024);
      s.disk = (RamDisk) bdev;
      sb.setRoot(sb.newInode(Inode.S_IFDIR | 0755));
      SBS.put(sb, s);
      return sb;
    }

    public void killSb(SuperBlock sb) {
      for (Inode i : sb.inodes()) {
        i.evict();
      }
      SBS.remove(sb);
    }

    public List<String> check(String source) {
      return List.of();
    }
  }
}
