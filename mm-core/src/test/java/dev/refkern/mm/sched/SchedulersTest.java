package dev.refkern.mm.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The scheduler spec of the command line. */
@Timeout(30)
class SchedulersTest {

  @Test
  void threadsSpecGivesRealThreads() {
    Scheduler s = Schedulers.fromSpec(" threads ");
    try {
      assertInstanceOf(ThreadScheduler.class, s);
      assertEquals(-1, s.seed());
    } finally {
      s.shutdown();
    }
  }

  @Test
  void simSpecTakesDecimalOrHexSeeds() {
    for (String[] c :
        new String[][] {
          {"sim:42", "42"},
          {"sim:0x2a", "42"},
          {"SIM:0X2A", "42"},
          {"sim: 7", "7"},
          {"sim:-3", "-3"},
          {"sim:0xffffffffffffffff", "-1"},
        }) {
      Scheduler s = Schedulers.fromSpec(c[0]);
      try {
        assertInstanceOf(SimScheduler.class, s, c[0]);
        assertEquals(Long.parseLong(c[1]), s.seed(), c[0]);
      } finally {
        s.shutdown();
      }
    }
  }

  @Test
  void printedSeedParsesBack() {
    long seed = 0x8badf00d12345678L;
    String tag = SimScheduler.seedTag(seed);
    assertEquals(seed, Schedulers.fromSpec("sim:" + tag.substring("seed=".length())).seed());
  }

  @Test
  void badSpecsAreRejectedWithTheSpecAndTheAcceptedForms() {
    for (String bad :
        Arrays.asList(null, "", "thread", "sim", "sim:", "sim:xyz", "sim:0x", "sim:1.5")) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Schedulers.fromSpec(bad), bad);
      assertTrue(e.getMessage().contains("expected 'threads' or 'sim:SEED'"), e.getMessage());
      if (bad != null) {
        assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
      }
    }
  }
}
