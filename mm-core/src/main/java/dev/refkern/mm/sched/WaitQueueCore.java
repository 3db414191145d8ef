package dev.refkern.mm.sched;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** A {@code wait_queue_head_t} on either scheduler, {@code kernel/sched/wait.c}. */
final class WaitQueueCore implements WaitQueue {
  private final SchedCore core;
  private final WaitHead head;
  private final long id;
  private final Supplier<String> what = this::toString;

  WaitQueueCore(SchedCore core, WaitHead head, long id) {
    this.core = core;
    this.head = head;
    this.id = id;
  }

  @Override
  public void await(BooleanSupplier condition) {
    core.mightSleep();
    head.waitEvent(condition, what, false);
  }

  @Override
  public void awaitIdle(BooleanSupplier condition) {
    core.mightSleep();
    head.waitEvent(condition, what, true);
  }

  @Override
  public void wakeAll() {
    head.lock();
    try {
      head.wakeAll();
    } finally {
      head.unlock();
    }
  }

  @Override
  public String toString() {
    return "waitqueue#" + id;
  }
}
