package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.lang.syntax.ArchRuleDefinition;
import dev.refkern.block.Kernel;
import dev.refkern.mm.BootConfig;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.RamSwapDevice;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The wiring without setter hooks: the Dagger component and the plain {@code Kernel.boot} both give
 * a kernel whose allocations reclaim directly under memory pressure ({@code allocstall} moves), and
 * no layer exposes a setter through which a higher one would hook itself in after construction.
 */
class KernelWiringTest {
  @TempDir Path dir;

  /** Touches more anonymous memory than 64M of RAM holds: only direct reclaim lets it fit. */
  private static void overcommit(VirtualMemory vm) {
    vm.swapon(new RamSwapDevice(16384));
    Task task = vm.createTask("t");
    int pages = 18000;
    long a = task.mmapAnon(pages * 4096L);
    for (int i = 0; i < pages; i++) {
      task.storeLong(a + i * 4096L, i);
    }
    assertEquals(pages - 1, task.loadLong(a + (pages - 1) * 4096L));
    task.exit();
  }

  @Test
  void theDaggerGraphReclaimsDirectlyUnderPressure() {
    KernelComponent k =
        KernelComponent.boot(new BootConfig(BootParams.parse("mem=64M"), dir, true));
    try (PhysicalMemory mem = k.physicalMemory()) {
      VirtualMemory vm = k.virtualMemory();
      assertSame(mem, vm.physicalMemory(), "one machine in the graph");
      assertSame(vm.gup(), k.gup());
      assertNotNull(k.directIo());
      overcommit(vm);
      assertTrue(mem.vmstat().get(VmItem.ALLOCSTALL) > 0, "allocations reclaimed directly");
    }
  }

  @Test
  void thePlainKernelBootReclaimsDirectlyUnderPressure() {
    try (Kernel k = Kernel.boot("mem=64M", dir)) {
      overcommit(k.vm());
      assertTrue(
          k.physicalMemory().vmstat().get(VmItem.ALLOCSTALL) > 0, "allocations reclaimed directly");
    }
  }

  @Test
  void theKernelHasOneDirectIoWithOneWorkqueue() {
    try (Kernel k = Kernel.boot("mem=64M", dir)) {
      assertSame(k.directIo(), k.directIo(), "one O_DIRECT path, one bio-dirty workqueue");
    }
  }

  @Test
  void noLayerHasASetterHook() {
    Path root = Path.of("").toAbsolutePath().getParent();
    JavaClasses mm =
        new ClassFileImporter()
            .importPaths(
                root.resolve("mm-core/target/classes"), root.resolve("block/target/classes"));
    assertTrue(mm.size() > 50, "imported only " + mm.size() + " classes");
    ArchRuleDefinition.noMethods()
        .that()
        .arePublic()
        .and()
        .areDeclaredInClassesThat()
        .resideInAnyPackage("dev.refkern.mm..", "dev.refkern.block..")
        .should()
        .haveNameMatching("set.*(Hook|Reclaim|Wake|Mkclean|Unmap).*")
        .because("a lower layer receives what it calls through its constructor (ARCHITECTURE.md)")
        .check(mm);
  }
}
