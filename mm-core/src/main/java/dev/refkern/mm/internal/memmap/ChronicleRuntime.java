package dev.refkern.mm.internal.memmap;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ResolvedModule;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import net.openhft.chronicle.map.ChronicleMap;

/**
 * The JVM under the memmap's Chronicle Map ({@code struct page} storage): what mm-core sets before
 * Chronicle is first touched, and the check that the launch gave Chronicle its opens and exports.
 *
 * <p>Internal; not exported.
 */
final class ChronicleRuntime {
  static final String README = "see README: Using refkern as a library";
  static final String MODULE_PATH_ARGS = "META-INF/refkern/jvm-modulepath.args";
  static final String CLASS_PATH_ARGS = "META-INF/refkern/jvm-classpath.args";

  private static volatile String missingFlag;

  private ChronicleRuntime() {}

  /** Runs once, before any Chronicle class initialises. */
  static void configure() {
    // No telemetry (the machines have no network), no banner, no disk-monitor thread.
    setIfAbsent("chronicle.analytics.disable", "true");
    setIfAbsent("chronicle.announcer.disable", "true");
    setIfAbsent("chronicle.disk.monitor.disable", "true");
    // JNA (under Chronicle's affinity/posix) would otherwise create ~/.cache/JNA/temp.
    setIfAbsent("jna.tmpdir", System.getProperty("java.io.tmpdir"));
    exposeToRuntimeCompiler();
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null && value != null) {
      System.setProperty(key, value);
    }
  }

  /**
   * Chronicle Map generates a class at run time (its global mutable state, through Chronicle
   * Values) with a javac that reads only {@code java.class.path}. On the module path that lacks
   * Chronicle's own jars; JDK 17's javac let the missing annotation types pass, JDK 25's fails
   * ("class file for org.jetbrains.annotations.NotNull not found"). So on the module path the jars
   * of the resolved Chronicle modules are added to what that compiler sees.
   */
  private static void exposeToRuntimeCompiler() {
    Module chronicle = ChronicleMap.class.getModule();
    if (!chronicle.isNamed() || chronicle.getLayer() == null) {
      return; // class path: javac sees the same jars as the JVM
    }
    StringBuilder cp = new StringBuilder(System.getProperty("java.class.path", ""));
    List<String> have = Arrays.asList(cp.toString().split(File.pathSeparator));
    for (ResolvedModule m : chronicle.getLayer().configuration().modules()) {
      String name = m.name();
      if (!name.startsWith("chronicle.") && !name.equals("org.jetbrains.annotations")) {
        continue;
      }
      Optional<String> jar =
          m.reference()
              .location()
              .filter(u -> "file".equals(u.getScheme()))
              .map(u -> Path.of(u))
              .map(Path::toString);
      if (jar.isPresent() && !have.contains(jar.get())) {
        if (cp.length() > 0) {
          cp.append(File.pathSeparator);
        }
        cp.append(jar.get());
      }
    }
    System.setProperty("java.class.path", cp.toString());
  }

  /**
   * Fails with {@code EPERM} when the JVM was started without one of Chronicle's {@code
   * --add-opens}/{@code --add-exports}: the module system then denies the access, which Chronicle
   * would otherwise report much later as an obscure error.
   */
  static void requireJvmFlags() {
    String missing = missingFlag;
    if (missing == null) {
      Module chronicle = ChronicleMap.class.getModule();
      missing =
          firstMissing(
              requiredLine(readArgs(chronicle.isNamed() ? MODULE_PATH_ARGS : CLASS_PATH_ARGS)));
      missingFlag = missing;
    }
    if (!missing.isEmpty()) {
      throw new KernelException(Errno.EPERM, "JVM flag missing: " + missing + " (" + README + ")");
    }
  }

  /**
   * The argfile's first line: Chronicle's flags, which a kernel cannot boot without. The next line
   * holds the simulator's, which only make simulations faster (continuations instead of parked
   * threads) and so are not required.
   */
  static String requiredLine(String argfile) {
    for (String line : argfile.split("\\R")) {
      if (!line.isBlank()) {
        return line;
      }
    }
    return "";
  }

  /** The first flag of {@code args} that this JVM does not have, or "". */
  static String firstMissing(String args) {
    ModuleLayer boot = ModuleLayer.boot();
    Module chronicle = ChronicleMap.class.getModule();
    ModuleLayer layer = chronicle.getLayer() != null ? chronicle.getLayer() : boot;
    Module unnamed = ClassLoader.getSystemClassLoader().getUnnamedModule();
    for (String flag : args.trim().split("\\s+")) {
      boolean opens = flag.startsWith("--add-opens=");
      if (!opens && !flag.startsWith("--add-exports=")) {
        continue;
      }
      String spec = flag.substring(flag.indexOf('=') + 1); // module/package=target,target
      int slash = spec.indexOf('/');
      int eq = spec.indexOf('=');
      Optional<Module> source = boot.findModule(spec.substring(0, slash));
      if (source.isEmpty()) {
        continue; // e.g. jdk.compiler not resolved: nothing of Chronicle's that needs it runs
      }
      String pkg = spec.substring(slash + 1, eq);
      List<String> targets = new java.util.ArrayList<>(List.of(spec.substring(eq + 1).split(",")));
      if (targets.remove("ALL-UNNAMED")) {
        targets.add("ALL-UNNAMED"); // name Chronicle's own module first where it is one
      }
      for (String target : targets) {
        Optional<Module> to =
            target.equals("ALL-UNNAMED") ? Optional.of(unnamed) : layer.findModule(target);
        if (to.isEmpty()) {
          continue; // a Chronicle module this launch does not resolve
        }
        boolean granted =
            opens ? source.get().isOpen(pkg, to.get()) : source.get().isExported(pkg, to.get());
        if (!granted) {
          return flag.substring(0, flag.indexOf('=') + 1)
              + spec.substring(0, eq)
              + "="
              + (to.get().isNamed() ? to.get().getName() : "ALL-UNNAMED");
        }
      }
    }
    return "";
  }

  static String readArgs(String resource) {
    try (InputStream in = ChronicleRuntime.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new KernelException(Errno.ENOENT, resource + " is missing from refkern-mm-core");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new KernelException(Errno.EIO, "cannot read " + resource + ": " + e);
    }
  }
}
