package dev.refkern.examples;

import dev.refkern.mm.PhysicalMemory;
import java.io.PrintStream;
import java.util.List;

/**
 * The {@code CONFIG_DEBUG_VM} check every command ends with ({@code DebugVm.checkNoPinsHeld()}:
 * every invariant plus the pin balance {@code nr_foll_pin_acquired == nr_foll_pin_released}), and
 * the exit status it implies: 1 when anything is violated, so scripts and CI notice.
 */
public final class FinalCheck {
  /** The exit status of a command whose final check found a violation. */
  public static final int VIOLATED = 1;

  private FinalCheck() {}

  /** Every violation on {@code mem} once the command holds no pin; empty when consistent. */
  public static List<String> violations(PhysicalMemory mem) {
    return mem.debugVm().checkNoPinsHeld();
  }

  /** Prints {@code "<prefix>debug_vm: clean"} or the count, then one violation per line. */
  public static void print(PrintStream out, String prefix, List<String> violations) {
    if (violations.isEmpty()) {
      out.println(prefix + "debug_vm: clean (invariants hold, pins balance)");
      return;
    }
    out.println(prefix + "debug_vm: " + violations.size() + " violation(s)");
    for (String v : violations) {
      out.println(prefix + "  " + v);
    }
  }

  /**
   * The command's exit status for {@code violations}: 0 when there are none, else {@link #VIOLATED}
   * after printing each on {@code err} as {@code "refkern: debug_vm: ..."}.
   */
  public static int exitStatus(PrintStream err, List<String> violations) {
    for (String v : violations) {
      err.println("refkern: debug_vm: " + v);
    }
    err.flush();
    return violations.isEmpty() ? 0 : VIOLATED;
  }

  /** Checks {@code mem}, prints the result on {@code out}, returns the exit status. */
  public static int finish(PhysicalMemory mem, PrintStream out, PrintStream err, String prefix) {
    List<String> v = violations(mem);
    print(out, prefix, v);
    out.flush();
    return exitStatus(err, v);
  }
}
