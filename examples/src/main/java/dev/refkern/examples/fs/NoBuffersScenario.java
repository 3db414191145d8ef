package dev.refkern.examples.fs;

import static dev.refkern.fs.Fcntl.O_CREAT;
import static dev.refkern.fs.Fcntl.O_RDONLY;
import static dev.refkern.fs.Fcntl.O_RDWR;
import static dev.refkern.mm.vm.Foll.FOLL_WRITE;
import static dev.refkern.mm.vm.Mman.MAP_SHARED;
import static dev.refkern.mm.vm.Mman.PROT_READ;
import static dev.refkern.mm.vm.Mman.PROT_WRITE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.examples.FinalCheck;
import dev.refkern.examples.PageTypes;
import dev.refkern.fs.Mount;
import dev.refkern.fs.Vfs;
import dev.refkern.fs.ext4.Ext4;
import dev.refkern.fs.ext4.Ext4Stats;
import dev.refkern.fs.spi.Inode;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.KernelBugException;
import dev.refkern.mm.MemmapInspection;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.apiguardian.api.API;

/**
 * Seed 001's objective O2 on ext4: {@code set_page_dirty()} of a page-cache folio whose buffers are
 * gone, by a GUP user that never asked the filesystem ({@code unpin_user_pages_dirty_lock()}
 * without {@code ->page_mkwrite}). The demo and the tests share it.
 *
 * <p>Steps: the application writes page 0 of a file and fsyncs; a device pins it ({@code
 * pin_user_pages(FOLL_WRITE)} of a {@code MAP_SHARED} mapping; {@code pinned_writeback=ignore}, as
 * mainline writes pinned folios); fsync cleans it; reclaim's {@code filemap_release_folio()} frees
 * its clean buffers; the device DMAs and unpins dirtying; fsync again. With {@code nobuffers=bug}
 * (kernels before 5.18) that writeback is {@code BUG()}: the kernel stops and its memmap is read
 * post mortem as {@code refkern inspect} does. With {@code nobuffers=warn} (mainline since
 * cc5095747edf) ext4 warns and cleans the folio unwritten: the DMA's bytes never reach the disk.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class NoBuffersScenario {
  private static final int PAGE = Page.PAGE_SIZE;
  private static final long SECTORS = (4L << 20) / 512;

  /**
   * What happened.
   *
   * @param nobuffers the mount's {@code nobuffers=} ("warn" or "bug")
   * @param bug the BUG message if the kernel stopped, else null
   * @param warning the WARN the writeback logged, else null
   * @param foliosWithoutBuffers folios writeback found dirty without buffers
   * @param bytesLost file bytes those folios held, cleaned and never written
   * @param diskHolds what a remount read from the file: "the DMA", "the app's data" or "other"
   * @param postMortem the folio's {@code struct page} read from the dead kernel's memmap, or null
   * @param violations the final check's findings on a surviving kernel; empty when clean
   */
  public record Outcome(
      String nobuffers,
      String bug,
      String warning,
      long foliosWithoutBuffers,
      long bytesLost,
      String diskHolds,
      String postMortem,
      List<String> violations) {
    /** One line for people. */
    public String summary() {
      if (bug != null) {
        return "writeback: "
            + bug
            + "\n    post-mortem, the folio in the dead memmap (refkern inspect --pfn): "
            + postMortem.strip().replace("\n", "\n    ");
      }
      return "writeback: WARN \""
          + warning.substring(warning.indexOf("page "))
          + "\", folio cleaned unwritten, "
          + bytesLost
          + " bytes lost; remount reads "
          + diskHolds;
    }
  }

  private final Path dir;

  /** A scenario keeping its kernels' state and images under {@code dir}. */
  public NoBuffersScenario(Path dir) {
    this.dir = dir;
  }

  /** Runs the sequence on a fresh kernel and image with {@code nobuffers=} {@code mode}. */
  public Outcome run(String mode) {
    Path state = dir.resolve("kernel-" + mode);
    Path image = dir.resolve("ext4-" + mode + ".img");
    try {
      Files.createDirectories(dir);
      Files.deleteIfExists(image);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=64M zone_device=0"), state, true);
    PhysicalMemory mem = vm.physicalMemory();
    FileDisk disk = FileDisk.create(mem, image, SECTORS, DiskOptions.defaults().name("sda"));
    Vfs vfs = new Vfs(vm);
    vfs.mkdir("/mnt", 0755);
    vfs.registerBlockDevice("/dev/sda", disk);
    Task task = vm.createTask("rdma");
    Mount m =
        vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs,pinned_writeback=ignore,nobuffers=" + mode);
    Ext4 ext4 = (Ext4) m.sb().type();
    long buf = task.mmapAnon(PAGE);
    byte[] app = fill('A');
    task.store(buf, app, 0, PAGE);
    int fd = vfs.open(task, "/mnt/f", O_RDWR | O_CREAT, 0644);
    vfs.pwrite(task, fd, buf, PAGE, 0);
    vfs.fsync(task, fd);
    long addr = vfs.mmap(task, 0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    long[] pages = new long[1];
    vm.gup().pinUserPages(task, addr, 1, FOLL_WRITE, pages);
    Inode inode = m.sb().root().lookup("f");
    vfs.fsync(task, fd); // writeback cleans the pinned folio
    ext4.releaseFolio(inode, pages[0]); // reclaim: try_to_free_buffers() of the clean folio
    mem.ram().write(pages[0], 0, fill('D'), 0, PAGE); // the device DMAs
    vm.gup().unpinUserPagesDirtyLock(pages, 1, true); // set_page_dirty(), no ->page_mkwrite
    long warns = mem.health().warnCount();
    try {
      vfs.fsync(task, fd);
    } catch (KernelBugException e) {
      String bug = mem.health().bugMessage() != null ? mem.health().bugMessage() : e.getMessage();
      disk.close();
      mem.close();
      try (MemmapInspection in = MemmapInspection.open(state)) {
        in.verify();
        return new Outcome(
            mode,
            bug,
            null,
            0,
            0,
            null,
            in.state() + " " + PageTypes.describe(in.memmap(), pages[0]),
            List.of());
      }
    }
    List<String> w = mem.health().warnings();
    String warning = mem.health().warnCount() > warns ? w.get(w.size() - 1) : null;
    Ext4Stats st = ext4.stats(m.sb());
    vfs.munmap(task, addr, PAGE);
    vfs.close(task, fd);
    vfs.umount("/mnt");
    vfs.mount("ext4", "/dev/sda", "/mnt", ""); // the cache is gone with the inodes: the disk
    fd = vfs.open(task, "/mnt/f", O_RDONLY, 0);
    vfs.pread(task, fd, buf, PAGE, 0);
    vfs.close(task, fd);
    byte[] now = new byte[PAGE];
    task.load(buf, now, 0, PAGE);
    String holds =
        Arrays.equals(now, fill('D'))
            ? "the DMA"
            : Arrays.equals(now, app) ? "the app's data" : "other";
    vfs.shutdown();
    task.exit();
    disk.close();
    List<String> v = FinalCheck.violations(mem);
    mem.close();
    return new Outcome(
        mode,
        null,
        warning,
        st.foliosWithoutBuffers(),
        st.bytesLostWithoutBuffers(),
        holds,
        null,
        v);
  }

  private static byte[] fill(char c) {
    byte[] b = new byte[PAGE];
    Arrays.fill(b, (byte) c);
    return b;
  }
}
