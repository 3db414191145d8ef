package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.DiskOptions;
import dev.refkern.block.FileDisk;
import dev.refkern.fs.Fcntl;
import dev.refkern.fs.Vfs;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code refkern fs} run the way {@code ./refkern} runs it (the packaged jar on the module path, in
 * a separate process): {@code mkfs}, {@code ls}, {@code cat}, {@code check} of a flatfs image, and
 * a bad image's one-line error and exit status.
 */
class FsCommandIT {
  @TempDir Path tmp;

  private record Result(int exit, String out, String err) {}

  private Result run(String... args) throws Exception {
    Path target = Path.of(System.getProperty("refkern.launcher.dir", "target"));
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    for (String a : Files.readString(target.resolve("launcher/jvm.args")).trim().split("\\s+")) {
      cmd.add(a);
    }
    cmd.add("-Djava.util.logging.config.file=" + target.resolve("launcher/logging.properties"));
    cmd.add("--module-path");
    cmd.add(target.resolve("lib") + File.pathSeparator + target.resolve("refkern-examples.jar"));
    cmd.addAll(List.of("--add-modules", "ALL-MODULE-PATH"));
    cmd.addAll(List.of("-m", "dev.refkern.examples/dev.refkern.examples.cli.Main"));
    cmd.addAll(List.of(args));
    Path err = Files.createTempFile(tmp, "err", ".txt");
    Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + String.join(" ", args));
    return new Result(p.exitValue(), out, withoutJvmWarnings(Files.readString(err)));
  }

  /**
   * Drops what the JVM itself prints on stderr (JDK 24+ warns about jffi's native access and {@code
   * sun.misc.Unsafe}), keeping refkern's own lines.
   */
  private static String withoutJvmWarnings(String err) {
    StringBuilder b = new StringBuilder();
    for (String line : err.split("\n", -1)) {
      if (!line.startsWith("WARNING: ") && !line.isEmpty()) {
        b.append(line).append('\n');
      }
    }
    return b.toString();
  }

  /** Writes {@code data} as {@code name} (mode 0640) into the flatfs on {@code img}, in-process. */
  private void put(Path img, String name, byte[] data) {
    VirtualMemory vm =
        VirtualMemory.boot(BootParams.parse("mem=64M zone_device=0"), tmp.resolve("k"), true);
    try {
      FileDisk disk = FileDisk.open(vm.physicalMemory(), img, DiskOptions.defaults());
      Vfs vfs = new Vfs(vm);
      vfs.mkdir("/mnt", 0755);
      vfs.registerBlockDevice("/dev/f", disk);
      vfs.mount("flatfs", "/dev/f", "/mnt", "");
      Task t = vm.createTask("put");
      long buf = t.mmapAnon(4096);
      t.store(buf, data, 0, data.length);
      int fd = vfs.open(t, "/mnt/" + name, Fcntl.O_WRONLY | Fcntl.O_CREAT, 0640);
      assertEquals(data.length, vfs.write(t, fd, buf, data.length));
      vfs.close(t, fd);
      t.exit();
      vfs.shutdown(); // umount: data, then the inode table
      disk.close();
    } finally {
      vm.physicalMemory().close();
    }
  }

  @Test
  void mkfsThenLsCatAndCheckAnImageWithoutChangingIt() throws Exception {
    Path img = tmp.resolve("a.img");
    Result types = run("fs", "types");
    assertEquals(0, types.exit(), types.err());
    assertEquals("\text4\n\tflatfs\nnodev\ttmpfs\n\txfs\n", types.out());

    Result mkfs = run("fs", "mkfs", "-t", "flatfs", img.toString(), "1M");
    assertEquals(0, mkfs.exit(), mkfs.err());
    assertEquals(1 << 20, Files.size(img));
    Result empty = run("fs", "ls", img.toString());
    assertEquals(0, empty.exit(), empty.err());
    assertEquals("", empty.out(), "a fresh filesystem is empty");

    put(img, "greeting", "hello, flatfs\n".getBytes(StandardCharsets.US_ASCII));
    byte[] before = Files.readAllBytes(img);

    Result ls = run("fs", "ls", img.toString());
    assertEquals(0, ls.exit(), ls.err());
    assertEquals("-rw-r-----         14 greeting\n", ls.out());
    Result cat = run("fs", "cat", img.toString(), "greeting");
    assertEquals(0, cat.exit(), cat.err());
    assertEquals("hello, flatfs\n", cat.out());
    Result check = run("fs", "check", img.toString());
    assertEquals(0, check.exit(), check.out() + check.err());
    assertEquals(img + ": clean\n", check.out());
    assertArrayEquals(before, Files.readAllBytes(img), "ls and cat mount read-only");

    Result missing = run("fs", "cat", img.toString(), "nope");
    assertEquals(2, missing.exit(), missing.err());
    assertEquals("refkern: ENOENT: no file nope in " + img + "\n", missing.err());
  }

  @Test
  void aBadImageIsOneLineAndItsErrno() throws Exception {
    Path img = tmp.resolve("bad.img");
    byte[] junk = new byte[1 << 20];
    new Random(7).nextBytes(junk);
    Files.write(img, junk);

    Result ls = run("fs", "ls", img.toString());
    assertEquals(22, ls.exit(), ls.err());
    assertEquals("refkern: EINVAL: VFS: Can't find a flatfs filesystem on " + img + "\n", ls.err());
    assertEquals("", ls.out());

    Result check = run("fs", "check", img.toString());
    assertEquals(4, check.exit(), "problems left, as e2fsck: " + check.out() + check.err());
    assertTrue(check.out().startsWith(img + ": "), check.out());
    assertEquals("", check.err());

    Result size = run("fs", "mkfs", "-t", "flatfs", tmp.resolve("b.img").toString(), "12x");
    assertEquals(22, size.exit(), size.err());
    assertEquals("refkern: EINVAL: SIZE '12x' is not a size (N[kMG])\n", size.err());
    assertFalse(Files.exists(tmp.resolve("b.img")));
  }
}
