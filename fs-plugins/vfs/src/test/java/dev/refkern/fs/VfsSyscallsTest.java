package dev.refkern.fs;

import static dev.refkern.fs.Falloc.*;
import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.spi.FileOperations;
import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageFlags;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * mmap of files, fallocate, readv/writev, O_SYNC, fork's file table and read-only mounts, each with
 * the errno the kernel answers, and no pages or pins leaked after.
 */
class VfsSyscallsTest {
  private static final int PAGE = Page.PAGE_SIZE;
  private static final int RW = PROT_READ | PROT_WRITE;

  @TempDir Path dir;
  private VirtualMemory vm;
  private PhysicalMemory mem;
  private long freeAtStart;
  private Vfs vfs;
  private Task task;
  private long buf; // 4 pages of the task's memory
  private final Disk disk = new Disk();

  @BeforeEach
  void boot() {
    vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir, false);
    mem = vm.physicalMemory();
    freeAtStart = free();
    vfs = new Vfs(vm);
    vfs.fileSystems().register(disk);
    task = vm.createTask("t");
    buf = task.mmapAnon(4L * PAGE);
  }

  @AfterEach
  void checkNothingLeaked() {
    vfs.shutdown();
    task.exit();
    List<String> bad = mem.debugVm().check();
    List<String> pins = mem.debugVm().checkNoPinsHeld();
    long free = free();
    mem.close();
    assertTrue(bad.isEmpty(), bad.toString());
    assertTrue(pins.isEmpty(), pins.toString());
    assertEquals(freeAtStart, free, "pages leaked");
  }

  private long free() {
    vm.lru().lruAddDrainAll();
    return mem.allocator().nrFreePages();
  }

  private static byte[] pattern(int len, int seed) {
    byte[] b = new byte[len];
    for (int i = 0; i < len; i++) {
      b[i] = (byte) (i * 31 + seed);
    }
    return b;
  }

  private static void assertErrno(Errno e, Executable call) {
    KernelException ex = assertThrows(KernelException.class, call);
    assertEquals(e, ex.errno(), ex.getMessage());
  }

  private int create(String path) {
    return vfs.open(task, path, O_RDWR | O_CREAT, 0644);
  }

  private void pwriteAll(int fd, byte[] data, long off) {
    task.store(buf, data, 0, data.length);
    assertEquals(data.length, vfs.pwrite(task, fd, buf, data.length, off));
  }

  private byte[] preadAll(int fd, int len, long off) {
    long n = vfs.pread(task, fd, buf, len, off);
    byte[] b = new byte[(int) n];
    task.load(buf, b, 0, (int) n);
    return b;
  }

  private byte[] load(long addr, int len) {
    byte[] b = new byte[len];
    task.load(addr, b, 0, len);
    return b;
  }

  /** One file's "disk": a filesystem whose pages write back to a {@link RamBackedAops}. */
  static final class Disk implements FileSystemType {
    final RamBackedAops aops = new RamBackedAops();

    @Override
    public String name() {
      return "testdisk";
    }

    @Override
    public SuperBlock mount(VirtualMemory vm, String source, String options) {
      if (!options.isEmpty()) {
        throw new KernelException(Errno.EINVAL, "testdisk takes no options: " + options);
      }
      SuperBlock sb = new SuperBlock(this, vm, aops, source, 1 << 30, Long.MAX_VALUE);
      sb.setRoot(sb.newInode(Inode.S_IFDIR | 0755));
      sb.root().addEntry("f", sb.newInode(Inode.S_IFREG | 0644)); // on the "disk" already
      return sb;
    }

    @Override
    public void killSb(SuperBlock sb) {
      sb.inodes().forEach(Inode::evict);
    }

    @Override
    public List<String> check(String source) {
      return List.of();
    }

    /**
     * A reflink that only runs the generic checks and writeback, and says how much it would share.
     */
    @Override
    public FileOperations fileOperations() {
      return new FileOperations() {
        @Override
        public long remapFileRange(Inode src, long posIn, Inode dst, long posOut, long len) {
          return FileOperations.remapFileRangePrep(src, posIn, dst, posOut, len, PAGE);
        }
      };
    }
  }

  // ---------------------------------------------------------------- mmap

  @Test
  void sharedStoresReachReadAndFsyncPrivateStoresDoNot() {
    vfs.mkdir("/d", 0755);
    vfs.mount("testdisk", "d", "/d", "");
    int fd = vfs.open(task, "/d/f", O_RDWR, 0);
    pwriteAll(fd, new byte[2 * PAGE], 0);
    vfs.fsync(task, fd);
    long shared = vfs.mmap(task, 0, 2 * PAGE, RW, MAP_SHARED, fd, 0);
    long priv = vfs.mmap(task, 0, 2 * PAGE, RW, MAP_PRIVATE, fd, PAGE);
    byte[] s = pattern(300, 1);
    byte[] p = pattern(300, 2);
    task.store(shared + 100, s, 0, s.length);
    task.store(priv + 500, p, 0, p.length); // page 1 of the file, privately
    assertArrayEquals(s, preadAll(fd, 300, 100), "read() sees the shared store");
    assertArrayEquals(new byte[300], preadAll(fd, 300, PAGE + 500), "not the private one");
    assertArrayEquals(p, load(priv + 500, 300), "the private copy has it");
    assertArrayEquals(new byte[300], Arrays.copyOfRange(disk.aops.readBlock(0), 100, 400));
    vfs.fsync(task, fd);
    assertArrayEquals(s, Arrays.copyOfRange(disk.aops.readBlock(0), 100, 400), "written back");
    assertArrayEquals(new byte[PAGE], disk.aops.readBlock(1), "the private store never is");
    vfs.munmap(task, shared, 2 * PAGE);
    vfs.munmap(task, priv, 2 * PAGE);
    vfs.close(task, fd);
  }

  @Test
  void mmapRefusesWhatTheKernelRefuses() {
    int fd = create("/f");
    pwriteAll(fd, pattern(PAGE, 3), 0);
    int ro = vfs.open(task, "/f", O_RDONLY, 0);
    int wo = vfs.open(task, "/f", O_WRONLY, 0);
    int d = vfs.open(task, "/", O_RDONLY, 0);
    assertErrno(Errno.EBADF, () -> vfs.mmap(task, 0, PAGE, PROT_READ, MAP_SHARED, 99, 0));
    assertErrno(Errno.EACCES, () -> vfs.mmap(task, 0, PAGE, RW, MAP_SHARED, ro, 0));
    assertErrno(Errno.EACCES, () -> vfs.mmap(task, 0, PAGE, PROT_READ, MAP_PRIVATE, wo, 0));
    assertErrno(Errno.EACCES, () -> vfs.mmap(task, 0, PAGE, PROT_WRITE, MAP_SHARED, wo, 0));
    assertErrno(Errno.ENODEV, () -> vfs.mmap(task, 0, PAGE, PROT_READ, MAP_PRIVATE, d, 0));
    assertErrno(Errno.EINVAL, () -> vfs.mmap(task, 0, PAGE, PROT_READ, MAP_SHARED, fd, 100));
    assertErrno(Errno.EINVAL, () -> vfs.mmap(task, 0, 0, PROT_READ, MAP_SHARED, fd, 0));
    // a private writable map of a read-only fd is fine: stores go to copies
    long a = vfs.mmap(task, 0, PAGE, RW, MAP_PRIVATE, ro, 0);
    task.store(a, new byte[8], 0, 8);
    assertArrayEquals(pattern(8, 3), preadAll(fd, 8, 0));
    vfs.munmap(task, a, PAGE);
    for (int f : new int[] {fd, ro, wo, d}) {
      vfs.close(task, f);
    }
  }

  @Test
  void anUnlinkedClosedFileLivesWhileMappedAndGoesAtMunmap() {
    SuperBlock sb = vfs.mounts().get(0).sb();
    long inodes = sb.nrInodes();
    int fd = create("/f");
    pwriteAll(fd, pattern(2 * PAGE, 4), 0);
    long a = vfs.mmap(task, 0, 2 * PAGE, RW, MAP_SHARED, fd, 0);
    vfs.close(task, fd);
    vfs.unlink("/f");
    assertEquals(inodes + 1, sb.nrInodes(), "the mapping holds the file");
    long pagesBefore = free();
    assertArrayEquals(pattern(2 * PAGE, 4), load(a, 2 * PAGE));
    task.store(a, new byte[] {9}, 0, 1);
    vfs.munmap(task, a, 2 * PAGE);
    assertEquals(inodes, sb.nrInodes(), "evicted with the last VMA");
    assertEquals(pagesBefore + 2, free(), "its page cache went with it");
  }

  @Test
  void aForkedChildsMappingKeepsTheFileUntilItExits() {
    SuperBlock sb = vfs.mounts().get(0).sb();
    long inodes = sb.nrInodes();
    int fd = create("/f");
    pwriteAll(fd, pattern(PAGE, 5), 0);
    long a = vfs.mmap(task, 0, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    Task child = vfs.fork(task, "child");
    vfs.close(task, fd);
    vfs.close(child, fd);
    vfs.unlink("/f");
    vfs.munmap(task, a, PAGE);
    assertEquals(inodes + 1, sb.nrInodes(), "the child's copy of the VMA holds it");
    byte[] got = new byte[PAGE];
    child.load(a, got, 0, PAGE);
    assertArrayEquals(pattern(PAGE, 5), got);
    vfs.exit(child);
    assertEquals(inodes, sb.nrInodes());
  }

  // ---------------------------------------------------------------- folio_wait_stable

  @Test
  void aBufferedWriteWaitsForWritebackOnAStableWritesMapping() throws Exception {
    int fd = create("/f");
    pwriteAll(fd, pattern(PAGE, 6), 0);
    Inode inode = vfs.mounts().get(0).sb().root().lookup("f");
    inode.mapping().setStableWrites(true);
    long pfn = vm.filemap().filemapGetFolio(inode.mapping(), 0);
    mem.allocator().putPage(pfn); // the cache keeps its own reference
    inode.mapping().folios().folioLock(pfn);
    inode.mapping().folios().folioStartWriteback(pfn); // as writeback would, under the lock
    inode.mapping().folios().folioUnlock(pfn);
    byte[] one = {42};
    task.store(buf, one, 0, 1);
    Thread writer = new Thread(() -> vfs.pwrite(task, fd, buf, 1, 10), "writer");
    writer.start();
    boolean waited;
    byte[] b = new byte[1];
    try {
      // the writer either sleeps on PG_writeback (PG_waiters set) or, wrongly, finishes
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!mem.memmap().testFlag(pfn, PageFlags.PG_WAITERS)
          && writer.isAlive()
          && System.nanoTime() < deadline) {
        Thread.onSpinWait();
      }
      waited = writer.isAlive() && mem.memmap().testFlag(pfn, PageFlags.PG_WAITERS);
      mem.ram().read(pfn, 10, b, 0, 1);
    } finally {
      inode.mapping().folios().folioEndWriteback(pfn); // always: truncate would wait for it
      writer.join(TimeUnit.SECONDS.toMillis(30));
    }
    assertTrue(waited, "the write slept on the folio under writeback");
    assertEquals(pattern(PAGE, 6)[10], b[0], "the page is unchanged while under writeback");
    assertFalse(writer.isAlive());
    assertArrayEquals(one, preadAll(fd, 1, 10));
    vfs.close(task, fd);
  }

  @Test
  void withoutStableWritesTheWriteGoesOnDuringWriteback() {
    int fd = create("/f");
    pwriteAll(fd, pattern(PAGE, 6), 0);
    Inode inode = vfs.mounts().get(0).sb().root().lookup("f");
    long pfn = vm.filemap().filemapGetFolio(inode.mapping(), 0);
    mem.allocator().putPage(pfn);
    inode.mapping().folios().folioLock(pfn);
    inode.mapping().folios().folioStartWriteback(pfn);
    inode.mapping().folios().folioUnlock(pfn);
    pwriteAll(fd, new byte[] {42}, 10);
    assertArrayEquals(new byte[] {42}, preadAll(fd, 1, 10));
    inode.mapping().folios().folioEndWriteback(pfn);
    vfs.close(task, fd);
  }

  // ---------------------------------------------------------------- clone

  @Test
  void cloneErrorsFollowVfsCloneFileRange() {
    int fd = create("/f");
    int ro = vfs.open(task, "/f", O_RDONLY, 0);
    int app = vfs.open(task, "/f", O_WRONLY | O_APPEND, 0);
    int d = vfs.open(task, "/", O_RDONLY, 0);
    vfs.mkdir("/d", 0755);
    vfs.mount("testdisk", "d", "/d", "");
    int other = vfs.open(task, "/d/f", O_RDWR, 0);
    assertErrno(Errno.EBADF, () -> vfs.ficlone(task, 99, fd));
    assertErrno(Errno.EBADF, () -> vfs.ficlone(task, fd, 99));
    assertErrno(Errno.EXDEV, () -> vfs.ficlone(task, other, fd)); // two mounts
    assertErrno(Errno.EINVAL, () -> vfs.ficloneRange(task, fd, -1, 0, fd, 0));
    assertErrno(Errno.EISDIR, () -> vfs.ficlone(task, d, fd));
    assertErrno(Errno.EBADF, () -> vfs.ficlone(task, fd, ro)); // destination not writable
    assertErrno(Errno.EBADF, () -> vfs.ficlone(task, fd, app)); // O_APPEND
    assertErrno(Errno.EOPNOTSUPP, () -> vfs.ficlone(task, fd, fd)); // tmpfs has no reflink
    for (int x : new int[] {fd, ro, app, d, other}) {
      vfs.close(task, x);
    }
  }

  @Test
  void cloneRangeChecksFollowGenericRemapFileRangePrep() {
    vfs.mkdir("/d", 0755);
    vfs.mount("testdisk", "d", "/d", "");
    int a = vfs.open(task, "/d/a", O_RDWR | O_CREAT, 0644);
    int b = vfs.open(task, "/d/b", O_RDWR | O_CREAT, 0644);
    pwriteAll(a, pattern(3 * PAGE + 100, 1), 0); // EOF inside block 3
    pwriteAll(b, pattern(4 * PAGE, 2), 0);
    pwriteAll(b, pattern(4 * PAGE, 3), 4L * PAGE);
    assertEquals(3 * PAGE + 100, vfs.ficloneRange(task, a, 0, 0, b, 5L * PAGE), "0: to EOF");
    assertEquals(2 * PAGE, vfs.ficloneRange(task, a, PAGE, 2 * PAGE, b, 0));
    assertEquals(PAGE + 100, vfs.ficloneRange(task, a, 2 * PAGE, PAGE + 100, b, 7L * PAGE));
    assertEquals(0, vfs.ficloneRange(task, a, 3 * PAGE + 100, 0, b, 0), "at EOF: nothing");
    assertErrno(Errno.EINVAL, () -> vfs.ficloneRange(task, a, 100, PAGE, b, 0)); // unaligned
    assertErrno(Errno.EINVAL, () -> vfs.ficloneRange(task, a, 0, PAGE, b, 100));
    assertErrno(Errno.EINVAL, () -> vfs.ficloneRange(task, a, 4L * PAGE, PAGE, b, 0)); // past EOF
    assertErrno(Errno.EINVAL, () -> vfs.ficloneRange(task, a, 0, PAGE + 1, b, 0)); // short of EOF
    assertErrno(Errno.EINVAL, () -> vfs.ficloneRange(task, a, 0, 4L * PAGE, b, 0)); // shortened
    assertErrno(
        Errno.EINVAL,
        () -> vfs.ficloneRange(task, a, 2 * PAGE, 0, b, 0)); // partial EOF block mid-file
    assertErrno(Errno.EINVAL, () -> vfs.ficloneRange(task, a, 0, 2 * PAGE, a, PAGE)); // overlap
    assertEquals(PAGE, vfs.ficloneRange(task, a, 0, PAGE, a, 2 * PAGE), "same file, apart");
    vfs.close(task, a);
    vfs.close(task, b);
  }

  // ---------------------------------------------------------------- fallocate

  @Test
  void fallocateAllocatesExtendsKeepsSizeAndPunches() {
    int fd = create("/f");
    vfs.fallocate(task, fd, 0, 100, 2 * PAGE);
    assertEquals(100 + 2 * PAGE, vfs.fstat(task, fd).size(), "mode 0 extends i_size");
    assertEquals(3 * (PAGE / 512), vfs.fstat(task, fd).blocks(), "pages 0..2 instantiated");
    assertArrayEquals(new byte[2 * PAGE + 100], preadAll(fd, 2 * PAGE + 100, 0));
    vfs.fallocate(task, fd, FALLOC_FL_KEEP_SIZE, 4L * PAGE, PAGE);
    assertEquals(100 + 2 * PAGE, vfs.fstat(task, fd).size(), "KEEP_SIZE keeps it");
    assertEquals(4 * (PAGE / 512), vfs.fstat(task, fd).blocks());
    // punch bytes [PAGE - 10, 3 * PAGE + 10): two partial pages and two whole ones
    byte[] data = pattern(4 * PAGE, 7);
    task.store(buf, data, 0, data.length);
    assertEquals(data.length, vfs.pwrite(task, fd, buf, data.length, 0));
    long a = vfs.mmap(task, 0, 4L * PAGE, RW, MAP_SHARED, fd, 0);
    assertArrayEquals(data, load(a, 4 * PAGE)); // mapped: the punch must unmap
    long freeBefore = free();
    vfs.fallocate(task, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PAGE - 10, 2L * PAGE + 20);
    assertEquals(freeBefore + 2, free(), "pages 1, 2 freed; 0 and 3 keep data outside the hole");
    byte[] want = data.clone();
    Arrays.fill(want, PAGE - 10, 3 * PAGE + 10, (byte) 0);
    assertArrayEquals(want, preadAll(fd, 4 * PAGE, 0));
    assertArrayEquals(want, load(a, 4 * PAGE), "the mapping sees the hole");
    assertEquals(4L * PAGE, vfs.fstat(task, fd).size());
    vfs.munmap(task, a, 4L * PAGE);
    vfs.close(task, fd);
  }

  @Test
  void fallocateErrorsFollowVfsFallocate() {
    int fd = create("/f");
    int ro = vfs.open(task, "/f", O_RDONLY, 0);
    int d = vfs.open(task, "/", O_RDONLY, 0);
    int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    assertErrno(Errno.EBADF, () -> vfs.fallocate(task, 99, 0, 0, PAGE));
    assertErrno(Errno.EBADF, () -> vfs.fallocate(task, ro, 0, 0, PAGE));
    assertErrno(Errno.EBADF, () -> vfs.fallocate(task, d, 0, 0, PAGE)); // never open for write
    assertErrno(Errno.EINVAL, () -> vfs.fallocate(task, fd, 0, 0, 0));
    assertErrno(Errno.EINVAL, () -> vfs.fallocate(task, fd, 0, -1, PAGE));
    assertErrno(Errno.EOPNOTSUPP, () -> vfs.fallocate(task, fd, FALLOC_FL_PUNCH_HOLE, 0, PAGE));
    assertErrno(Errno.EOPNOTSUPP, () -> vfs.fallocate(task, fd, FALLOC_FL_ZERO_RANGE, 0, PAGE));
    assertErrno(Errno.EOPNOTSUPP, () -> vfs.fallocate(task, fd, 0x80, 0, PAGE));
    assertErrno(Errno.EOPNOTSUPP, () -> vfs.fallocate(task, fd, FALLOC_FL_COLLAPSE_RANGE, 0, PAGE));
    assertErrno(
        Errno.EFBIG, () -> vfs.fallocate(task, fd, 0, SuperBlock.MAX_LFS_FILESIZE - 10, 100));
    assertErrno(
        Errno.EFBIG, () -> vfs.fallocate(task, fd, punch, Long.MAX_VALUE - 10, 100)); // wraps
    // a filesystem without ->fallocate
    vfs.mkdir("/d", 0755);
    vfs.mount("testdisk", "d", "/d", "");
    int df = vfs.open(task, "/d/f", O_RDWR, 0);
    assertErrno(Errno.EOPNOTSUPP, () -> vfs.fallocate(task, df, 0, 0, PAGE));
    for (int f : new int[] {fd, ro, d, df}) {
      vfs.close(task, f);
    }
    assertEquals(0, vfs.stat("/f").size());
  }

  @Test
  void fallocateThatRunsOutOfMemoryUndoesItsPages() {
    int fd = create("/f");
    pwriteAll(fd, pattern(PAGE, 8), 0);
    long freeBefore = free();
    assertErrno(Errno.ENOMEM, () -> vfs.fallocate(task, fd, 0, 0, 128L << 20));
    assertEquals(PAGE, vfs.fstat(task, fd).size(), "i_size unchanged");
    assertEquals(freeBefore, free(), "the pages it added are gone again");
    assertArrayEquals(pattern(PAGE, 8), preadAll(fd, PAGE, 0), "the old page is kept");
    vfs.close(task, fd);
  }

  // ---------------------------------------------------------------- readv, writev, O_SYNC

  @Test
  void writevAndReadvMoveTheSegmentsInOrder() {
    int fd = vfs.open(task, "/f", O_RDWR | O_CREAT | O_APPEND, 0644);
    byte[] data = pattern(3 * PAGE, 9);
    task.store(buf, data, 0, data.length);
    pwriteAll(fd, new byte[10], 0); // O_APPEND: the writev lands after these
    task.store(buf, data, 0, data.length);
    Iovec[] w = {new Iovec(buf, 100), new Iovec(buf + 5000, 0), new Iovec(buf + 100, PAGE * 2)};
    assertEquals(100 + 2 * PAGE, vfs.writev(task, fd, w));
    assertEquals(10 + 100 + 2 * PAGE, vfs.fstat(task, fd).size());
    vfs.lseek(task, fd, 10, SEEK_SET);
    long out = task.mmapAnon(5L * PAGE);
    Iovec[] r = {new Iovec(out, 50), new Iovec(out + 50, PAGE * 4)};
    assertEquals(100 + 2 * PAGE, vfs.readv(task, fd, r), "short at the end of file");
    assertArrayEquals(Arrays.copyOf(data, 100 + 2 * PAGE), load(out, 100 + 2 * PAGE));
    assertEquals(0, vfs.readv(task, fd, r));
    assertErrno(Errno.EINVAL, () -> vfs.readv(task, fd, new Iovec[1025]));
    assertErrno(Errno.EINVAL, () -> vfs.writev(task, fd, new Iovec(buf, -1)));
    assertErrno(Errno.EBADF, () -> vfs.readv(task, 99, new Iovec(buf, 1)));
    Iovec[] max = new Iovec[1024];
    Arrays.fill(max, new Iovec(buf, 1));
    assertEquals(1024, vfs.writev(task, fd, max), "UIO_MAXIOV itself is fine");
    vfs.close(task, fd);
  }

  @Test
  void oSyncAndODsyncWritesReachTheDiskBeforeReturning() {
    vfs.mkdir("/d", 0755);
    vfs.mount("testdisk", "d", "/d", "");
    int plain = vfs.open(task, "/d/f", O_RDWR, 0);
    pwriteAll(plain, pattern(100, 1), 0);
    assertFalse(disk.aops.hasBlock(0), "a plain write stays in the page cache");
    int dsync = vfs.open(task, "/d/f", O_RDWR | O_DSYNC, 0);
    pwriteAll(dsync, pattern(100, 2), PAGE);
    assertArrayEquals(pattern(100, 2), Arrays.copyOf(disk.aops.readBlock(1), 100));
    int sync = vfs.open(task, "/d/f", O_WRONLY | O_SYNC, 0);
    task.store(buf, pattern(100, 3), 0, 100);
    assertEquals(100, vfs.writev(task, sync, new Iovec(buf, 100)));
    assertArrayEquals(pattern(100, 3), Arrays.copyOf(disk.aops.readBlock(0), 100));
    for (int f : new int[] {plain, dsync, sync}) {
      vfs.close(task, f);
    }
  }

  // ---------------------------------------------------------------- fork

  @Test
  void aForkedChildSharesOpenFilesButClosesItsOwnDescriptors() {
    int fd = create("/f");
    pwriteAll(fd, pattern(200, 10), 0);
    vfs.lseek(task, fd, 0, SEEK_SET);
    Task child = vfs.fork(task, "child");
    assertEquals(1, vfs.files(child).openCount());
    long cbuf = buf; // the child's copy-on-write copy of the same address
    assertEquals(50, vfs.read(child, fd, cbuf, 50));
    assertEquals(50, vfs.lseek(task, fd, 0, SEEK_CUR), "the offset is shared");
    vfs.close(child, fd);
    assertErrno(Errno.EBADF, () -> vfs.read(child, fd, cbuf, 1));
    assertEquals(150, vfs.read(task, fd, buf, 1000), "still open in the parent");
    int other = vfs.open(child, "/f", O_RDONLY, 0);
    vfs.exit(child);
    assertEquals(0, vfs.files(child).openCount(), "exit closed the child's files");
    assertEquals(0, other); // the lowest free descriptor in the child's own table
    vfs.close(task, fd);
  }

  // ---------------------------------------------------------------- read-only mounts

  @Test
  void aReadOnlyMountRefusesEveryChangeWithErofs() {
    vfs.mkdir("/d", 0755);
    vfs.mount("testdisk", "d", "/d", "ro");
    assertTrue(vfs.mounts().get(1).readOnly());
    int fd = vfs.open(task, "/d/f", O_RDONLY | O_CREAT, 0644); // exists: no write needed
    assertErrno(Errno.EROFS, () -> vfs.open(task, "/d/f", O_WRONLY, 0));
    assertErrno(Errno.EROFS, () -> vfs.open(task, "/d/f", O_RDWR, 0));
    assertErrno(Errno.EROFS, () -> vfs.open(task, "/d/f", O_RDONLY | O_TRUNC, 0));
    assertErrno(Errno.EROFS, () -> vfs.open(task, "/d/new", O_RDONLY | O_CREAT, 0644));
    assertErrno(Errno.EEXIST, () -> vfs.open(task, "/d/f", O_RDWR | O_CREAT | O_EXCL, 0));
    assertErrno(Errno.ENOENT, () -> vfs.open(task, "/d/new", O_RDWR, 0));
    assertErrno(Errno.EROFS, () -> vfs.mkdir("/d/sub", 0755));
    assertErrno(Errno.EEXIST, () -> vfs.mkdir("/d/f", 0755));
    assertErrno(Errno.EROFS, () -> vfs.unlink("/d/f"));
    assertErrno(Errno.EROFS, () -> vfs.unlink("/d/missing")); // before the lookup
    assertErrno(Errno.EROFS, () -> vfs.rmdir("/d/missing"));
    assertErrno(Errno.EROFS, () -> vfs.rename("/d/f", "/d/g"));
    assertErrno(Errno.EROFS, () -> vfs.link("/d/f", "/d/g"));
    // no descriptor on it is writable, so these fail as on any read-only fd
    assertErrno(Errno.EINVAL, () -> vfs.ftruncate(task, fd, 0));
    assertErrno(Errno.EBADF, () -> vfs.fallocate(task, fd, 0, 0, PAGE));
    assertErrno(Errno.EACCES, () -> vfs.mmap(task, 0, PAGE, RW, MAP_SHARED, fd, 0));
    assertEquals(0, vfs.read(task, fd, buf, 10));
    vfs.close(task, fd);
    vfs.umount("/d");
    // "rw" is the VFS's too; the rest goes to the filesystem
    vfs.mount("tmpfs", "t", "/d", "rw,mode=0700");
    assertFalse(vfs.mounts().get(1).readOnly());
    assertEquals(0700, vfs.stat("/d").mode() & 07777);
    vfs.close(task, create("/d/x"));
  }
}
