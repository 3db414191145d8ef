package dev.refkern.examples;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.lang.syntax.ArchRuleDefinition;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The layering of ARCHITECTURE.md, checked on the compiled classes of every module in the reactor.
 * Modules are read from their build output so the rules see exactly what ships.
 */
class LayeringTest {
  /** Module folder, package root; in dependency order. */
  private static final String[][] MODULES = {
    {"notifier", "dev.refkern.notifier"},
    {"mm-core", "dev.refkern.mm"},
    {"block", "dev.refkern.block"},
    {"fs-plugins/vfs", "dev.refkern.fs"},
    {"fs-plugins/ext4", "dev.refkern.fs.ext4"},
    {"fs-plugins/xfs", "dev.refkern.fs.xfs"},
    {"hmm-device", "dev.refkern.hmm"},
    {"examples", "dev.refkern.examples"},
  };

  private static JavaClasses classes;

  @BeforeAll
  static void importReactor() throws Exception {
    Path root = Path.of("").toAbsolutePath().getParent();
    List<Path> outputs = new ArrayList<>();
    for (String[] m : MODULES) {
      Path out = root.resolve(m[0]).resolve("target/classes");
      if (Files.isDirectory(out)) {
        outputs.add(out);
      }
    }
    classes =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPaths(outputs);
  }

  @Test
  void importsTheWholeReactor() {
    // guards against a rule passing because nothing was imported
    assertTrue(classes.size() >= 60, "imported only " + classes.size() + " classes");
    for (String pkg :
        List.of(
            "dev.refkern.notifier", "dev.refkern.mm", "dev.refkern.fs", "dev.refkern.examples")) {
      assertTrue(classes.containPackage(pkg), "missing " + pkg);
    }
  }

  @Test
  void layersOnlyReachDownwards() {
    ArchRule rule =
        layeredArchitecture()
            .consideringOnlyDependenciesInLayers()
            .withOptionalLayers(true)
            .layer("notifier")
            .definedBy("dev.refkern.notifier..")
            .layer("mm")
            .definedBy("dev.refkern.mm..")
            .layer("block")
            .definedBy("dev.refkern.block..")
            .layer("vfs")
            .definedBy(vfsPackages())
            .layer("ext4")
            .definedBy("dev.refkern.fs.ext4..")
            .layer("xfs")
            .definedBy("dev.refkern.fs.xfs..")
            .layer("hmm")
            .definedBy("dev.refkern.hmm..")
            .layer("examples")
            .definedBy("dev.refkern.examples..")
            .whereLayer("examples")
            .mayNotBeAccessedByAnyLayer()
            .whereLayer("ext4")
            .mayOnlyBeAccessedByLayers("examples")
            .whereLayer("xfs")
            .mayOnlyBeAccessedByLayers("examples")
            .whereLayer("hmm")
            .mayOnlyBeAccessedByLayers("examples")
            .whereLayer("vfs")
            .mayOnlyBeAccessedByLayers("ext4", "xfs", "examples")
            .whereLayer("block")
            .mayOnlyBeAccessedByLayers("vfs", "ext4", "xfs", "examples")
            .whereLayer("mm")
            .mayOnlyBeAccessedByLayers("block", "vfs", "ext4", "xfs", "hmm", "examples")
            .whereLayer("notifier")
            .mayOnlyBeAccessedByLayers("mm", "block", "vfs", "ext4", "xfs", "hmm", "examples");
    rule.check(classes);
  }

  private static String[] vfsPackages() {
    // dev.refkern.fs and its packages, except the two plugins
    return new String[] {"dev.refkern.fs", "dev.refkern.fs.spi..", "dev.refkern.fs.internal.."};
  }

  @Test
  void internalPackagesStayInsideTheirModule() {
    for (String[] m : MODULES) {
      String pkg = m[1];
      ArchRule rule =
          ArchRuleDefinition.noClasses()
              .that()
              .resideOutsideOfPackage(pkg + "..")
              .should()
              .dependOnClassesThat()
              .resideInAPackage(pkg + ".internal..")
              .allowEmptyShould(true);
      rule.check(classes);
    }
  }

  @Test
  void noCyclesBetweenModules() {
    slices().matching("dev.refkern.(*)..").should().beFreeOfCycles().check(classes);
  }

  @Test
  void noCyclesBetweenInternalPackages() {
    slices()
        .matching("dev.refkern.(*).internal.(*)..")
        .should()
        .beFreeOfCycles()
        .allowEmptyShould(true)
        .check(classes);
  }

  @Test
  void everyModuleHasAModuleDescriptor() throws Exception {
    Path root = Path.of("").toAbsolutePath().getParent();
    try (Stream<Path> s = Stream.of(MODULES).map(m -> root.resolve(m[0]))) {
      s.filter(Files::isDirectory)
          .forEach(
              dir ->
                  assertTrue(
                      Files.exists(dir.resolve("src/main/java/module-info.java")),
                      dir + " has no module-info.java"));
    }
  }
}
