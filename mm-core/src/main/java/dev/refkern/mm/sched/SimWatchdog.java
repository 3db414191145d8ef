package dev.refkern.mm.sched;

import java.time.Duration;
import java.util.function.Supplier;

/**
 * The simulation's soft-lockup and hung-task detectors, {@code kernel/watchdog.c} and {@code
 * kernel/hung_task.c}: the timeout a task may hold the CPU without a scheduling point, and the
 * reports of a lockup or a deadlock. Read and set under the CPU's lock.
 */
final class SimWatchdog {
  private final SimCpu cpu;
  // The kernel's soft-lockup threshold.
  Duration timeout = Duration.ofSeconds(20);

  SimWatchdog(SimCpu cpu) {
    this.cpu = cpu;
  }

  // Whether a live task sleeps other than idly (awaitIdle), so an idle CPU is a deadlock.
  boolean anyStuck() {
    for (SimTask t : cpu.tasks.live) {
      if (t.state == SimTask.State.BLOCKED && !t.idleWait) {
        return true;
      }
    }
    return false;
  }

  String deadlockReport(Supplier<String> driverWaits) {
    StringBuilder sb = new StringBuilder(cpu.tag);
    sb.append(": deadlock at jiffies=").append(cpu.jiffies);
    sb.append(": no thread can run and no timer is pending");
    if (driverWaits != null) {
      sb.append("\n  boot CPU waits on ").append(driverWaits.get());
    }
    for (SimTask t : cpu.tasks.live) {
      sb.append("\n  '").append(t.name).append('\'');
      if (t.state == SimTask.State.BLOCKED) {
        sb.append(t.idleWait ? " idles on " : " waits on ").append(t.waitingOn.get());
      } else {
        sb.append(" is ").append(t.state);
      }
    }
    return sb.toString();
  }

  String lockupReport(SimTask t) {
    Thread.State st = t.javaThread().getState();
    StringBuilder sb = new StringBuilder(cpu.tag);
    if (st == Thread.State.BLOCKED || st == Thread.State.WAITING) {
      sb.append(": sim thread '")
          .append(t.name)
          .append("' is blocked outside the simulator (Java state ")
          .append(st)
          .append("): a plain Java lock or monitor held across a scheduling point,")
          .append(" or a blocking call the simulator does not know?");
    } else {
      sb.append(": soft lockup: sim thread '")
          .append(t.name)
          .append("' held the CPU for ")
          .append(timeout.toMillis())
          .append(" ms without a scheduling point (Java state ")
          .append(st)
          .append(')');
    }
    sb.append(" at jiffies=").append(cpu.jiffies);
    StackTraceElement[] stack = t.javaThread().getStackTrace();
    for (int i = 0; i < Math.min(stack.length, 16); i++) {
      sb.append("\n    at ").append(stack[i]);
    }
    return sb.toString();
  }
}
