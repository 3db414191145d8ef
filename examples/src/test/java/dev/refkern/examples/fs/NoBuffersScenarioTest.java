package dev.refkern.examples.fs;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link NoBuffersScenario}: seed 001's O2 on ext4, before 5.18 and on mainline. */
class NoBuffersScenarioTest {
  @TempDir Path dir;

  @Test
  void mainlineWarnsAndLosesThePageTheDeviceWrote() {
    NoBuffersScenario.Outcome o = new NoBuffersScenario(dir).run("warn");
    assertNull(o.bug());
    assertTrue(o.warning().contains("page 0 does not have buffers attached"), o.warning());
    assertEquals(1, o.foliosWithoutBuffers());
    assertEquals(4096, o.bytesLost());
    assertEquals("the app's data", o.diskHolds(), "the DMA never reached the disk");
    assertEquals(List.of(), o.violations());
  }

  @Test
  void before518TheKernelStopsAndTheMemmapShowsTheFolio() {
    NoBuffersScenario.Outcome o = new NoBuffersScenario(dir).run("bug");
    assertNotNull(o.bug());
    assertTrue(o.bug().contains("page_buffers()"), o.bug());
    assertTrue(o.postMortem().startsWith("CRASHED pfn "), o.postMortem());
    assertTrue(o.postMortem().contains("index     0"), o.postMortem());
  }
}
