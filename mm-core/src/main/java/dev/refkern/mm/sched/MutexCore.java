package dev.refkern.mm.sched;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * A {@code struct mutex} on either scheduler, {@code kernel/locking/mutex.c} with the {@code
 * CONFIG_DEBUG_MUTEXES} checks: not recursive, released by its owner only. How a contender sleeps
 * is the {@link Word} its {@link Parker} gives.
 */
final class MutexCore implements KLock {

  /** The owner word of a {@code struct mutex} ({@code mutex->owner}) and its sleep. */
  interface Word {
    /** The holding task, or null. */
    Object owner();

    /** Takes the lock for {@code me}, sleeping while another task holds it. */
    void acquire(Object me, MutexCore mutex);

    /** Takes the lock for {@code me} if it is free. */
    boolean tryAcquire(Object me);

    /** Releases the lock and wakes a contender. */
    void release();
  }

  private final SchedCore core;
  private final String name;
  private final Word word;

  MutexCore(SchedCore core, String name, Word word) {
    this.core = core;
    this.name = name;
    this.word = word;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public void lock() {
    core.mightSleep();
    Object me = core.parker().currentTask();
    if (word.owner() == me) {
      throw new IllegalStateException(
          core.tag() + "recursive locking of mutex '" + name + "' by " + taskName(me));
    }
    word.acquire(me, this);
  }

  @Override
  public void unlock() {
    Object me = core.parker().currentTask();
    Object owner = word.owner();
    if (owner != me) {
      throw new IllegalStateException(
          core.tag()
              + "mutex '"
              + name
              + "' unlocked by "
              + taskName(me)
              + " but held by "
              + taskName(owner));
    }
    word.release();
  }

  @Override
  public boolean tryLock() {
    Object me = core.parker().currentTask();
    return word.owner() != me && word.tryAcquire(me);
  }

  @Override
  public boolean isHeldByCurrentThread() {
    return word.owner() == core.parker().currentTask();
  }

  String taskName(Object task) {
    return task == null ? "nobody" : core.parker().taskName(task);
  }

  @Override
  public String toString() {
    return "mutex '" + name + "'";
  }

  /**
   * An owner word kept under a {@link WaitHead}'s lock, for a parker without a lock of its own:
   * contenders sleep on the head until the owner is gone.
   */
  static final class OnWaitHead implements Word {
    private final WaitHead head;
    private final BooleanSupplier free = () -> this.owner == null;
    private Object owner;

    OnWaitHead(WaitHead head) {
      this.head = head;
    }

    @Override
    public Object owner() {
      head.lock();
      try {
        return owner;
      } finally {
        head.unlock();
      }
    }

    @Override
    public void acquire(Object me, MutexCore mutex) {
      head.lock();
      try {
        if (owner != null) {
          // Contended: a sleep. It returns locked with the owner gone, so nobody takes it between.
          Supplier<String> what = () -> mutex + " held by " + mutex.taskName(owner);
          head.waitLocked(free, what);
        }
        owner = me;
      } finally {
        head.unlock();
      }
    }

    @Override
    public boolean tryAcquire(Object me) {
      head.lock();
      try {
        if (owner != null) {
          return false;
        }
        owner = me;
        return true;
      } finally {
        head.unlock();
      }
    }

    @Override
    public void release() {
      head.lock();
      try {
        owner = null;
        head.wakeAll();
      } finally {
        head.unlock();
      }
    }
  }
}
