package dev.refkern.fs.flat;

import static dev.refkern.fs.Fcntl.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.fs.FileSystems;
import dev.refkern.fs.Vfs;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;

/**
 * An fsx-like run on flatfs (after {@code ltp/fsx.c}): random buffered and {@code O_DIRECT} reads
 * and writes, truncates and fsyncs on one file through two descriptors, every read checked against
 * an in-memory model; the kernel ends with no pin held.
 */
class FlatFsDirectIoFsxTest {
  private static final int MAX = 32 << 10; // stays inside one 64 KiB extent

  enum Kind {
    WRITE,
    READ,
    DIO_WRITE,
    DIO_READ,
    TRUNCATE_GROW,
    FSYNC
  }

  record Op(Kind kind, int off, int len, int seed) {}

  @Provide
  Arbitrary<List<Op>> ops() {
    Arbitrary<Op> op =
        Combinators.combine(
                Arbitraries.of(Kind.class),
                Arbitraries.integers().between(0, MAX - 1),
                Arbitraries.integers().between(1, 3 * 4096),
                Arbitraries.integers().between(0, 255))
            .as(Op::new);
    return op.list().ofMinSize(1).ofMaxSize(25);
  }

  @Property(tries = 8, shrinking = ShrinkingMode.BOUNDED)
  void bufferedAndDirectIoAgreeWithTheModel(@ForAll("ops") List<Op> ops) throws IOException {
    Path dir = Files.createTempDirectory("fsx");
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir.resolve("k"), false);
    PhysicalMemory mem = vm.physicalMemory();
    FileDisk disk =
        FileDisk.create(mem, dir.resolve("img"), (1 << 20) / 512, DiskOptions.defaults());
    Vfs vfs = new Vfs(vm, FileSystems.standard(), "tmpfs", "");
    Task t = vm.createTask("fsx");
    try {
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/flat0", disk);
      vfs.mount("flatfs", "/dev/flat0", "/mnt", "mkfs,extent=64k");
      int fd = vfs.open(t, "/mnt/f", O_RDWR | O_CREAT, 0644);
      int dfd = vfs.open(t, "/mnt/f", O_RDWR | O_DIRECT, 0);
      long buf = t.mmapAnon(4 * 4096);
      byte[] model = new byte[MAX + 4 * 4096];
      int size = 0;
      for (Op op : ops) {
        boolean direct = op.kind() == Kind.DIO_WRITE || op.kind() == Kind.DIO_READ;
        int off = direct ? op.off() & ~511 : op.off();
        int len = direct ? Math.max(512, op.len() & ~511) : op.len();
        switch (op.kind()) {
          case WRITE, DIO_WRITE -> {
            byte[] data = new byte[len];
            for (int i = 0; i < len; i++) {
              data[i] = (byte) (op.seed() + i * 31 + (i >> 9));
            }
            t.store(buf, data, 0, len);
            assertEquals(len, vfs.pwrite(t, direct ? dfd : fd, buf, len, off), op.toString());
            System.arraycopy(data, 0, model, off, len);
            size = Math.max(size, off + len);
          }
          case READ, DIO_READ -> {
            long n = vfs.pread(t, direct ? dfd : fd, buf, len, off);
            int expect = Math.max(0, Math.min(len, size - off));
            assertEquals(expect, n, op + " at size " + size);
            byte[] got = new byte[expect];
            t.load(buf, got, 0, expect);
            assertArrayEquals(
                Arrays.copyOfRange(model, off, off + expect), got, op + " at size " + size);
          }
          case TRUNCATE_GROW -> {
            int to = Math.max(size, off);
            vfs.ftruncate(t, fd, to);
            size = to;
          }
          case FSYNC -> vfs.fsync(t, fd);
        }
      }
      vfs.close(t, dfd);
      vfs.close(t, fd);
    } finally {
      vfs.shutdown();
      t.exit();
      disk.close();
      List<String> pins = mem.debugVm().checkNoPinsHeld();
      mem.close();
      try (Stream<Path> s = Files.walk(dir)) {
        s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
      assertTrue(pins.isEmpty(), pins.toString());
    }
  }
}
