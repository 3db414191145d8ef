package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.mm.BootParams;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.vm.Mman;
import dev.refkern.mm.vm.Pte;
import dev.refkern.mm.vm.Task;
import dev.refkern.mm.vm.VirtualMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * README's HMM example runs as printed: {@link TinyMirror} and the usage between the markers below
 * are the README's two code blocks, character for character.
 */
class HmmReadmeExampleTest {
  @TempDir Path dir;

  @Test
  void theReadmeDriverMirrorsWithoutPinsAndLetsGoOnMunmap() {
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir, true);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      long[] r = example(vm);
      long pfn = r[0];
      assertTrue(pfn > 0);
      assertEquals(42, r[1], "the CPU reads what the device wrote");
      assertEquals(0, r[2], "munmap's invalidation cleared the device's entry");
      assertEquals(0, mem.vmstat().get(VmItem.NR_FOLL_PIN_ACQUIRED), "no pin taken");
      assertEquals(List.of(), FinalCheck.violations(mem));
    }
  }

  // README-BEGIN
  static long[] example(VirtualMemory vm) {
    Task app = vm.createTask("app");
    long buf = app.mmapAnon(4 * 4096L);
    try (TinyMirror dev = new TinyMirror(vm, app.mm(), buf, 4)) {
      long pfn = dev.deviceFault(1, true); // page 1 faulted in writable, not pinned
      vm.physicalMemory().ram().writeLong(pfn, 0, 42); // the device writes it ...
      long seen = app.loadLong(buf + 4096); // ... and the CPU reads 42
      app.munmap(buf, 4 * 4096L); // MMU_NOTIFY_UNMAP: invalidate() clears the device's entry
      return new long[] {pfn, seen, dev.mapped(1)}; // mapped(1) is 0 now
    } finally {
      app.exit();
    }
  }

  // README-END

  @Test
  void theReadmeDriverGetsTheKernelsErrnos() {
    VirtualMemory vm = VirtualMemory.boot(BootParams.parse("mem=64M"), dir, true);
    try (PhysicalMemory mem = vm.physicalMemory()) {
      Task app = vm.createTask("app");
      long ro =
          app.mmap(0, 2 * 4096L, Mman.PROT_READ, Mman.MAP_PRIVATE | Mman.MAP_ANONYMOUS, null, 0);
      try (TinyMirror dev = new TinyMirror(vm, app.mm(), ro, 2)) {
        KernelException e = assertThrows(KernelException.class, () -> dev.deviceFault(0, true));
        assertEquals(Errno.EPERM, e.errno(), "a write fault in a VMA without VM_WRITE");
        long zero = dev.deviceFault(0, false);
        assertEquals(vm.zeroPfn(), zero, "a read fault maps the zero page");
        app.munmap(ro + 4096, 4096);
        e = assertThrows(KernelException.class, () -> dev.deviceFault(1, false));
        assertEquals(Errno.EFAULT, e.errno(), "no VMA");
        assertEquals(0, Pte.pfn(app.mm().pte(ro + 4096)));
      }
      app.exit();
      assertEquals(List.of(), FinalCheck.violations(mem));
    }
  }

  @Test
  void theReadmeShowsThisCodeVerbatim() throws IOException {
    String readme = Files.readString(Path.of("../README.md"));
    String driver = Files.readString(Path.of("src/test/java/dev/refkern/examples/TinyMirror.java"));
    String block1 = driver.substring(driver.indexOf("import "));
    assertTrue(
        readme.contains("```java\n" + block1 + "```\n"), "README: TinyMirror.java, from import");
    String test =
        Files.readString(Path.of("src/test/java/dev/refkern/examples/HmmReadmeExampleTest.java"));
    String usage =
        test.substring(test.indexOf("// README-BEGIN\n") + 16, test.indexOf("\n  // README-END"));
    String block2 =
        usage
            .stripTrailing()
            .lines()
            .map(l -> l.substring(Math.min(2, l.length())))
            .collect(Collectors.joining("\n"));
    assertTrue(readme.contains("```java\n" + block2 + "\n```\n"), "README: the usage, unindented");
  }
}
