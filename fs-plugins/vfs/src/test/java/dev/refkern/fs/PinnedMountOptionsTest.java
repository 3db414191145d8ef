package dev.refkern.fs;

import static dev.refkern.fs.Fcntl.*;
import static dev.refkern.mm.vm.Foll.*;
import static dev.refkern.mm.vm.Mman.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.fs.spi.FileSystemType;
import dev.refkern.fs.spi.Inode;
import dev.refkern.fs.spi.SuperBlock;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.RamBackedAops;
import dev.refkern.mm.vm.BouncePinnedWriteback;
import dev.refkern.mm.vm.IgnorePinnedWriteback;
import dev.refkern.mm.vm.MappingPinnedPolicies;
import dev.refkern.mm.vm.PinnedWritebackPolicy;
import dev.refkern.mm.vm.RevokePinnedTruncate;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.WaitPinnedWriteback;
import dev.refkern.mm.vm.WbSyncMode;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generic mount options {@code pinned_writeback=} and {@code pinned_truncate=}: the VFS parses
 * them for every filesystem, a type may declare its default, and every file's mapping of the mount
 * gets the chosen policy, which writeback then asks instead of the booted one.
 */
class PinnedMountOptionsTest {
  @TempDir Path dir;
  private VirtualMemory vm;
  private PhysicalMemory mem;
  private Vfs vfs;
  private Task task;

  /** A disk-backed test filesystem: one file {@code /f} made at mount, refuses any option. */
  private static final class RamDiskFs implements FileSystemType {
    private final String name;
    private final String defaultWriteback;

    RamDiskFs(String name, String defaultWriteback) {
      this.name = name;
      this.defaultWriteback = defaultWriteback;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public String defaultPinnedWriteback() {
      return defaultWriteback;
    }

    @Override
    public SuperBlock mount(VirtualMemory vm, String source, String options) {
      if (!options.isEmpty()) {
        throw new KernelException(Errno.EINVAL, name + ": unknown parameter '" + options + "'");
      }
      SuperBlock sb =
          new SuperBlock(this, vm, new RamBackedAops(), source, SuperBlock.MAX_LFS_FILESIZE, 16);
      Inode root = sb.newInode(Inode.S_IFDIR | 0755);
      sb.setRoot(root);
      root.addEntry("f", sb.newInode(Inode.S_IFREG | 0644)); // on "disk" before the mount ends
      return sb;
    }

    @Override
    public void killSb(SuperBlock sb) {
      for (Inode i : sb.inodes()) {
        i.evict();
      }
    }

    @Override
    public List<String> check(String source) {
      return List.of();
    }
  }

  @BeforeEach
  void boot() {
    vm = VirtualMemory.boot(BootParams.parse("mem=64M gup.longterm_file=allow"), dir, false);
    mem = vm.physicalMemory();
    vfs = new Vfs(vm);
    vfs.fileSystems().register(new RamDiskFs("extlike", "wait"));
    vfs.fileSystems().register(new RamDiskFs("plain", null));
    vfs.mkdir("/mnt", 0755);
    task = vm.createTask("t");
  }

  @AfterEach
  void shutDown() {
    vfs.shutdown();
    task.exit();
    mem.close();
  }

  private SuperBlock mounted(String type, String options) {
    return vfs.mount(type, "disk0", "/mnt", options).sb();
  }

  private static Inode fileOf(SuperBlock sb) {
    return sb.inodes().stream().filter(i -> !i.isDir()).findFirst().orElseThrow();
  }

  @Test
  void withoutAnOptionOrADefaultTheBootedPolicyDecides() {
    SuperBlock sb = mounted("plain", "");
    assertNull(sb.pinnedWriteback());
    assertNull(MappingPinnedPolicies.pinnedWriteback(fileOf(sb).mapping()));
    assertNull(MappingPinnedPolicies.pinnedTruncate(fileOf(sb).mapping()));
  }

  @Test
  void theTypesDefaultAppliesAndTheOptionOverridesIt() {
    SuperBlock sb = mounted("extlike", "");
    assertInstanceOf(WaitPinnedWriteback.class, sb.pinnedWriteback(), "the type says wait");
    assertSame(sb.pinnedWriteback(), MappingPinnedPolicies.pinnedWriteback(fileOf(sb).mapping()));
    vfs.umount("/mnt");

    sb = mounted("extlike", "pinned_writeback=ignore,pinned_truncate=revoke");
    assertInstanceOf(IgnorePinnedWriteback.class, sb.pinnedWriteback(), "the option wins");
    Inode before = fileOf(sb);
    assertSame(sb.pinnedWriteback(), MappingPinnedPolicies.pinnedWriteback(before.mapping()));
    assertInstanceOf(
        RevokePinnedTruncate.class, MappingPinnedPolicies.pinnedTruncate(before.mapping()));
    int fd = vfs.open(task, "/mnt/g", O_RDWR | O_CREAT, 0644);
    vfs.close(task, fd);
    for (Inode i : sb.inodes()) {
      if (!i.isDir()) {
        assertSame(
            sb.pinnedWriteback(),
            MappingPinnedPolicies.pinnedWriteback(i.mapping()),
            "a file created later gets it too");
      }
    }
  }

  @Test
  void tmpfsTakesTheOptionsAndStillParsesItsOwn() {
    SuperBlock sb = mounted("tmpfs", "mode=700,pinned_writeback=bounce");
    assertInstanceOf(BouncePinnedWriteback.class, sb.pinnedWriteback());
    assertEquals(0700, vfs.stat("/mnt").mode() & 07777);
  }

  @Test
  void anUnknownOrEmptyValueIsEinvalAndMountsNothing() {
    for (String bad :
        List.of(
            "pinned_writeback=magic",
            "pinned_truncate=later",
            "pinned_writeback=",
            "pinned_writeback",
            "pinned_writeback=skip,pinned_writeback=wait")) {
      KernelException e = assertThrows(KernelException.class, () -> mounted("plain", bad), bad);
      assertEquals(Errno.EINVAL, e.errno(), bad);
    }
    KernelException e =
        assertThrows(KernelException.class, () -> mounted("plain", "pinned_writeback=magic"));
    assertTrue(e.getMessage().contains("ignore, skip, wait, bounce"), e.getMessage());
    assertEquals(1, vfs.mounts().size(), "only the root");
  }

  @Test
  void writebackOfAPinnedFileFolioFollowsTheMountNotTheBoot() {
    SuperBlock sb = mounted("plain", "pinned_writeback=bounce");
    assertInstanceOf(IgnorePinnedWriteback.class, vm.pinnedWriteback(), "booted: mainline");
    Inode f = fileOf(sb);
    f.mapping().setSize(4096);
    long a = task.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f.mapping(), 0);
    task.storeLong(a, 42);
    long[] pages = new long[1];
    assertEquals(1, vm.gup().pinUserPages(task, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages));
    assertEquals(0, vm.pageWriteback().writeCachePages(f.mapping(), 0, 0, WbSyncMode.NONE));
    PinnedWritebackPolicy mine = (PinnedWritebackPolicy) sb.pinnedWriteback();
    assertEquals(1, mine.stats().get("folios_bounced"), "the mount's bounce wrote a copy");
    assertEquals(0, vm.pinnedWriteback().stats().get("pinned_folios"), "the boot's was not asked");
    assertEquals(1, f.mapping().nrDirty(), "and the pinned folio stays dirty");
    vm.gup().unpinUserPages(pages, 1);
    task.munmap(a, 4096);
  }

  @Test
  void aWaitingFtruncateReturnsEintrOnAFatalSignalAndLeavesTheFileAsItWas() throws Exception {
    SuperBlock sb = mounted("tmpfs", "pinned_truncate=wait");
    int fd = vfs.open(task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    long a = vfs.mmap(task, 0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    vfs.ftruncate(task, fd, 2 * 4096);
    task.storeLong(a, 7);
    task.storeLong(a + 4096, 8);
    long[] pages = new long[1];
    assertEquals(1, vm.gup().pinUserPages(task, a, 1, FOLL_WRITE, pages));
    KernelException[] got = new KernelException[1];
    Thread t =
        new Thread(
            () -> {
              try {
                vfs.ftruncate(task, fd, 100);
              } catch (KernelException e) {
                got[0] = e;
              }
            },
            "ftruncate");
    t.start();
    var policy = (dev.refkern.mm.vm.PinnedTruncatePolicy) sb.pinnedTruncate();
    for (long end = System.nanoTime() + 60_000_000_000L;
        policy.stats().get("waits") == 0 || t.getState() != Thread.State.WAITING; ) {
      assertTrue(System.nanoTime() < end && t.isAlive(), "ftruncate never slept: " + got[0]);
      Thread.sleep(1);
    }
    Inode f = fileOf(sb);
    task.kill(); // SIGKILL to the truncating task
    t.join(60_000);
    assertFalse(t.isAlive(), "the signal woke it");
    assertNotNull(got[0], "ftruncate failed");
    assertEquals(Errno.EINTR, got[0].errno());
    assertEquals(2 * 4096, f.size(), "i_size unchanged");
    assertEquals(2, f.mapping().nrPages(), "nothing left the cache");
    assertEquals(7, mem.ram().readLong(pages[0], 0), "the pinned page keeps its data");
    assertEquals(1, policy.stats().get("interrupted"));
    vm.gup().unpinUserPages(pages, 1);
  }
}
