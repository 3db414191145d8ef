package dev.refkern.mm.sched;

import java.util.Objects;

/**
 * The scheduler primitives both schedulers share, {@code kernel/sched/completion.c}, {@code
 * wait.c}, {@code kernel/locking/mutex.c} and the {@code in_atomic()} bookkeeping, built on one
 * {@link Parker} that says how a task sleeps.
 */
final class SchedCore {
  private final Parker parker;
  // Per thread, so a completion running on one thread never makes another atomic.
  private final ThreadLocal<int[]> atomicDepth = ThreadLocal.withInitial(() -> new int[1]);

  SchedCore(Parker parker) {
    this.parker = parker;
  }

  Parker parker() {
    return parker;
  }

  /** The prefix of every message, {@code ""} or {@code "seed=0x2a: "}. */
  String tag() {
    return parker.tag();
  }

  KLock newLock(String name) {
    return new MutexCore(this, Objects.requireNonNull(name, "name"), parker.newMutexWord());
  }

  Completion newCompletion() {
    return new CompletionCore(this, parker.newWaitHead(), parker.nextId());
  }

  WaitQueue newWaitQueue() {
    return new WaitQueueCore(this, parker.newWaitHead(), parker.nextId());
  }

  void runInCompletionContext(Runnable body) {
    int[] depth = atomicDepth.get();
    depth[0]++;
    try {
      body.run();
    } finally {
      depth[0]--;
    }
  }

  boolean inAtomicContext() {
    return atomicDepth.get()[0] > 0;
  }

  void mightSleep() {
    if (inAtomicContext()) {
      throw new SleepInAtomicError(
          "BUG: sleeping function called from invalid context: in_atomic()=1, "
              + parker.sleeperInAtomic());
    }
  }
}
