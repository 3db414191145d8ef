package dev.refkern.mm.sched;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * A {@code struct completion} on either scheduler, {@code kernel/sched/completion.c}: a count of
 * completions under the wait head's lock.
 */
final class CompletionCore implements Completion {
  private static final int ALL = Integer.MAX_VALUE; // complete_all(): UINT_MAX in the kernel

  private final SchedCore core;
  private final WaitHead head;
  private final long id;
  // Built once: waiting must not allocate.
  private final BooleanSupplier isDone = () -> this.done > 0;
  private final Supplier<String> what = this::toString;
  private int done;

  CompletionCore(SchedCore core, WaitHead head, long id) {
    this.core = core;
    this.head = head;
    this.id = id;
  }

  @Override
  public void complete() {
    head.lock();
    try {
      if (done < ALL - 1) {
        done++;
      }
      head.wakeOne();
    } finally {
      head.unlock();
    }
  }

  @Override
  public void completeAll() {
    head.lock();
    try {
      done = ALL;
      head.wakeAll();
    } finally {
      head.unlock();
    }
  }

  @Override
  public void waitForCompletion() {
    core.mightSleep();
    head.lock();
    try {
      head.waitLocked(isDone, what);
      if (done != ALL) {
        done--;
      }
    } finally {
      head.unlock();
    }
  }

  @Override
  public boolean done() {
    head.lock();
    try {
      return done > 0;
    } finally {
      head.unlock();
    }
  }

  @Override
  public void reinit() {
    head.lock();
    try {
      done = 0;
    } finally {
      head.unlock();
    }
  }

  @Override
  public String toString() {
    return "completion#" + id;
  }
}
