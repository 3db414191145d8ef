package dev.refkern.examples;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.all;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.GeneralCodingRules.ACCESS_STANDARD_STREAMS;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.AbstractClassesTransformer;
import com.tngtech.archunit.lang.ArchCondition;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.lang.ConditionEvents;
import com.tngtech.archunit.lang.SimpleConditionEvent;
import com.tngtech.archunit.library.dependencies.SliceAssignment;
import com.tngtech.archunit.library.dependencies.SliceIdentifier;
import com.tngtech.archunit.library.freeze.FreezingArchRule;
import com.tngtech.archunit.library.freeze.TextFileBasedViolationStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The rules of a module's inside (ARCHITECTURE.md: layering and conventions), checked on the
 * library modules' compiled classes, their {@code module-info} and their sources.
 *
 * <p>notifier, block, hmm-device and the fs-plugins (vfs, flatfs, ext4, xfs) are held to every
 * rule. mm-core's present violations are frozen (ArchUnit's {@link FreezingArchRule}): one file per
 * rule under {@code src/test/archunit_store}, named in {@link #FROZEN}. A new violation fails; a
 * fixed one also fails until its line is removed from the store (run once with {@code
 * -Darchunit.freeze.store.default.allowStoreUpdate=true}), so the lists only shrink. {@code
 * archunit.properties} forbids creating a store on the fly.
 */
class ModuleRulesTest {
  /** A library module: its folder and package root. */
  record Lib(String dir, String root) {
    /** Whether {@code pkg} is this module's: under its root, not under a nested module's root. */
    boolean owns(String pkg) {
      if (!pkg.equals(root) && !pkg.startsWith(root + ".")) {
        return false;
      }
      for (Lib other : LIBS) {
        if (other != this
            && other.root.startsWith(root + ".")
            && (pkg.equals(other.root) || pkg.startsWith(other.root + "."))) {
          return false; // dev.refkern.fs.ext4 is ext4's, not the VFS's
        }
      }
      return true;
    }

    /** The classes of this module. */
    DescribedPredicate<JavaClass> classes() {
      return DescribedPredicate.describe(
          "reside in " + dir, (JavaClass c) -> owns(c.getPackageName()));
    }
  }

  static final Lib NOTIFIER = new Lib("notifier", "dev.refkern.notifier");
  static final Lib MM = new Lib("mm-core", "dev.refkern.mm");
  static final Lib BLOCK = new Lib("block", "dev.refkern.block");
  static final Lib VFS = new Lib("fs-plugins/vfs", "dev.refkern.fs");
  static final Lib FLATFS = new Lib("fs-plugins/flatfs", "dev.refkern.fs.flat");
  static final Lib EXT4 = new Lib("fs-plugins/ext4", "dev.refkern.fs.ext4");
  static final Lib XFS = new Lib("fs-plugins/xfs", "dev.refkern.fs.xfs");
  static final Lib HMM = new Lib("hmm-device", "dev.refkern.hmm");
  static final List<Lib> LIBS = List.of(NOTIFIER, MM, BLOCK, VFS, FLATFS, EXT4, XFS, HMM);

  /**
   * The frozen rules, description to store file: mm-core's present violations, for the lead to fix
   * once the API root is split from its implementation. Drop an entry (and its file) once the file
   * is empty.
   */
  static final Map<String, String> FROZEN =
      Map.of("mm-core: no package cycles", "mm-core-package-cycles.txt");

  /** Types that model no kernel object, each with why. */
  static final Map<String, String> NO_KERNEL_OBJECT =
      Map.of(
          "dev.refkern.mm.vm.MmModule", "Dagger wiring of the composition root, not kernel code");

  private static final Path ROOT = Path.of("").toAbsolutePath().getParent();
  private static JavaClasses classes;

  @BeforeAll
  static void importLibraries() {
    classes =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPaths(
                LIBS.stream().map(l -> ROOT.resolve(l.dir()).resolve("target/classes")).toList());
    for (Lib l : LIBS) {
      assertTrue(classes.containPackage(l.root()), "not imported: " + l.root());
    }
  }

  /** Checks the rule {@code perLib} makes for every library, reporting every library's failure. */
  private static void checkEach(String what, Function<Lib, ArchRule> perLib) {
    assertAll(LIBS.stream().map(lib -> () -> check(lib, perLib.apply(lib), what)));
  }

  /** The rule for {@code lib}, frozen if it is listed in {@link #FROZEN}. */
  private static void check(Lib lib, ArchRule rule, String what) {
    String description = lib.dir() + ": " + what;
    ArchRule named = rule.as(description);
    if (FROZEN.containsKey(description)) {
      named =
          FreezingArchRule.freeze(named)
              .persistIn(new TextFileBasedViolationStore(d -> FROZEN.get(d)));
    }
    named.check(classes);
  }

  // 1. -------------------------------------------------------------------------------------------

  @Test
  void noPackageCyclesInsideAModule() {
    checkEach(
        "no package cycles",
        lib -> slices().assignedFrom(packagesOf(lib)).should().beFreeOfCycles());
  }

  /** Each package of the module is one slice. */
  private static SliceAssignment packagesOf(Lib lib) {
    return new SliceAssignment() {
      @Override
      public SliceIdentifier getIdentifierOf(JavaClass c) {
        String p = c.getPackageName();
        return lib.owns(p) ? SliceIdentifier.of(p) : SliceIdentifier.ignore();
      }

      @Override
      public String getDescription() {
        return "packages of " + lib.dir();
      }
    };
  }

  // 2. -------------------------------------------------------------------------------------------

  /** One package of a module, as its {@code module-info} exports it (or not). */
  record ModulePackage(Lib lib, String name, boolean exported) {
    @Override
    public String toString() {
      return (exported ? "exported " : "unexported ") + name;
    }
  }

  @Test
  void exportedPackagesAreApiOrSpiAndTheRestIsInternal() {
    checkEach(
        "packages are exported api/spi or internal",
        lib -> all(packagesDeclaredBy(lib)).should(beApiSpiOrInternal()));
  }

  @Test
  void anExportedInternalPackageBreaksTheRule() {
    ArchCondition<ModulePackage> c = beApiSpiOrInternal();
    assertTrue(violates(c, new ModulePackage(MM, "dev.refkern.mm.internal.page", true)));
    assertTrue(violates(c, new ModulePackage(MM, "dev.refkern.mm.vm", false)));
    assertTrue(violates(c, new ModulePackage(MM, "dev.refkern.block", true)));
    assertFalse(violates(c, new ModulePackage(MM, "dev.refkern.mm.spi", true)));
    assertFalse(violates(c, new ModulePackage(MM, "dev.refkern.mm.internal.page", false)));
  }

  private static boolean violates(ArchCondition<ModulePackage> c, ModulePackage p) {
    ConditionEvents events = ConditionEvents.Factory.create();
    c.check(p, events);
    return events.containViolation();
  }

  private static AbstractClassesTransformer<ModulePackage> packagesDeclaredBy(Lib lib) {
    return new AbstractClassesTransformer<>("packages of module " + lib.dir()) {
      @Override
      public Iterable<ModulePackage> doTransform(JavaClasses ignored) {
        ModuleDescriptor d = descriptor(lib);
        // a qualified export ("exports ... to friend") is not API: the package stays internal
        Set<String> exported =
            d.exports().stream()
                .filter(e -> !e.isQualified())
                .map(ModuleDescriptor.Exports::source)
                .collect(Collectors.toSet());
        return d.packages().stream()
            .sorted()
            .map(p -> new ModulePackage(lib, p, exported.contains(p)))
            .collect(Collectors.toList());
      }
    };
  }

  private static ModuleDescriptor descriptor(Lib lib) {
    Path out = ROOT.resolve(lib.dir()).resolve("target/classes");
    return ModuleFinder.of(out).findAll().stream()
        .findFirst()
        .orElseThrow(() -> new AssertionError("no module-info.class in " + out))
        .descriptor();
  }

  private static ArchCondition<ModulePackage> beApiSpiOrInternal() {
    return new ArchCondition<>("be exported API/SPI or lie under <root>.internal") {
      @Override
      public void check(ModulePackage p, ConditionEvents events) {
        String root = p.lib().root();
        boolean inModule = p.name().equals(root) || p.name().startsWith(root + ".");
        boolean underInternal =
            p.name().equals(root + ".internal") || p.name().startsWith(root + ".internal.");
        boolean internal = List.of(p.name().split("\\.")).contains("internal");
        String why = null;
        if (!inModule) {
          why = "is not under " + root;
        } else if (p.exported() && internal) {
          why = "is internal but exported to everyone";
        } else if (!p.exported() && !underInternal) {
          why = "is not exported and not under " + root + ".internal";
        }
        events.add(new SimpleConditionEvent(p, why == null, "package " + p.name() + " " + why));
      }
    };
  }

  // 3. -------------------------------------------------------------------------------------------

  @Test
  void libraryModulesDoNotPrintToStandardStreams() {
    checkEach(
        "no standard streams",
        lib ->
            noClasses()
                .that(lib.classes())
                .should(ACCESS_STANDARD_STREAMS)
                .because("a library reports through JFR, WARN() and return values"));
  }

  // 4. -------------------------------------------------------------------------------------------

  /** A public top-level type as its source declares it, with its Javadoc's first sentence. */
  record SourceType(Lib lib, String name, String firstSentence) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static final Pattern TYPE_DECL =
      Pattern.compile(
          "^public\\s+(?:(?:final|abstract|sealed|non-sealed|strictfp)\\s+)*"
              + "(?:class|interface|enum|record|@interface)\\s+(\\w+)",
          Pattern.MULTILINE);

  private static final Pattern STRING = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"");

  /** A kernel source path such as {@code mm/gup.c} or {@code include/linux/mm.h}. */
  private static final Pattern KERNEL_PATH =
      Pattern.compile("\\b(?:mm|block|fs|include|lib|kernel|drivers|init|tools)/[\\w/.-]*\\w");

  @Test
  void publicTypesNameTheirKernelObject() {
    checkEach(
        "public types name their kernel object",
        lib -> all(sourceTypesOf(lib)).should(nameAKernelObject()));
  }

  @Test
  void firstSentenceIsWhatCounts() {
    assertEquals(
        "The {@code struct bio}.",
        firstSentence("/**\n * The {@code struct bio}. More {@code x}.\n */"));
    assertEquals(
        "Models mm/gup.c and more.",
        firstSentence("/** Models mm/gup.c and more.\n *\n * @see x */"));
    assertEquals("", firstSentence("/** @param x nothing */"));
    ArchCondition<SourceType> c = nameAKernelObject();
    assertTrue(
        violatesSource(
            c,
            new SourceType(
                BLOCK, "dev.refkern.block.X", firstSentence("/** A disk. {@code y} */"))));
    assertTrue(violatesSource(c, new SourceType(BLOCK, "dev.refkern.block.X", "")));
    assertFalse(violatesSource(c, new SourceType(BLOCK, "dev.refkern.block.X", "A {@code bio}.")));
    assertFalse(
        violatesSource(c, new SourceType(BLOCK, "dev.refkern.block.X", "See block/bio.c.")));
  }

  private static boolean violatesSource(ArchCondition<SourceType> c, SourceType t) {
    ConditionEvents events = ConditionEvents.Factory.create();
    c.check(t, events);
    return events.containViolation();
  }

  private static AbstractClassesTransformer<SourceType> sourceTypesOf(Lib lib) {
    return new AbstractClassesTransformer<>("public top-level types in " + lib.dir() + " sources") {
      @Override
      public Iterable<SourceType> doTransform(JavaClasses ignored) {
        Path src = ROOT.resolve(lib.dir()).resolve("src/main/java");
        List<SourceType> types = new ArrayList<>();
        try (Stream<Path> files = Files.walk(src)) {
          for (Path f : files.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
            String name = f.getFileName().toString();
            if (name.equals("module-info.java") || name.equals("package-info.java")) {
              continue;
            }
            String text = Files.readString(f);
            Matcher m = TYPE_DECL.matcher(text);
            if (!m.find()) {
              continue; // a package-private top-level type
            }
            String pkg = src.relativize(f.getParent()).toString().replace('/', '.');
            String before = text.substring(0, m.start());
            int open = before.lastIndexOf("/**");
            int close = before.lastIndexOf("*/");
            // only annotations may stand between the Javadoc and the declaration
            boolean attached =
                open >= 0
                    && close > open
                    && !STRING.matcher(before.substring(close)).replaceAll("").contains(";");
            String sentence = attached ? firstSentence(before.substring(open, close + 2)) : "";
            types.add(new SourceType(lib, pkg + "." + m.group(1), sentence));
          }
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
        assertFalse(types.isEmpty(), "no public types found in " + src);
        return types;
      }
    };
  }

  /** The Javadoc's first sentence: up to a period followed by white space, or its first tag. */
  static String firstSentence(String javadoc) {
    String body =
        javadoc
            .replaceFirst("^/\\*\\*", "")
            .replaceFirst("\\*/$", "")
            .lines()
            .map(l -> l.replaceFirst("^\\s*\\*?\\s?", ""))
            .takeWhile(l -> !l.startsWith("@"))
            .collect(Collectors.joining("\n"))
            .strip();
    int depth = 0;
    for (int i = 0; i < body.length(); i++) {
      char ch = body.charAt(i);
      if (ch == '{') {
        depth++;
      } else if (ch == '}') {
        depth--;
      } else if (depth == 0
          && (ch == '.'
              && (i + 1 == body.length() || Character.isWhitespace(body.charAt(i + 1))))) {
        return body.substring(0, i + 1).replaceAll("\\s+", " ");
      } else if (depth == 0 && body.startsWith("<p>", i)) {
        return body.substring(0, i).strip().replaceAll("\\s+", " ");
      }
    }
    return body.replaceAll("\\s+", " ");
  }

  private static ArchCondition<SourceType> nameAKernelObject() {
    return new ArchCondition<>("name its kernel object in the first sentence of its Javadoc") {
      @Override
      public void check(SourceType t, ConditionEvents events) {
        String s = t.firstSentence();
        boolean ok =
            s.contains("{@code")
                || KERNEL_PATH.matcher(s).find()
                || NO_KERNEL_OBJECT.containsKey(t.name());
        String msg =
            s.isEmpty()
                ? "type " + t.name() + " has no Javadoc"
                : "type " + t.name() + " names no kernel object in: " + s;
        events.add(new SimpleConditionEvent(t, ok, msg));
      }
    };
  }

  // 5. -------------------------------------------------------------------------------------------

  @Test
  void publicTypesCarryAStabilityMark() {
    // @API on a type holds for its members, nested types included (apiguardian's Javadoc)
    checkEach(
        "public types carry @API",
        lib ->
            classes()
                .that(lib.classes())
                .and()
                .arePublic()
                .and()
                .areTopLevelClasses()
                .and()
                .areNotAnnotatedWith("dagger.internal.DaggerGenerated")
                .should()
                .beAnnotatedWith("org.apiguardian.api.API"));
  }

  // 6. -------------------------------------------------------------------------------------------

  /**
   * The public memmap is read-only, like {@code /proc/kpageflags}: its writers ({@code page_ref.h},
   * {@code page-flags.h}) live in an mm-core internal package exported to no module, and no API
   * member hands them out (a pin-tracking policy gets named operations from its context).
   */
  @Test
  void theMemmapIsReadOnlyOutsideMmCore() {
    Pattern mutator =
        Pattern.compile(
            "^(set|clear|inc|dec|add|sub|put|reset|mark|store|write|swap|init)([A-Z].*)?$"
                + "|.*(Add|Sub|Inc|Dec|Exchange)$|.*(AndSet|AndClear).*");
    List<String> writers =
        classes.get("dev.refkern.mm.Memmap").getMethods().stream()
            .filter(
                m ->
                    m.getModifiers().contains(com.tngtech.archunit.core.domain.JavaModifier.PUBLIC))
            .map(m -> m.getName())
            .filter(n -> mutator.matcher(n).matches())
            .sorted()
            .toList();
    assertEquals(List.of(), writers, "dev.refkern.mm.Memmap declares writers");

    String ops = "dev.refkern.mm.internal.pageops.MemmapOps";
    assertTrue(classes.contain(ops), "no " + ops);
    String opsPackage = classes.get(ops).getPackageName();
    assertTrue(opsPackage.startsWith("dev.refkern.mm.internal."), ops + " is not internal");
    for (ModuleDescriptor.Exports e : descriptor(MM).exports()) {
      // block and examples may not reach the writers, not even through a qualified export
      assertFalse(e.source().equals(opsPackage), "mm-core exports " + e + ": the memmap writers");
    }
    // nor does API hand them out: no public or protected member of an exported type names them
    Set<String> exported =
        descriptor(MM).exports().stream()
            .filter(e -> !e.isQualified())
            .map(ModuleDescriptor.Exports::source)
            .collect(Collectors.toSet());
    List<String> leaks = new ArrayList<>();
    for (JavaClass c : classes) {
      if (!exported.contains(c.getPackageName())
          || !c.getModifiers().contains(com.tngtech.archunit.core.domain.JavaModifier.PUBLIC)) {
        continue;
      }
      c.getMembers().stream()
          .filter(
              m ->
                  m.getModifiers().contains(com.tngtech.archunit.core.domain.JavaModifier.PUBLIC)
                      || m.getModifiers()
                          .contains(com.tngtech.archunit.core.domain.JavaModifier.PROTECTED))
          .filter(m -> m.getAllInvolvedRawTypes().stream().anyMatch(t -> t.isAssignableTo(ops)))
          .forEach(m -> leaks.add(m.getFullName()));
    }
    assertEquals(List.of(), leaks, "API members that hand out the memmap's writers");
  }
}
