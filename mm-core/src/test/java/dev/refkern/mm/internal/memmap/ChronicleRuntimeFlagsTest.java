package dev.refkern.mm.internal.memmap;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Which of the argfiles' flags a boot requires: Chronicle's, not the simulator's. */
class ChronicleRuntimeFlagsTest {
  @Test
  void onlyChroniclesLineIsRequired() {
    for (String file :
        new String[] {ChronicleRuntime.MODULE_PATH_ARGS, ChronicleRuntime.CLASS_PATH_ARGS}) {
      String all = ChronicleRuntime.readArgs(file);
      assertTrue(all.contains("jdk.internal.vm"), file + " carries the simulator's flags: " + all);
      String required = ChronicleRuntime.requiredLine(all);
      assertTrue(required.contains("jdk.internal.ref"), file + ": Chronicle's flags: " + required);
      assertFalse(required.contains("jdk.internal.vm"), file + ": continuations are optional");
    }
  }

  @Test
  void requiredLineSkipsBlankLines() {
    assertEquals("--a=b", ChronicleRuntime.requiredLine("\n  \n--a=b\n--c=d\n"));
    assertEquals("", ChronicleRuntime.requiredLine(""));
  }
}
