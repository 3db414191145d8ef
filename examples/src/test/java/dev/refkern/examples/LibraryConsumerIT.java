package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipFile;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A library consumer that follows only the README's "Using refkern as a library": a tiny program is
 * compiled against what Maven gives a user of {@code refkern-block} ({@code
 * block/target/consumer-lib}: no Dagger, no jakarta.inject, no Chronicle telemetry), then run in a
 * child JVM with nothing but the argfile from the mm-core jar, on the module path and on the class
 * path. It boots a kernel, pins a page and exits 0, and the home directory stays empty.
 */
class LibraryConsumerIT {
  private static final String MAIN =
      """
      package consumer;

      import dev.refkern.block.Kernel;
      import dev.refkern.mm.vm.Foll;
      import dev.refkern.mm.vm.Task;
      import java.nio.file.Path;

      public class Main {
        public static void main(String[] args) {
          try (Kernel k = Kernel.boot("mem=64M", Path.of(args[0]))) {
            Task t = k.vm().createTask("app");
            long buf = t.mmapAnon(4096);
            t.storeLong(buf, 42);
            long[] pages = new long[1];
            long n = k.gup().pinUserPagesFast(t, buf, 1, Foll.FOLL_WRITE | Foll.FOLL_LONGTERM, pages);
            System.out.println("pinned " + n + " page(s), pfn " + pages[0]);
            k.gup().unpinUserPagesDirtyLock(pages, (int) n, true);
            t.exit();
          }
        }
      }
      """;

  @TempDir Path tmp;

  private static List<Path> libraryJars() throws IOException {
    Path block = Path.of(System.getProperty("refkern.block.target", "../block/target"));
    List<Path> jars;
    try (Stream<Path> s = Files.list(block.resolve("consumer-lib"))) {
      jars = s.sorted().collect(Collectors.toCollection(ArrayList::new));
    }
    try (Stream<Path> s = Files.list(block)) {
      s.filter(p -> p.getFileName().toString().matches("refkern-block-[^-]+(-SNAPSHOT)?\\.jar"))
          .forEach(jars::add);
    }
    assertTrue(jars.stream().anyMatch(p -> p.toString().contains("refkern-block")), "" + jars);
    return jars;
  }

  /** {@code unzip -p refkern-mm-core-*.jar META-INF/refkern/NAME > out}, as the README says. */
  private static Path extractArgfile(List<Path> jars, String name, Path out) throws IOException {
    Path mmCore =
        jars.stream()
            .filter(p -> p.getFileName().toString().startsWith("refkern-mm-core-"))
            .findFirst()
            .orElseThrow();
    try (ZipFile zip = new ZipFile(mmCore.toFile());
        InputStream in = zip.getInputStream(zip.getEntry("META-INF/refkern/" + name))) {
      Files.write(out, in.readAllBytes());
    }
    return out;
  }

  private static String path(List<Path> jars, Path... more) {
    List<String> all = new ArrayList<>();
    jars.forEach(p -> all.add(p.toString()));
    for (Path p : more) {
      all.add(p.toString());
    }
    return String.join(File.pathSeparator, all);
  }

  private Path compile(boolean modular, List<Path> jars) throws IOException {
    Path src = tmp.resolve(modular ? "src-mp" : "src-cp");
    Path out = tmp.resolve(modular ? "out-mp" : "out-cp");
    Files.createDirectories(src.resolve("consumer"));
    Files.writeString(src.resolve("consumer/Main.java"), MAIN);
    List<String> args = new ArrayList<>(List.of("-d", out.toString()));
    if (modular) {
      Files.writeString(
          src.resolve("module-info.java"), "module consumer { requires dev.refkern.block; }\n");
      args.addAll(List.of("--module-path", path(jars), src.resolve("module-info.java").toString()));
    } else {
      args.addAll(List.of("-cp", path(jars)));
    }
    args.add(src.resolve("consumer/Main.java").toString());
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertEquals(0, javac.run(null, null, null, args.toArray(String[]::new)), "javac " + args);
    return out;
  }

  private record Result(int exit, String out) {}

  /**
   * Runs {@code java [argfile] (--module-path ... -m | -cp ...) consumer.Main STATE} with HOME
   * pointing at an empty directory. {@code user.home} is set too only because the JVM takes it from
   * the password database, not from HOME: it is how this test observes the home directory, not a
   * flag a user needs.
   */
  private Result run(boolean modular, Path argfile, List<Path> jars, Path out, Path home)
      throws Exception {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd = new ArrayList<>(List.of(java));
    if (argfile != null) {
      cmd.add("@" + argfile);
    }
    cmd.add("-Duser.home=" + home);
    if (modular) {
      cmd.addAll(List.of("--module-path", path(jars, out), "-m", "consumer/consumer.Main"));
    } else {
      cmd.addAll(List.of("-cp", path(jars, out), "consumer.Main"));
    }
    cmd.add(tmp.resolve(modular ? "state-mp" : "state-cp").toString());
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("HOME", home.toString());
    Process p = pb.start();
    p.getOutputStream().close();
    String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), text);
    return new Result(p.exitValue(), String.join(" ", cmd) + "\n" + text);
  }

  private void bootsAndPins(boolean modular, String argfileName) throws Exception {
    List<Path> jars = libraryJars();
    assertFalse(
        jars.stream()
            .map(p -> p.getFileName().toString())
            .anyMatch(n -> n.startsWith("dagger") || n.startsWith("jakarta.inject")),
        "Dagger is not a library user's dependency: " + jars);
    Path home = Files.createDirectories(tmp.resolve("home"));
    Path argfile = extractArgfile(jars, argfileName, tmp.resolve(argfileName));
    Result r = run(modular, argfile, jars, compile(modular, jars), home);
    assertEquals(0, r.exit(), r.out());
    assertTrue(r.out().contains("pinned 1 page(s)"), r.out());
    assertFalse(r.out().contains("Unknown module"), r.out());
    try (Stream<Path> s = Files.list(home)) {
      assertEquals(List.of(), s.collect(Collectors.toList()), "home must stay empty");
    }
  }

  @Test
  void modulePathWithTheArgfileBootsAndPins() throws Exception {
    bootsAndPins(true, "jvm-modulepath.args");
  }

  @Test
  void classPathWithTheArgfileBootsAndPins() throws Exception {
    bootsAndPins(false, "jvm-classpath.args");
  }

  @Test
  void withoutTheArgfileBootFailsWithEpermNamingTheFlag() throws Exception {
    List<Path> jars = libraryJars();
    Path home = Files.createDirectories(tmp.resolve("home"));
    Result r = run(true, null, jars, compile(true, jars), home);
    assertNotEquals(0, r.exit(), r.out());
    assertTrue(
        r.out()
            .matches(
                "(?s).*EPERM: JVM flag missing: --add-(opens|exports)=[\\w.]+/[\\w.]+=chronicle\\.\\w+"
                    + " \\(see README: Using refkern as a library\\).*"),
        r.out());
  }
}
