package dev.refkern.fs;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.spi.AddressSpaceOperations;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** The VFS system calls on tmpfs, each errno they answer for bad input, and no leaks after. */
class VfsTest {
  private static final int PAGE = Page.PAGE_SIZE;

  @TempDir Path dir;
  private VirtualMemory vm;
  private PhysicalMemory mem;
  private long freeAtStart;
  private Vfs vfs;
  private Task task;
  private long buf; // user memory of the task, 4 pages

  @BeforeEach
  void boot() {
    vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir, false);
    mem = vm.physicalMemory();
    freeAtStart = free();
    vfs = new Vfs(vm);
    task = vm.createTask("t");
    buf = task.mmapAnon(4L * PAGE);
  }

  @AfterEach
  void checkNothingLeaked() {
    vfs.shutdown();
    task.exit();
    List<String> p = mem.debugVm().checkNoPinsHeld();
    long free = free();
    mem.close();
    assertTrue(p.isEmpty(), p.toString());
    assertEquals(freeAtStart, free, "pages leaked");
  }

  /** Free pages once the per-CPU LRU batches, which hold references, are drained. */
  private long free() {
    vm.lru().lruAddDrainAll();
    return mem.allocator().nrFreePages();
  }

  private void store(long addr, byte[] b) {
    task.store(addr, b, 0, b.length);
  }

  private byte[] load(long addr, int len) {
    byte[] b = new byte[len];
    task.load(addr, b, 0, len);
    return b;
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

  private void writeAll(int fd, byte[] data) {
    store(buf, data);
    assertEquals(data.length, vfs.write(task, fd, buf, data.length));
  }

  private byte[] preadAll(int fd, int len, long off) {
    long n = vfs.pread(task, fd, buf, len, off);
    return Arrays.copyOf(load(buf, len), (int) n);
  }

  @Test
  void readAfterWriteAcrossPageBoundaries() {
    int fd = create("/f");
    byte[] data = pattern(2 * PAGE + 100, 7);
    store(buf, data);
    // written at an unaligned offset, so it spans four pages
    assertEquals(data.length, vfs.pwrite(task, fd, buf, data.length, PAGE - 50));
    assertEquals(PAGE - 50 + data.length, vfs.fstat(task, fd).size());
    assertArrayEquals(data, preadAll(fd, data.length, PAGE - 50));
    // the hole before the data reads as zeros
    assertArrayEquals(new byte[PAGE - 50], preadAll(fd, PAGE - 50, 0));
    assertEquals(4, vfs.stat("/f").blocks() / (PAGE / 512), "four page-cache pages");
    // read() moves the position; at the end it returns 0
    assertEquals(PAGE - 50 + data.length, vfs.read(task, fd, buf, 4L * PAGE));
    assertEquals(0, vfs.read(task, fd, buf, 10));
    vfs.close(task, fd);
  }

  @Test
  void appendWritesAtTheEndWhateverThePosition() {
    int fd = create("/f");
    writeAll(fd, "hello ".getBytes(StandardCharsets.US_ASCII));
    vfs.close(task, fd);
    int a = vfs.open(task, "/f", O_WRONLY | O_APPEND, 0);
    vfs.lseek(task, a, 0, SEEK_SET);
    writeAll(a, "world".getBytes(StandardCharsets.US_ASCII));
    store(buf, "!".getBytes(StandardCharsets.US_ASCII));
    vfs.pwrite(task, a, buf, 1, 0); // Linux appends even with an offset
    int r = vfs.open(task, "/f", O_RDONLY, 0);
    assertEquals("hello world!", new String(preadAll(r, 100, 0), StandardCharsets.US_ASCII));
    assertEquals(11, vfs.lseek(task, a, 0, SEEK_CUR), "pwrite leaves the position alone");
  }

  @Test
  void oTruncEmptiesAnExistingFile() {
    int fd = create("/f");
    writeAll(fd, pattern(PAGE + 1, 1));
    vfs.close(task, fd);
    int t = vfs.open(task, "/f", O_RDWR | O_TRUNC, 0);
    assertEquals(0, vfs.fstat(task, t).size());
    assertEquals(0, vfs.stat("/f").blocks(), "the page cache is emptied");
    assertEquals(0, vfs.read(task, t, buf, 10));
  }

  @Test
  void ftruncateShrinkingThenGrowingReadsZeros() {
    int fd = create("/f");
    byte[] data = pattern(2 * PAGE, 3);
    writeAll(fd, data);
    vfs.ftruncate(task, fd, 100);
    assertEquals(1, vfs.stat("/f").blocks() / (PAGE / 512), "the second page is gone");
    vfs.ftruncate(task, fd, 2 * PAGE);
    byte[] back = preadAll(fd, 2 * PAGE, 0);
    assertArrayEquals(Arrays.copyOf(data, 100), Arrays.copyOf(back, 100));
    assertArrayEquals(
        new byte[2 * PAGE - 100], Arrays.copyOfRange(back, 100, 2 * PAGE), "zeros past 100");
  }

  @Test
  void unlinkWhileOpenKeepsTheDataUntilTheLastClose() {
    int fd = create("/f");
    byte[] data = pattern(3 * PAGE, 9);
    writeAll(fd, data);
    long freeWithFile = free();
    vfs.unlink("/f");
    assertErrno(Errno.ENOENT, () -> vfs.stat("/f"));
    assertEquals(0, vfs.fstat(task, fd).nlink());
    assertArrayEquals(data, preadAll(fd, data.length, 0));
    assertEquals(freeWithFile, free(), "the pages stay while open");
    vfs.close(task, fd);
    assertEquals(freeWithFile + 3, free(), "the last close frees them");
  }

  @Test
  void renameOverAnExistingFileReplacesIt() {
    int a = create("/a");
    writeAll(a, "new".getBytes(StandardCharsets.US_ASCII));
    int b = create("/b");
    writeAll(b, "old".getBytes(StandardCharsets.US_ASCII));
    long aIno = vfs.stat("/a").ino();
    vfs.rename("/a", "/b");
    assertErrno(Errno.ENOENT, () -> vfs.stat("/a"));
    assertEquals(aIno, vfs.stat("/b").ino());
    assertEquals(0, vfs.fstat(task, b).nlink(), "the replaced inode lives on while open");
    assertEquals("old", new String(preadAll(b, 3, 0), StandardCharsets.US_ASCII));
    int r = vfs.open(task, "/b", O_RDONLY, 0);
    assertEquals("new", new String(preadAll(r, 3, 0), StandardCharsets.US_ASCII));
    vfs.mkdir("/d", 0755);
    vfs.mkdir("/e", 0755);
    vfs.rename("/d", "/e"); // an empty directory may be replaced
    assertEquals(List.of("b", "e"), vfs.readdir("/"));
  }

  @Test
  void linkCountsFollowLinksAndDirectories() {
    vfs.close(task, create("/f"));
    assertEquals(1, vfs.stat("/f").nlink());
    vfs.mkdir("/d", 0755);
    vfs.link("/f", "/d/g");
    assertEquals(2, vfs.stat("/f").nlink());
    assertEquals(vfs.stat("/f").ino(), vfs.stat("/d/g").ino());
    assertEquals(2, vfs.stat("/d").nlink(), "itself and its entry in /");
    int rootLinks = vfs.stat("/").nlink();
    vfs.mkdir("/d/sub", 0755);
    assertEquals(3, vfs.stat("/d").nlink(), "plus the child's ..");
    vfs.rename("/d/sub", "/sub");
    assertEquals(2, vfs.stat("/d").nlink());
    assertEquals(rootLinks + 1, vfs.stat("/").nlink());
    vfs.unlink("/f");
    assertEquals(1, vfs.stat("/d/g").nlink());
    assertEquals(Inode.S_IFREG | 0644, vfs.stat("/d/g").mode());
  }

  @Test
  void badDescriptorsAreEbadf() {
    assertErrno(Errno.EBADF, () -> vfs.read(task, 3, buf, 1));
    assertErrno(Errno.EBADF, () -> vfs.close(task, -1));
    assertErrno(Errno.EBADF, () -> vfs.fsync(task, 0));
    int fd = create("/f");
    vfs.close(task, fd);
    assertErrno(Errno.EBADF, () -> vfs.close(task, fd));
    int r = vfs.open(task, "/f", O_RDONLY, 0);
    assertErrno(Errno.EBADF, () -> vfs.write(task, r, buf, 1));
    int w = vfs.open(task, "/f", O_WRONLY, 0);
    assertErrno(Errno.EBADF, () -> vfs.read(task, w, buf, 1));
    vfs.fsync(task, w);
    vfs.fdatasync(task, w);
  }

  @Test
  void missingAndExistingNames() {
    assertErrno(Errno.ENOENT, () -> vfs.open(task, "/nope", O_RDONLY, 0));
    assertErrno(Errno.ENOENT, () -> vfs.open(task, "/no/f", O_RDWR | O_CREAT, 0644));
    assertErrno(Errno.ENOENT, () -> vfs.unlink("/nope"));
    assertErrno(Errno.ENOENT, () -> vfs.rename("/nope", "/x"));
    assertErrno(Errno.ENOENT, () -> vfs.open(task, "", O_RDONLY, 0));
    vfs.close(task, create("/f"));
    assertErrno(Errno.EEXIST, () -> vfs.open(task, "/f", O_RDWR | O_CREAT | O_EXCL, 0644));
    assertErrno(Errno.EEXIST, () -> vfs.mkdir("/f", 0755));
    assertErrno(Errno.EEXIST, () -> vfs.link("/f", "/f"));
    assertErrno(Errno.ENAMETOOLONG, () -> vfs.mkdir("/" + "x".repeat(256), 0755));
    vfs.mkdir("/" + "x".repeat(255), 0755);
  }

  @Test
  void directoriesAndFilesInTheWrongPlace() {
    vfs.close(task, create("/f"));
    vfs.mkdir("/d", 0755);
    vfs.close(task, create("/d/x"));
    assertErrno(Errno.ENOTDIR, () -> vfs.open(task, "/f/x", O_RDONLY, 0));
    assertErrno(Errno.ENOTDIR, () -> vfs.mkdir("/f/x", 0755));
    assertErrno(Errno.ENOTDIR, () -> vfs.rmdir("/f"));
    assertErrno(Errno.ENOTDIR, () -> vfs.open(task, "/f/", O_RDONLY, 0));
    assertErrno(Errno.ENOTDIR, () -> vfs.rename("/d", "/f"));
    assertErrno(Errno.EISDIR, () -> vfs.open(task, "/d", O_WRONLY, 0));
    assertErrno(Errno.EISDIR, () -> vfs.open(task, "/d", O_RDONLY | O_CREAT, 0644));
    assertErrno(Errno.EISDIR, () -> vfs.unlink("/d"));
    assertErrno(Errno.EISDIR, () -> vfs.rename("/f", "/d"));
    int d = vfs.open(task, "/d", O_RDONLY, 0);
    assertErrno(Errno.EISDIR, () -> vfs.read(task, d, buf, 1));
    assertErrno(Errno.ENOTEMPTY, () -> vfs.rmdir("/d"));
    vfs.mkdir("/e", 0755);
    vfs.close(task, create("/e/y"));
    assertErrno(Errno.ENOTEMPTY, () -> vfs.rename("/d", "/e"));
    assertErrno(Errno.EINVAL, () -> vfs.rename("/d", "/d/inner"));
    assertErrno(Errno.EPERM, () -> vfs.link("/d", "/d2"));
    assertErrno(Errno.EBUSY, () -> vfs.rmdir("/"));
    vfs.unlink("/d/x");
    vfs.rmdir("/d"); // open, yet removable once empty
    assertErrno(Errno.ENOENT, () -> vfs.stat("/d"));
  }

  @Test
  void badArgumentsAreEinval() {
    int fd = create("/f");
    assertErrno(Errno.EINVAL, () -> vfs.lseek(task, fd, -1, SEEK_SET));
    assertErrno(Errno.EINVAL, () -> vfs.lseek(task, fd, 0, 7));
    assertErrno(Errno.EINVAL, () -> vfs.ftruncate(task, fd, -1));
    assertErrno(Errno.EINVAL, () -> vfs.pread(task, fd, buf, 1, -1));
    assertErrno(Errno.EINVAL, () -> vfs.pwrite(task, fd, buf, 1, -1));
    assertErrno(Errno.EINVAL, () -> vfs.read(task, fd, buf, -1));
    int r = vfs.open(task, "/f", O_RDONLY, 0);
    assertErrno(Errno.EINVAL, () -> vfs.ftruncate(task, r, 0)); // not open for writing
    assertErrno(Errno.EINVAL, () -> vfs.mount("nosuchfs", "none", "/", ""));
    vfs.mkdir("/mnt", 0755);
    assertErrno(Errno.EINVAL, () -> vfs.mount("tmpfs", "none", "/mnt", "bogus=1"));
    assertErrno(Errno.EINVAL, () -> vfs.mount("tmpfs", "none", "/mnt", "nr_inodes=x"));
    assertEquals(10, vfs.lseek(task, fd, 10, SEEK_END));
  }

  @Test
  void writesPastSMaxbytesAreEfbig() {
    int fd = create("/f");
    long max = SuperBlock.MAX_LFS_FILESIZE;
    store(buf, pattern(100, 5));
    assertErrno(Errno.EFBIG, () -> vfs.pwrite(task, fd, buf, 100, max));
    assertErrno(Errno.EFBIG, () -> vfs.ftruncate(task, fd, max + 1));
    // just below the limit the write is cut short, as generic_write_check_limits() does
    assertEquals(10, vfs.pwrite(task, fd, buf, 100, max - 10));
    assertEquals(max, vfs.fstat(task, fd).size());
  }

  @Test
  void mountsAreCrossedAndBusyWhileOpen() {
    vfs.mkdir("/mnt", 0755);
    Mount m = vfs.mount("tmpfs", "scratch", "/mnt", "mode=755,nr_inodes=2");
    assertEquals("/mnt", m.path());
    assertEquals(040755, vfs.stat("/mnt").mode());
    int fd = create("/mnt/f");
    assertErrno(Errno.ENOSPC, () -> create("/mnt/g")); // root + f use both inodes
    assertErrno(Errno.EXDEV, () -> vfs.rename("/mnt/f", "/f"));
    assertErrno(Errno.EXDEV, () -> vfs.link("/mnt/f", "/f"));
    assertErrno(Errno.EBUSY, () -> vfs.umount("/mnt"));
    assertErrno(Errno.EBUSY, () -> vfs.rmdir("/mnt"));
    writeAll(fd, pattern(PAGE, 2));
    vfs.close(task, fd);
    vfs.mount("tmpfs", "again", "/mnt", ""); // stacks on top, as Linux does
    assertEquals(List.of(), vfs.readdir("/mnt"));
    vfs.umount("/mnt");
    assertEquals(List.of("f"), vfs.readdir("/mnt"), "the lower mount shows again");
    assertEquals(2, vfs.mounts().size(), "/ and /mnt");
    vfs.umount("/mnt");
    assertEquals(List.of(), vfs.readdir("/mnt"), "the covered directory shows again");
    assertErrno(Errno.EINVAL, () -> vfs.umount("/mnt"));
  }

  @Test
  void registryFindsTmpfsAndRefusesDuplicates() {
    FileSystems fs = FileSystems.standard();
    assertTrue(fs.names().contains("tmpfs"));
    FileSystemType t = fs.get("tmpfs");
    assertErrno(Errno.EBUSY, () -> fs.register(t));
    KernelException e = assertThrows(KernelException.class, () -> fs.get("ext9"));
    assertEquals(Errno.EINVAL, e.errno());
    assertTrue(e.getMessage().contains("tmpfs"), e.getMessage());
    assertEquals(List.of(), t.check("none"));
  }

  /** A minimal plugin as a filesystem author writes it against the SPI: a ramfs. */
  private static final class Ramfs implements FileSystemType {
    final AtomicInteger killed = new AtomicInteger();

    @Override
    public String name() {
      return "testramfs";
    }

    @Override
    public SuperBlock mount(VirtualMemory vm, String source, String options) {
      if (!options.isEmpty()) {
        throw new KernelException(Errno.EINVAL, "testramfs takes no options");
      }
      AddressSpaceOperations aops =
          (mapping, pfn) -> {
            mapping.physicalMemory().ram().zeroPage(pfn);
            mapping.folios().folioMarkUptodate(pfn);
            mapping.folios().folioUnlock(pfn);
            return 0;
          };
      SuperBlock sb = new SuperBlock(this, vm, aops, source, 1 << 20, Long.MAX_VALUE);
      sb.setRoot(sb.newInode(Inode.S_IFDIR | 0755));
      return sb;
    }

    @Override
    public void killSb(SuperBlock sb) {
      killed.incrementAndGet();
      sb.inodes().forEach(Inode::evict);
    }

    @Override
    public List<String> check(String source) {
      return List.of();
    }
  }

  @Test
  void anExplicitlyRegisteredPluginMountsAndIsKilledAtUmount() {
    Ramfs ramfs = new Ramfs();
    vfs.fileSystems().register(ramfs);
    vfs.mkdir("/r", 0755);
    assertErrno(Errno.EINVAL, () -> vfs.mount("testramfs", "r", "/r", "size=1"));
    vfs.mount("testramfs", "r", "/r", "");
    int fd = create("/r/f");
    writeAll(fd, pattern(PAGE, 4));
    // its s_maxbytes of 1 MiB holds, not tmpfs's
    assertErrno(Errno.EFBIG, () -> vfs.pwrite(task, fd, buf, 1, 1 << 20));
    vfs.close(task, fd);
    long freeBefore = free();
    vfs.umount("/r");
    assertEquals(1, ramfs.killed.get());
    assertEquals(freeBefore + 1, free(), "kill_sb freed the file's page");
  }
}
