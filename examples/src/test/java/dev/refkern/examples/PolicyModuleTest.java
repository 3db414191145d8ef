package dev.refkern.examples;

import static org.junit.jupiter.api.Assertions.*;

import dev.refkern.block.BioPinTracking;
import dev.refkern.mm.BootConfig;
import dev.refkern.mm.BootParams;
import dev.refkern.mm.PolicyRegistry;
import dev.refkern.mm.vm.PinTrackingPolicy;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Dagger-built kernel sees the policies that every module {@code provides}. */
class PolicyModuleTest {
  @TempDir Path tmp;

  @Test
  void componentRegistryHoldsEveryModulesPolicies() {
    KernelComponent k =
        KernelComponent.boot(new BootConfig(BootParams.parse("mem=64M"), tmp.resolve("s"), true));
    try {
      PolicyRegistry r = k.policies();
      assertSame(r, k.policies(), "one registry per kernel");
      // mm-core's and block's providers, found through ServiceLoader and the multibinding
      assertEquals(
          PolicyRegistry.global().names(PinTrackingPolicy.PARAM), r.names(PinTrackingPolicy.PARAM));
      assertEquals(
          PolicyRegistry.global().names(BioPinTracking.PARAM), r.names(BioPinTracking.PARAM));
      assertEquals("bias", r.mainline(PinTrackingPolicy.PARAM));
      assertTrue(r.names(PinTrackingPolicy.PARAM).size() >= 4);
    } finally {
      k.physicalMemory().close();
    }
  }
}
