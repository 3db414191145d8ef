package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each filesystem plugin is found by {@code ServiceLoader} from its jar alone: a JVM whose module
 * path holds the framework (notifier, mm-core, block, vfs and their third-party jars), ONE plugin
 * jar and a probe module compiled here (it requires {@code dev.refkern.fs} only) mkfs-mounts the
 * plugin's type on a file disk, writes and reads a file, and finds no other plugin's type.
 */
class PluginDiscoveryIT {
  private static final List<String> PLUGINS = List.of("ext4", "xfs", "flatfs");

  @TempDir Path tmp;

  private static final String MODULE_INFO =
      "module refkern.probe { requires dev.refkern.fs; uses dev.refkern.fs.spi.FileSystemType; }";

  private static final String MAIN =
      """
      package probe;

      import dev.refkern.block.DiskOptions;
      import dev.refkern.block.FileDisk;
      import dev.refkern.fs.Fcntl;
      import dev.refkern.fs.Vfs;
      import dev.refkern.fs.spi.FileSystemType;
      import dev.refkern.mm.BootParams;
      import dev.refkern.mm.KernelException;
      import dev.refkern.mm.vm.Task;
      import dev.refkern.mm.vm.VirtualMemory;
      import java.nio.file.Path;
      import java.util.ServiceLoader;

      public class Main {
        public static void main(String[] args) {
          Path dir = Path.of(args[0]);
          StringBuilder found = new StringBuilder();
          ServiceLoader.load(FileSystemType.class).stream()
              .map(p -> p.get().name()).sorted().forEach(n -> found.append(' ').append(n));
          System.out.println("found" + found);
          VirtualMemory vm =
              VirtualMemory.boot(BootParams.parse("mem=64M zone_device=0"), dir.resolve("k"), false);
          for (int i = 1; i < args.length; i++) {
            String type = args[i];
            FileDisk disk = FileDisk.create(
                vm.physicalMemory(), dir.resolve(type + ".img"), (16L << 20) / 512,
                DiskOptions.defaults().name("p" + i));
            Vfs vfs = new Vfs(vm);
            Task task = vm.createTask("probe");
            try {
              vfs.mkdir("/mnt", 0755);
              vfs.registerBlockDevice("/dev/p", disk);
              vfs.mount(type, "/dev/p", "/mnt", "mkfs");
              long buf = task.mmapAnon(8192);
              byte[] data = ("hello from " + type).getBytes();
              task.store(buf, data, 0, data.length);
              int fd = vfs.open(task, "/mnt/f", Fcntl.O_RDWR | Fcntl.O_CREAT, 0644);
              vfs.pwrite(task, fd, buf, data.length, 0);
              vfs.fsync(task, fd);
              long n = vfs.pread(task, fd, buf + 4096, data.length, 0);
              byte[] got = new byte[(int) n];
              task.load(buf + 4096, got, 0, got.length);
              vfs.close(task, fd);
              vfs.umount("/mnt");
              System.out.println("mounted " + type + " read " + new String(got));
            } catch (KernelException e) {
              System.out.println("mount " + type + " " + e.errno());
            } finally {
              vfs.shutdown();
              task.exit();
              disk.close();
            }
          }
          vm.physicalMemory().close();
        }
      }
      """;

  @Test
  void eachPluginIsFoundFromItsJarAlone() throws Exception {
    Path target = Path.of(System.getProperty("refkern.launcher.dir", "target"));
    List<Path> framework = new ArrayList<>();
    List<Path> plugins = new ArrayList<>();
    try (Stream<Path> s = Files.list(target.resolve("lib"))) {
      for (Path jar : s.sorted().toList()) {
        String n = jar.getFileName().toString();
        if (PLUGINS.stream().anyMatch(p -> n.startsWith("refkern-" + p + "-"))) {
          plugins.add(jar);
        } else {
          framework.add(jar);
        }
      }
    }
    assertEquals(3, plugins.size(), "plugin jars in " + target.resolve("lib") + ": " + plugins);
    Path probe = compileProbe(framework);
    for (String plugin : List.of("ext4", "xfs")) {
      Path jar =
          plugins.stream()
              .filter(p -> p.getFileName().toString().startsWith("refkern-" + plugin + "-"))
              .findFirst()
              .orElseThrow();
      String other = plugin.equals("ext4") ? "xfs" : "ext4";
      List<String> mp = new ArrayList<>();
      framework.forEach(p -> mp.add(p.toString()));
      mp.add(jar.toString());
      mp.add(probe.toString());
      Path work = Files.createDirectories(tmp.resolve("run-" + plugin));
      String out = run(target, String.join(File.pathSeparator, mp), work, plugin, other);
      assertTrue(out.contains("found") && out.lines().anyMatch(l -> l.startsWith("found ")), out);
      String found = out.lines().filter(l -> l.startsWith("found ")).findFirst().orElseThrow();
      assertTrue((found + " ").contains(" " + plugin + " "), found);
      assertFalse((found + " ").contains(" " + other + " "), found);
      assertTrue(out.contains("mounted " + plugin + " read hello from " + plugin), out);
      // unknown type: the VFS answers EINVAL where mount(2) says ENODEV (FileSystems.get)
      assertTrue(
          out.contains("mount " + other + " ENODEV") || out.contains("mount " + other + " EINVAL"),
          out);
    }
  }

  private Path compileProbe(List<Path> framework) throws Exception {
    Path src = Files.createDirectories(tmp.resolve("src/probe"));
    Files.writeString(tmp.resolve("src/module-info.java"), MODULE_INFO);
    Files.writeString(src.resolve("Main.java"), MAIN);
    Path out = Files.createDirectories(tmp.resolve("probe-classes"));
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    List<String> args = new ArrayList<>();
    args.addAll(List.of("-d", out.toString(), "--module-path"));
    args.add(String.join(File.pathSeparator, framework.stream().map(Path::toString).toList()));
    args.add(tmp.resolve("src/module-info.java").toString());
    args.add(src.resolve("Main.java").toString());
    assertEquals(0, javac.run(null, null, null, args.toArray(String[]::new)), "javac of the probe");
    return out;
  }

  private String run(Path target, String modulePath, Path work, String... types) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    for (String a : Files.readString(target.resolve("launcher/jvm.args")).trim().split("\\s+")) {
      cmd.add(a);
    }
    cmd.addAll(List.of("--module-path", modulePath, "-m", "refkern.probe/probe.Main"));
    cmd.add(work.toString());
    cmd.addAll(List.of(types));
    Path log = work.resolve("out.txt");
    Process p =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    p.getOutputStream().close();
    boolean done = p.waitFor(180, TimeUnit.SECONDS);
    if (!done) {
      p.destroyForcibly();
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertTrue(done, "timed out: " + out);
    assertEquals(0, p.exitValue(), out);
    return out;
  }
}
