package dev.refkern.fs.ext4;

import static dev.refkern.fs.Falloc.FALLOC_FL_KEEP_SIZE;
import static dev.refkern.fs.Falloc.FALLOC_FL_PUNCH_HOLE;
import static dev.refkern.fs.Falloc.FALLOC_FL_ZERO_RANGE;
import static dev.refkern.fs.Fcntl.O_CREAT;
import static dev.refkern.fs.Fcntl.O_RDWR;
import static dev.refkern.fs.Fcntl.SEEK_SET;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Vfs;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * The vfs module's {@code FsxHarness} ({@code ltp/fsx.c}) on ext4, copied to the minimum: the
 * harness lives in the vfs test-jar in package {@code dev.refkern.fs}, which on the module path
 * splits that package with the {@code dev.refkern.fs} module, and it mounts no block device. Write,
 * pwrite, read, mmap store and load, truncate, fallocate (allocate, keep size: unwritten extents;
 * punch hole; zero range, with and without keep size), fsync and reopen on one file, every read
 * checked against a model; then umount, fsck clean, remount, the file as the model says, unlink,
 * umount, fsck clean, no pin held and no page leaked.
 */
class Ext4FsxTest {
  private static final int PAGE = Page.PAGE_SIZE;
  private static final int MAX = 32 * PAGE; // up to 32 extents: trees of depth 0 and 1
  private static final int RW = Mman.PROT_READ | Mman.PROT_WRITE;

  enum Kind {
    WRITE,
    PWRITE,
    READ,
    MAP_STORE,
    MAP_LOAD,
    TRUNCATE,
    PUNCH_HOLE,
    FALLOCATE,
    FALLOCATE_KEEP_SIZE,
    ZERO_RANGE,
    ZERO_RANGE_KEEP_SIZE,
    FSYNC,
    REOPEN
  }

  record Op(Kind kind, int off, int len) {}

  @Provide
  Arbitrary<List<Op>> sequences() {
    Arbitrary<Op> op =
        Combinators.combine(
                Arbitraries.of(Kind.class),
                Arbitraries.integers().between(0, MAX).edgeCases(e -> e.includeOnly(0, PAGE, MAX)),
                Arbitraries.integers().between(1, MAX / 2).edgeCases(e -> e.includeOnly(1, PAGE)))
            .as(Op::new);
    return op.list().ofMinSize(1).ofMaxSize(60);
  }

  @Property(tries = 40, seed = "20261202", shrinking = ShrinkingMode.BOUNDED)
  void ext4MatchesTheModelAndStaysClean(@ForAll("sequences") List<Op> ops) {
    run(ops);
  }

  private static VirtualMemory vm; // one machine for every try: booting costs more than a try
  private static Path dir;
  private static int tries;

  private void run(List<Op> ops) {
    if (vm == null) {
      try {
        dir = Files.createTempDirectory("ext4fsx");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir.resolve("k"), false);
    }
    PhysicalMemory mem = vm.physicalMemory();
    vm.lru().lruAddDrainAll();
    long freeAtStart = mem.allocator().nrFreePages();
    Path image = dir.resolve("img" + tries++);
    FileDisk disk = FileDisk.create(mem, image, (4 << 20) / 512, DiskOptions.defaults());
    Vfs vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
    Task task = vm.createTask("fsx");
    try {
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/sda", disk);
      new Run(vfs, task, ops, image).go();
    } finally {
      vfs.shutdown();
      task.exit();
      disk.close();
    }
    assertEquals(List.of(), mem.debugVm().check(), "CONFIG_DEBUG_VM after " + ops);
    assertEquals(List.of(), mem.debugVm().checkNoPinsHeld(), "pins after " + ops);
    vm.lru().lruAddDrainAll();
    assertEquals(freeAtStart, mem.allocator().nrFreePages(), "pages leaked by " + ops);
    try {
      Files.delete(image);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @AfterContainer
  static void shutdownMachine() {
    if (vm != null) {
      vm.physicalMemory().close();
      vm = null;
      try (var s = Files.walk(dir)) {
        s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** One sequence on one file, with its model. */
  private static final class Run {
    final Vfs vfs;
    final Task task;
    final List<Op> ops;
    final Path image;
    final byte[] model = new byte[MAX]; // past size: zeros
    final byte[] got = new byte[MAX];
    final long buf;
    long size;
    int fd;
    int step;

    Run(Vfs vfs, Task task, List<Op> ops, Path image) {
      this.vfs = vfs;
      this.task = task;
      this.ops = ops;
      this.image = image;
      this.buf = task.mmapAnon(MAX);
    }

    void go() {
      vfs.mount("ext4", "/dev/sda", "/mnt", "mkfs");
      fd = vfs.open(task, "/mnt/fsx", O_RDWR | O_CREAT, 0644);
      for (Op op : ops) {
        apply(op);
        assertEquals(size, vfs.fstat(task, fd).size(), where(op) + ": size");
        step++;
      }
      check(0, (int) size, "at the end");
      vfs.close(task, fd);
      vfs.umount("/mnt");
      assertEquals(List.of(), new Ext4().check(image.toString()), "fsck after " + ops);
      vfs.mount("ext4", "/dev/sda", "/mnt", "");
      fd = vfs.open(task, "/mnt/fsx", O_RDWR, 0);
      assertEquals(size, vfs.fstat(task, fd).size(), "size after a remount, " + ops);
      check(0, (int) size, "after a remount");
      vfs.close(task, fd);
      vfs.unlink("/mnt/fsx");
      vfs.umount("/mnt");
      assertEquals(List.of(), new Ext4().check(image.toString()), "fsck after unlink, " + ops);
      task.munmap(buf, MAX);
    }

    String where(Op op) {
      return "step " + step + " " + op + " of " + ops;
    }

    void apply(Op op) {
      int off = Math.min(op.off(), MAX - 1);
      int len = Math.min(op.len(), MAX - off);
      switch (op.kind()) {
        case WRITE -> {
          fill(off, len);
          vfs.lseek(task, fd, off, SEEK_SET);
          assertEquals(len, vfs.write(task, fd, buf + off, len), where(op));
          size = Math.max(size, off + len);
        }
        case PWRITE -> {
          fill(off, len);
          assertEquals(len, vfs.pwrite(task, fd, buf + off, len, off), where(op));
          size = Math.max(size, off + len);
        }
        case READ -> {
          int n = (int) Math.max(0, Math.min(len, size - off));
          assertEquals(n, vfs.pread(task, fd, buf, len, off), where(op));
          check(off, n, where(op));
        }
        case MAP_STORE, MAP_LOAD -> mapped(op);
        case TRUNCATE -> {
          vfs.ftruncate(task, fd, off);
          if (off < size) {
            Arrays.fill(model, off, (int) size, (byte) 0);
          }
          size = off;
        }
        case PUNCH_HOLE -> {
          vfs.fallocate(task, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
          Arrays.fill(model, off, off + len, (byte) 0);
        }
        case FALLOCATE -> {
          vfs.fallocate(task, fd, 0, off, len);
          size = Math.max(size, off + len);
        }
        case FALLOCATE_KEEP_SIZE -> vfs.fallocate(task, fd, FALLOC_FL_KEEP_SIZE, off, len);
        case ZERO_RANGE -> {
          vfs.fallocate(task, fd, FALLOC_FL_ZERO_RANGE, off, len);
          Arrays.fill(model, off, off + len, (byte) 0);
          size = Math.max(size, off + len);
        }
        case ZERO_RANGE_KEEP_SIZE -> {
          vfs.fallocate(task, fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
          Arrays.fill(model, off, off + len, (byte) 0);
        }
        case FSYNC -> vfs.fsync(task, fd);
        case REOPEN -> {
          vfs.close(task, fd);
          fd = vfs.open(task, "/mnt/fsx", O_RDWR, 0);
        }
      }
    }

    /** A store or load through a shared mapping of the pages holding bytes inside the file. */
    void mapped(Op op) {
      if (size == 0) {
        return;
      }
      int off = (int) (op.off() % size);
      int len = (int) Math.min(op.len(), size - off);
      long pgoff = off & -(long) PAGE;
      long maplen = off + len - pgoff;
      long a = vfs.mmap(task, 0, maplen, RW, Mman.MAP_SHARED, fd, pgoff);
      try {
        if (op.kind() == Kind.MAP_STORE) {
          byte[] data = new byte[len];
          for (int i = 0; i < len; i++) {
            data[i] = (byte) (step * 7 + i * 13 + 1);
          }
          task.store(a + (off - pgoff), data, 0, len);
          System.arraycopy(data, 0, model, off, len);
        } else {
          task.load(a + (off - pgoff), got, 0, len);
          assertArrayEquals(
              Arrays.copyOfRange(model, off, off + len),
              Arrays.copyOf(got, len),
              where(op) + ": mapped load");
        }
      } finally {
        vfs.munmap(task, a, maplen);
      }
    }

    /** New data for bytes {@code [off, off + len)} in the task's buffer and the model. */
    void fill(int off, int len) {
      for (int i = 0; i < len; i++) {
        model[off + i] = (byte) (step * 31 + i * 3 + 7);
      }
      task.store(buf + off, model, off, len);
    }

    /** Bytes {@code [off, off + n)} just read into the buffer (or, from "at", the whole file). */
    void check(int off, int n, String what) {
      if (what.startsWith("at the end") || what.startsWith("after a remount")) {
        assertEquals(n, vfs.pread(task, fd, buf, n, 0), what);
        off = 0;
      }
      task.load(buf, got, 0, n);
      assertArrayEquals(
          Arrays.copyOfRange(model, off, off + n), Arrays.copyOf(got, n), what + ", " + ops);
    }
  }
}
