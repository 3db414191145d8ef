package dev.refkern.examples.bench;

import dev.refkern.block.Bio;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.examples.FileTrees;
import dev.refkern.fs.Fcntl;
import dev.refkern.fs.Vfs;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH benchmark of buffered file writes, {@code write(2)} + {@code fsync(2)} through the page cache
 * ({@code mm/filemap.c}, {@code fs/iomap/buffered-io.c}, {@code fs/ext4/inode.c}) onto a {@code
 * flatfs} or an {@code ext4} (journalled, delayed allocation) on a {@link FileDisk}, against the
 * host's own {@link FileChannel#write} + {@link FileChannel#force force(true)} of the same {@value
 * #FILE_MIB} MiB in {@value #CHUNK_MIB} MiB writes, into a plain file in the same temporary
 * directory.
 *
 * <p>Each invocation writes a fresh file (the previous one is unlinked before the iteration) and
 * makes it durable; time per invocation, so MB/s = {@value #FILE_MIB} × 1.048576 / seconds. The
 * goal: the filesystem at no less than 0.5 of the plain file's throughput. {@link
 * #smallFileCreateFsync} is the small-file rate: create, write 4 KiB, {@code fsync}, close and
 * unlink, where each {@code fsync} is one journal commit on ext4.
 */
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(1)
public class FsWriteBenchmark {
  static final int MIB = 1 << 20;
  static final int FILE_MIB = 256;
  static final int CHUNK_MIB = 1;

  /** A kernel with a flatfs on a file disk mounted at /mnt, and a task with 1 MiB of data. */
  @State(Scope.Thread)
  public static class Flat {
    /** The filesystem type under test. */
    @Param({"flatfs", "ext4", "xfs"})
    public String fs;

    Path dir;
    VirtualMemory vm;
    PhysicalMemory mem;
    Vfs vfs;
    FileDisk disk;
    Task task;
    long buf;

    @Setup(Level.Trial)
    public void boot() throws IOException {
      dir = Files.createTempDirectory("refkern-jmh-fs");
      // enough RAM that 256 MiB stays under vm.dirty_ratio: the flusher writes in the background
      vm = VirtualMemory.boot(BootParams.parse("mem=2G zone_device=0"), dir.resolve("k"), true);
      mem = vm.physicalMemory();
      vfs = new Vfs(vm);
      vfs.mkdir("/mnt", 0755);
      long bytes = (FILE_MIB + 48L) * MIB; // ext4, xfs: inode tables, journal or log, reserves
      disk = FileDisk.create(mem, dir.resolve("flat.img"), bytes / Bio.SECTOR_SIZE, opts());
      vfs.registerBlockDevice("/dev/flat0", disk);
      vfs.mount(
          fs, "/dev/flat0", "/mnt", fs.equals("flatfs") ? "mkfs,extent=" + FILE_MIB + "m" : "mkfs");
      task = vm.createTask("fs_bench");
      buf = task.mmapAnon(CHUNK_MIB * MIB);
      byte[] data = new byte[CHUNK_MIB * MIB];
      new Random(42).nextBytes(data);
      task.store(buf, data, 0, data.length);
    }

    private static DiskOptions opts() {
      return DiskOptions.defaults().name("flat0");
    }

    @Setup(Level.Iteration)
    public void unlink() {
      if (vfs.readdir("/mnt").contains("f")) {
        vfs.unlink("/mnt/f");
      }
    }

    @TearDown(Level.Trial)
    public void shutdown() throws IOException {
      try {
        vfs.exitFiles(task);
        vfs.shutdown();
        disk.close();
        task.exit();
        vm.lru().lruAddDrainAll();
        List<String> problems = mem.debugVm().checkNoPinsHeld();
        if (!problems.isEmpty()) {
          throw new IllegalStateException("debug_vm: " + problems);
        }
      } finally {
        mem.close();
        FileTrees.deleteTree(dir);
      }
    }
  }

  /**
   * A plain file beside the flatfs image (same directory, same host filesystem) and 1 MiB of the
   * same data in a direct buffer.
   */
  @State(Scope.Thread)
  public static class Plain {
    Path file;
    final ByteBuffer src = ByteBuffer.allocateDirect(CHUNK_MIB * MIB);

    @Setup(Level.Trial)
    public void create(Flat f) {
      file = f.dir.resolve("plain.img"); // deleted with the directory
      byte[] data = new byte[CHUNK_MIB * MIB];
      new Random(42).nextBytes(data);
      src.put(data).flip();
    }

    @Setup(Level.Iteration)
    public void unlink() throws IOException {
      Files.deleteIfExists(file);
    }
  }

  /**
   * {@value #FILE_MIB} MiB of buffered {@code write()} to a new flatfs file, then {@code fsync}.
   */
  @Benchmark
  public long fsWriteFsync(Flat f) {
    int fd = f.vfs.open(f.task, "/mnt/f", Fcntl.O_WRONLY | Fcntl.O_CREAT, 0644);
    long n = 0;
    try {
      for (int i = 0; i < FILE_MIB / CHUNK_MIB; i++) {
        n += f.vfs.write(f.task, fd, f.buf, (long) CHUNK_MIB * MIB);
      }
      f.vfs.fsync(f.task, fd);
    } finally {
      f.vfs.close(f.task, fd);
    }
    if (n != (long) FILE_MIB * MIB) {
      throw new IllegalStateException("short write: " + n);
    }
    return n;
  }

  /**
   * {@value #FILE_MIB} MiB of {@code FileChannel.write} to a new file, then {@code force(true)}.
   */
  @Benchmark
  public long fileChannelWriteForce(Plain p) throws IOException {
    long n = 0;
    try (FileChannel ch =
        FileChannel.open(p.file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      for (int i = 0; i < FILE_MIB / CHUNK_MIB; i++) {
        ByteBuffer b = p.src.clear();
        while (b.hasRemaining()) {
          n += ch.write(b);
        }
      }
      ch.force(true);
    }
    return n;
  }

  /** Files per {@link #smallFileCreateFsync} invocation. */
  static final int SMALL_FILES = 64;

  /** {@value #SMALL_FILES} × (create, write 4 KiB, {@code fsync}, close, unlink); time per file. */
  @Benchmark
  @OperationsPerInvocation(SMALL_FILES)
  public long smallFileCreateFsync(Flat f) {
    long n = 0;
    for (int i = 0; i < SMALL_FILES; i++) {
      String path = "/mnt/s" + i;
      int fd = f.vfs.open(f.task, path, Fcntl.O_WRONLY | Fcntl.O_CREAT, 0644);
      try {
        n += f.vfs.write(f.task, fd, f.buf, 4096);
        f.vfs.fsync(f.task, fd);
      } finally {
        f.vfs.close(f.task, fd);
      }
      f.vfs.unlink(path);
    }
    return n;
  }

  /**
   * The cost of one journal commit: a metadata-only change (the size of a sparse file flipped
   * between 0 and 4 KiB by {@code ftruncate}, no data block) made durable by {@code fsync}. On ext4
   * that is {@code jbd2_journal_commit_transaction()}: the inode's table block logged behind a
   * descriptor, then a commit block with {@code REQ_PREFLUSH | REQ_FUA}.
   */
  @Benchmark
  @OperationsPerInvocation(SMALL_FILES)
  public long metadataFsync(Flat f) {
    int fd = f.vfs.open(f.task, "/mnt/m", Fcntl.O_WRONLY | Fcntl.O_CREAT, 0644);
    long n = 0;
    try {
      for (int i = 0; i < SMALL_FILES; i++) {
        long size = (i & 1) == 0 ? 4096 : 0;
        f.vfs.ftruncate(f.task, fd, size);
        f.vfs.fsync(f.task, fd);
        n += size;
      }
    } finally {
      f.vfs.close(f.task, fd);
    }
    return n;
  }

  /** The host's baseline for {@link #metadataFsync}: one 4 KiB {@code write} + {@code force}. */
  @Benchmark
  @OperationsPerInvocation(SMALL_FILES)
  public long fileChannelBlockForce(Plain p) throws IOException {
    long n = 0;
    try (FileChannel ch =
        FileChannel.open(p.file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      ByteBuffer b = p.src.duplicate().limit(4096);
      for (int i = 0; i < SMALL_FILES; i++) {
        b.rewind();
        n += ch.write(b, 0);
        ch.force(true);
      }
    }
    return n;
  }

  /** The size of the file {@link #reflinkClone} clones. */
  static final int CLONE_MIB = 1024;

  /**
   * An xfs with a {@value #CLONE_MIB} MiB file written and fsync'd once per trial. Until the type
   * supports {@code FICLONE} (a probe answers {@code EOPNOTSUPP}) nothing is written and {@link
   * #reflinkClone} measures nothing (returns -1).
   */
  @State(Scope.Thread)
  public static class Reflink {
    Path dir;
    VirtualMemory vm;
    PhysicalMemory mem;
    Vfs vfs;
    FileDisk disk;
    Task task;
    long buf;
    boolean supported;
    int src;
    int clones;

    @Setup(Level.Trial)
    public void boot() throws IOException {
      dir = Files.createTempDirectory("refkern-jmh-reflink");
      vm = VirtualMemory.boot(BootParams.parse("mem=2G zone_device=0"), dir.resolve("k"), true);
      mem = vm.physicalMemory();
      vfs = new Vfs(vm);
      vfs.mkdir("/mnt", 0755);
      long bytes = (CLONE_MIB + 96L) * MIB;
      disk =
          FileDisk.create(
              mem, dir.resolve("xfs.img"), bytes / Bio.SECTOR_SIZE, Flat.opts().name("xfs0"));
      vfs.registerBlockDevice("/dev/xfs0", disk);
      vfs.mount("xfs", "/dev/xfs0", "/mnt", "mkfs");
      task = vm.createTask("reflink_bench");
      buf = task.mmapAnon(CHUNK_MIB * MIB);
      byte[] data = new byte[CHUNK_MIB * MIB];
      new Random(42).nextBytes(data);
      task.store(buf, data, 0, data.length);
      src = vfs.open(task, "/mnt/src", Fcntl.O_RDWR | Fcntl.O_CREAT, 0644);
      supported = probe();
      if (supported) {
        for (int i = 0; i < CLONE_MIB / CHUNK_MIB; i++) {
          vfs.write(task, src, buf, (long) CHUNK_MIB * MIB);
        }
        vfs.fsync(task, src);
      }
    }

    /** Whether FICLONE works here: one 4 KiB file cloned, both unlinked. */
    private boolean probe() {
      int in = vfs.open(task, "/mnt/probe-src", Fcntl.O_RDWR | Fcntl.O_CREAT, 0644);
      int out = vfs.open(task, "/mnt/probe", Fcntl.O_RDWR | Fcntl.O_CREAT, 0644);
      try {
        vfs.write(task, in, buf, 4096);
        vfs.fsync(task, in);
        vfs.ficlone(task, in, out);
        return true;
      } catch (dev.refkern.mm.KernelException e) {
        if (e.errno() != dev.refkern.mm.Errno.EOPNOTSUPP) {
          throw e;
        }
        System.err.println("reflinkClone: xfs answers EOPNOTSUPP, nothing measured");
        return false;
      } finally {
        vfs.close(task, out);
        vfs.close(task, in);
        vfs.unlink("/mnt/probe");
        vfs.unlink("/mnt/probe-src");
      }
    }

    @TearDown(Level.Trial)
    public void shutdown() throws IOException {
      try {
        vfs.close(task, src);
        vfs.exitFiles(task);
        vfs.shutdown();
        disk.close();
        task.exit();
        vm.lru().lruAddDrainAll();
        List<String> problems = mem.debugVm().checkNoPinsHeld();
        if (!problems.isEmpty()) {
          throw new IllegalStateException("debug_vm: " + problems);
        }
      } finally {
        mem.close();
        FileTrees.deleteTree(dir);
      }
    }
  }

  /**
   * {@code FICLONE} of the {@value #CLONE_MIB} MiB file into a fresh file, then the clone unlinked:
   * the cost of sharing every extent ({@code xfs_reflink_remap_blocks()}) and of dropping the
   * shares again. Read as ms per clone.
   */
  @Benchmark
  public long reflinkClone(Reflink r) {
    if (!r.supported) {
      return -1;
    }
    String path = "/mnt/clone" + (r.clones++);
    int fd = r.vfs.open(r.task, path, Fcntl.O_RDWR | Fcntl.O_CREAT, 0644);
    try {
      r.vfs.ficlone(r.task, r.src, fd);
      r.vfs.fsync(r.task, fd);
    } finally {
      r.vfs.close(r.task, fd);
    }
    r.vfs.unlink(path);
    return r.clones;
  }
}
