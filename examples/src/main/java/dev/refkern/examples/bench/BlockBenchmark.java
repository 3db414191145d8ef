package dev.refkern.examples.bench;

import dev.refkern.block.Bio;
import dev.refkern.block.BioOp;
import dev.refkern.block.DirectIo;
import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.block.NullBlk;
import dev.refkern.block.RamDisk;
import dev.refkern.examples.FileTrees;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.Page;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
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
 * JMH benchmarks of the block layer.
 *
 * <p>Direct I/O, in µs per 1 MiB request ({@code write*}, {@code read*}): {@link DirectIo} from a
 * task's 1 MiB buffer to and from a {@link NullBlk} (pinning and the block layer alone), a {@link
 * RamDisk} and a {@link FileDisk} (write cache on, as a drive's; with and without integrity),
 * cycling through a {@value #REGION_MIB} MiB region; side by side with plain {@link
 * FileChannel#write}/{@link FileChannel#read} of 1 MiB from a direct buffer on a file in the same
 * temporary directory, cycling through the same region (page cache, no {@code force}, like the file
 * disk's write cache). The {@code *Sync} pair adds durability: a {@code FLUSH} after the direct
 * write, {@code force(false)} after the plain one. The goal: the file disk at no less than 0.8 of
 * {@code FileChannel} throughput.
 *
 * <p>Bounce overhead, in ns per 4 KiB page ({@code ramDiskWritePage}): a 64-page write bio to a RAM
 * disk with {@link DiskOptions#bounce(boolean)} on and off, over a 1 MiB region so that both copy
 * cache-hot; the difference is the bounce's cost per page, against {@code copy4k}, a plain {@link
 * System#arraycopy} of 4 KiB, also cache-hot. The goal: the bounce at no more than 1.5 times the
 * plain copy.
 */
@BenchmarkMode(Mode.AverageTime)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class BlockBenchmark {
  static final int MIB = 1 << 20;
  static final int REGION_MIB = 32;
  static final int PAGE = Page.PAGE_SIZE;
  static final int BIO_PAGES = 64;
  static final int BOUNCE_REGION = MIB;

  /** A booted machine with one task and a 1 MiB buffer of random data, in a temporary directory. */
  @State(Scope.Thread)
  public static class Machine {
    Path dir;
    PhysicalMemory mem;
    VirtualMemory vm;
    DirectIo dio;
    Task task;
    long buf;
    final byte[] data = new byte[MIB];
    final List<Closeable> dependents = new ArrayList<>();
    int cursor;

    @Setup(Level.Trial)
    public void boot() throws IOException {
      dir = Files.createTempDirectory("refkern-jmh-block");
      vm =
          VirtualMemory.boot(
              BootParams.parse("mem=256M zone_device=0"), dir.resolve("kernel"), true);
      mem = vm.physicalMemory();
      dio = new DirectIo(vm);
      task = vm.createTask("block_bench");
      buf = task.mmapAnon(MIB);
      new Random(42).nextBytes(data);
      task.store(buf, data, 0, MIB);
    }

    /** The next 1 MiB position, cycling through the region. */
    long next() {
      long pos = (long) cursor * MIB;
      cursor = cursor + 1 == REGION_MIB ? 0 : cursor + 1;
      return pos;
    }

    @TearDown(Level.Trial)
    public void shutdown() throws IOException {
      try {
        // the dependent states' cleanup, here since JMH may tear them down after this one
        for (Closeable c : dependents) {
          c.close();
        }
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

  /** A RAM disk of the region's size. */
  @State(Scope.Thread)
  public static class Ram {
    Machine m;
    RamDisk disk;

    @Setup(Level.Trial)
    public void attach(Machine machine) {
      m = machine;
      disk = new RamDisk(m.mem, (long) REGION_MIB * MIB / Bio.SECTOR_SIZE);
    }
  }

  /** A null device of the region's size: no data moves. */
  @State(Scope.Thread)
  public static class Null {
    Machine m;
    NullBlk disk;

    @Setup(Level.Trial)
    public void attach(Machine machine) {
      m = machine;
      disk = new NullBlk(m.mem, (long) REGION_MIB * MIB / Bio.SECTOR_SIZE);
    }
  }

  /** A file disk of the region's size, its image in the machine's temporary directory. */
  @State(Scope.Thread)
  public static class Disk {
    @Param({"off", "on"})
    public String integrity;

    Machine m;
    FileDisk disk;

    @Setup(Level.Trial)
    public void attach(Machine machine) {
      m = machine;
      disk =
          FileDisk.create(
              m.mem,
              m.dir.resolve("disk0.img"),
              (long) REGION_MIB * MIB / Bio.SECTOR_SIZE,
              DiskOptions.defaults().integrity("on".equals(integrity)));
      m.dependents.add(disk::close);
    }
  }

  /** A plain file of the region's size in the machine's temporary directory. */
  @State(Scope.Thread)
  public static class Channel {
    Machine m;
    FileChannel ch;
    final ByteBuffer src = ByteBuffer.allocateDirect(MIB);

    @Setup(Level.Trial)
    public void open(Machine machine) throws IOException {
      m = machine;
      src.put(m.data).flip();
      ch =
          FileChannel.open(
              m.dir.resolve("plain.img"),
              StandardOpenOption.CREATE,
              StandardOpenOption.READ,
              StandardOpenOption.WRITE);
      ch.write(ByteBuffer.allocate(1), (long) REGION_MIB * MIB - 1);
      m.dependents.add(ch);
    }
  }

  /** A RAM disk with or without bounce buffering, and {@value #BIO_PAGES} kernel pages of data. */
  @State(Scope.Thread)
  public static class Bounce {
    @Param({"off", "on"})
    public String bounce;

    Machine m;
    RamDisk disk;
    final long[] pages = new long[BIO_PAGES];
    long sector;

    @Setup(Level.Trial)
    public void attach(Machine machine) {
      m = machine;
      disk =
          new RamDisk(
              m.mem,
              (long) REGION_MIB * MIB / Bio.SECTOR_SIZE,
              DiskOptions.defaults().bounce("on".equals(bounce)));
      for (int i = 0; i < BIO_PAGES; i++) {
        pages[i] = m.mem.allocator().allocPages(Gfp.KERNEL, 0);
        m.mem.ram().write(pages[i], 0, m.data, i * PAGE, PAGE);
      }
      m.dependents.add(this::release);
    }

    /** The next bio's sector, cycling through the region. */
    long next() {
      long s = sector;
      sector += BIO_PAGES * (PAGE / Bio.SECTOR_SIZE);
      if (sector * Bio.SECTOR_SIZE >= BOUNCE_REGION) {
        sector = 0; // a small region: both runs copy cache-hot, like copy4k
      }
      return s;
    }

    void release() {
      for (long p : pages) {
        m.mem.allocator().putPage(p);
      }
      disk.close();
    }
  }

  /** {@value #BIO_PAGES} source and destination pages for the plain copy. */
  @State(Scope.Thread)
  public static class Copy {
    final byte[][] src = new byte[BIO_PAGES][PAGE];
    final byte[][] dst = new byte[BIO_PAGES][PAGE];

    @Setup(Level.Trial)
    public void fill() {
      Random r = new Random(42);
      for (byte[] s : src) {
        r.nextBytes(s);
      }
    }
  }

  // ---------------------------------------------------------------- (a) 1 MiB writes

  /** {@code O_DIRECT} write of 1 MiB to a RAM disk. */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long writeDioRamDisk(Ram r) {
    return r.m.dio.write(r.m.task, r.disk, r.m.buf, MIB, r.m.next());
  }

  /** {@code O_DIRECT} write of 1 MiB to null_blk: pinning and the block layer, no data moved. */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long writeDioNullBlk(Null n) {
    return n.m.dio.write(n.m.task, n.disk, n.m.buf, MIB, n.m.next());
  }

  /** {@code O_DIRECT} read of 1 MiB from null_blk. */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long readDioNullBlk(Null n) {
    return n.m.dio.read(n.m.task, n.disk, n.m.buf, MIB, n.m.next());
  }

  /** {@code O_DIRECT} write of 1 MiB to a file disk (into its write cache). */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long writeDioFileDisk(Disk d) {
    return d.m.dio.write(d.m.task, d.disk, d.m.buf, MIB, d.m.next());
  }

  /**
   * {@code O_DIRECT | O_DSYNC} write of 1 MiB to a file disk: the write, then a {@code FLUSH} that
   * destages it and forces the image file ({@code fdatasync} on the host).
   */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long writeDioFileDiskSync(Disk d) {
    long n = d.m.dio.write(d.m.task, d.disk, d.m.buf, MIB, d.m.next());
    Bio flush = new Bio(BioOp.FLUSH, 0, 0);
    d.disk.submitBio(flush); // synchronous consumption: done when submitBio returns
    if (flush.status() != 0) {
      throw new IllegalStateException("flush failed: " + flush.status());
    }
    return n;
  }

  /** A plain {@code FileChannel.write} of 1 MiB, then {@code force(false)} ({@code fdatasync}). */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long writeFileChannelSync(Channel c) throws IOException {
    long pos = writeFileChannel(c);
    c.ch.force(false);
    return pos;
  }

  /** A plain {@code FileChannel.write} of 1 MiB (into the page cache). */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long writeFileChannel(Channel c) throws IOException {
    ByteBuffer b = c.src.clear();
    long pos = c.m.next();
    while (b.hasRemaining()) {
      c.ch.write(b, pos + b.position());
    }
    return pos;
  }

  /** {@code O_DIRECT} read of 1 MiB from a RAM disk. */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long readDioRamDisk(Ram r) {
    return r.m.dio.read(r.m.task, r.disk, r.m.buf, MIB, r.m.next());
  }

  /** {@code O_DIRECT} read of 1 MiB from a file disk (file contents under its write cache). */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long readDioFileDisk(Disk d) {
    return d.m.dio.read(d.m.task, d.disk, d.m.buf, MIB, d.m.next());
  }

  /** A plain {@code FileChannel.read} of 1 MiB (from the page cache). */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public long readFileChannel(Channel c) throws IOException {
    ByteBuffer b = c.src.clear();
    long pos = c.m.next();
    while (b.hasRemaining()) {
      if (c.ch.read(b, pos + b.position()) < 0) {
        break;
      }
    }
    return pos;
  }

  // ---------------------------------------------------------------- (b) bounce, per 4 KiB page

  /** A {@value #BIO_PAGES}-page write bio to a RAM disk, per page. */
  @Benchmark
  @OutputTimeUnit(TimeUnit.NANOSECONDS)
  @OperationsPerInvocation(BIO_PAGES)
  public int ramDiskWritePage(Bounce b) {
    Bio bio = new Bio(BioOp.WRITE, b.next(), 0, BIO_PAGES);
    for (long p : b.pages) {
      bio.addPage(p, 0, PAGE);
    }
    b.disk.submitBio(bio);
    if (bio.status() != 0) {
      throw new IllegalStateException("write failed: " + bio.status());
    }
    return bio.status();
  }

  /** A plain 4 KiB {@code System.arraycopy}, per page. */
  @Benchmark
  @OutputTimeUnit(TimeUnit.NANOSECONDS)
  @OperationsPerInvocation(BIO_PAGES)
  public byte[][] copy4k(Copy c) {
    for (int i = 0; i < BIO_PAGES; i++) {
      System.arraycopy(c.src[i], 0, c.dst[i], 0, PAGE);
    }
    return c.dst;
  }
}
