package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code refkern mkfs -t ext4} and {@code refkern fsck} run as {@code ./refkern} runs them (the
 * packaged jar in a separate process): a clean image, a corrupted one and a missing one, with
 * e2fsck's exit codes and one-line errors.
 */
class Ext4CliIT {
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

  @Test
  void mkfsExt4ThenFsckCleanThenCorruptedThenMissing() throws Exception {
    Path img = tmp.resolve("e.img");
    Result mkfs = run("mkfs", "-t", "ext4", img.toString(), "8M");
    assertEquals(0, mkfs.exit(), mkfs.err());
    assertEquals("mkfs.ext4: " + img + ", 8388608 bytes, 4096-byte blocks\n", mkfs.out());
    assertEquals(8 << 20, Files.size(img));

    Result clean = run("fsck", img.toString());
    assertEquals(0, clean.exit(), clean.err());
    assertEquals(img + ": clean\n", clean.out());
    assertEquals("", clean.err());

    try (var ch = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap(new byte[] {(byte) 0xff}), 2L * 4096 + 100); // bitmap
    }
    Result bad = run("fsck", img.toString());
    assertEquals(4, bad.exit(), "errors left uncorrected: " + bad.err());
    assertTrue(bad.out().contains("is used in the block bitmap but owned by no inode"), bad.out());
    assertEquals("", bad.err());

    Result none = run("fsck", tmp.resolve("none.img").toString());
    assertEquals(8, none.exit(), "operational error");
    assertEquals("refkern: fsck: ENOENT: no image " + tmp.resolve("none.img") + "\n", none.err());

    Result tooSmall = run("mkfs", "-t", "ext4", tmp.resolve("s.img").toString(), "8k");
    assertEquals(28, tooSmall.exit(), "ENOSPC: " + tooSmall.err());
    assertFalse(Files.exists(tmp.resolve("s.img")), "no half-made image");
    assertEquals(1, tooSmall.err().lines().count(), tooSmall.err());
  }
}
