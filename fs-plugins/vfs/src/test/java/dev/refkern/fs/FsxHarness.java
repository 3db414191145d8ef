package dev.refkern.fs;

import static dev.refkern.fs.Falloc.FALLOC_FL_KEEP_SIZE;
import static dev.refkern.fs.Falloc.FALLOC_FL_PUNCH_HOLE;
import static dev.refkern.fs.Fcntl.O_CREAT;
import static dev.refkern.fs.Fcntl.O_RDWR;
import static dev.refkern.fs.Fcntl.SEEK_SET;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * An fsx-like exerciser (xfstests' {@code ltp/fsx.c}) for any filesystem type: a sequence of write,
 * pwrite, read, mmap store, mmap load, truncate, fallocate (allocate, keep size, punch), fsync and
 * close-reopen on one file, checked against an in-memory copy of what the file must hold; every
 * read and the size after every step must match. After the sequence the file is removed and the
 * filesystem unmounted, and then the kernel's invariant checker must be clean, no pin held and
 * every page free again.
 *
 * <p>A filesystem plugin reuses it from this module's test-jar: subclass it, name the type in
 * {@link #fsType()} (registering it in {@link #fileSystems()} if {@link FileSystems#standard()}
 * does not find it) and write a jqwik {@code @Property} that calls {@link #run(List)} with {@link
 * #sequences(int)}; jqwik prints the seed and the shrunk sequence of a failure.
 */
public abstract class FsxHarness {
  private static final int PAGE = Page.PAGE_SIZE;
  private static final int RW = Mman.PROT_READ | Mman.PROT_WRITE;

  /** What one step does. */
  public enum Kind {
    WRITE,
    PWRITE,
    READ,
    MAP_STORE,
    MAP_LOAD,
    TRUNCATE,
    FALLOCATE,
    FALLOCATE_KEEP_SIZE,
    PUNCH_HOLE,
    FSYNC,
    REOPEN
  }

  /** One step: {@code kind} at byte {@code off} for {@code len} bytes (clamped to the file). */
  public record Op(Kind kind, int off, int len) {}

  /** The filesystem type under test, mounted at {@code /mnt}. */
  protected abstract String fsType();

  /** Its mount options; default none. */
  protected String mountOptions() {
    return "";
  }

  /** The registry the VFS is built with; default {@link FileSystems#standard()}. */
  protected FileSystems fileSystems() {
    return FileSystems.standard();
  }

  /** The most bytes the file grows to. */
  protected int maxBytes() {
    return 16 * PAGE;
  }

  /** Sequences of 1 to {@code maxOps} steps. */
  public Arbitrary<List<Op>> sequences(int maxOps) {
    int max = maxBytes();
    Arbitrary<Op> op =
        Combinators.combine(
                Arbitraries.of(Kind.class),
                Arbitraries.integers().between(0, max).edgeCases(e -> e.includeOnly(0, PAGE, max)),
                Arbitraries.integers().between(1, max / 2).edgeCases(e -> e.includeOnly(1, PAGE)))
            .as(Op::new);
    return op.list().ofMinSize(1).ofMaxSize(maxOps);
  }

  private static VirtualMemory vm; // one machine for every try: booting costs more than a try
  private static Path dir;

  /** Runs {@code ops} on a fresh file of a fresh mount and checks everything after. */
  public void run(List<Op> ops) {
    if (vm == null) {
      try {
        dir = Files.createTempDirectory("fsx");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      vm = VirtualMemory.boot(BootParams.parse("mem=16M"), dir, false);
    }
    PhysicalMemory mem = vm.physicalMemory();
    vm.lru().lruAddDrainAll();
    long freeAtStart = mem.allocator().nrFreePages();
    Vfs vfs = new Vfs(vm, fileSystems(), "tmpfs", "");
    Task task = vm.createTask("fsx");
    try {
      new Run(vfs, task, ops).go();
    } finally {
      vfs.shutdown();
      task.exit();
    }
    assertEquals(List.of(), mem.debugVm().check(), "CONFIG_DEBUG_VM after " + ops);
    assertEquals(List.of(), mem.debugVm().checkNoPinsHeld(), "pins after " + ops);
    vm.lru().lruAddDrainAll();
    assertEquals(freeAtStart, mem.allocator().nrFreePages(), "pages leaked by " + ops);
  }

  /** Shuts the machine down after the last property of the class. */
  @AfterContainer
  static void shutdownMachine() {
    if (vm != null) {
      vm.physicalMemory().close();
      vm = null;
      deleteTree(dir);
    }
  }

  /** One sequence on one file, with its model. */
  private final class Run {
    final Vfs vfs;
    final Task task;
    final List<Op> ops;
    final int max = maxBytes();
    final byte[] model = new byte[max]; // past size: zeros
    final byte[] got = new byte[max];
    final long buf;
    long size;
    int fd;
    int step;

    Run(Vfs vfs, Task task, List<Op> ops) {
      this.vfs = vfs;
      this.task = task;
      this.ops = ops;
      this.buf = task.mmapAnon(max);
    }

    void go() {
      vfs.mkdir("/mnt", 0755);
      vfs.mount(fsType(), "fsx", "/mnt", mountOptions());
      fd = vfs.open(task, "/mnt/fsx", O_RDWR | O_CREAT, 0644);
      for (Op op : ops) {
        apply(op);
        assertEquals(size, vfs.fstat(task, fd).size(), where(op) + ": size");
        step++;
      }
      check(0, (int) size, "at the end");
      vfs.close(task, fd);
      vfs.unlink("/mnt/fsx");
      vfs.umount("/mnt");
      task.munmap(buf, max);
    }

    String where(Op op) {
      return "step " + step + " " + op + " of " + ops;
    }

    void apply(Op op) {
      int off = Math.min(op.off(), max - 1);
      int len = Math.min(op.len(), max - off);
      switch (op.kind()) {
        case WRITE -> {
          fill(off, len);
          vfs.lseek(task, fd, off, SEEK_SET);
          assertEquals(len, vfs.write(task, fd, buf + off, len), where(op));
          grow(off + len);
        }
        case PWRITE -> {
          fill(off, len);
          assertEquals(len, vfs.pwrite(task, fd, buf + off, len, off), where(op));
          grow(off + len);
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
        case FALLOCATE -> {
          vfs.fallocate(task, fd, 0, off, len);
          grow(off + len);
        }
        case FALLOCATE_KEEP_SIZE -> vfs.fallocate(task, fd, FALLOC_FL_KEEP_SIZE, off, len);
        case PUNCH_HOLE -> {
          vfs.fallocate(task, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
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

    void grow(long end) {
      size = Math.max(size, end);
    }

    /** Bytes {@code [off, off + n)} just read into the buffer (or, at the end, the whole file). */
    void check(int off, int n, String what) {
      if (what.equals("at the end")) {
        assertEquals(n, vfs.pread(task, fd, buf, n, 0), what);
        off = 0;
      }
      task.load(buf, got, 0, n);
      assertArrayEquals(Arrays.copyOfRange(model, off, off + n), Arrays.copyOf(got, n), what);
    }
  }

  private static void deleteTree(Path dir) {
    try (var s = Files.walk(dir)) {
      s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
