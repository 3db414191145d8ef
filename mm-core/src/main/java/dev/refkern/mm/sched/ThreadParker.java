package dev.refkern.mm.sched;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The SMP kernel's {@code schedule()} as a {@link Parker} on real threads: a sleeper parks in the
 * JVM on a per-object lock and condition, and a {@code struct mutex} is a {@link ReentrantLock}.
 */
final class ThreadParker implements Parker {
  private final AtomicLong ids = new AtomicLong();

  @Override
  public WaitHead newWaitHead() {
    return new ThreadWaitHead();
  }

  @Override
  public MutexCore.Word newMutexWord() {
    return new ThreadMutexWord();
  }

  @Override
  public long nextId() {
    return ids.incrementAndGet();
  }

  @Override
  public String tag() {
    return "";
  }

  @Override
  public Object currentTask() {
    return Thread.currentThread();
  }

  @Override
  public String taskName(Object task) {
    return "'" + ((Thread) task).getName() + "'";
  }

  @Override
  public String sleeperInAtomic() {
    return "thread '" + Thread.currentThread().getName() + "'";
  }

  // getOwner() is protected in ReentrantLock: the mutex's owner checks need it.
  static final class ThreadMutexWord extends ReentrantLock implements MutexCore.Word {
    private static final long serialVersionUID = 1L;

    @Override
    public Object owner() {
      return getOwner();
    }

    @Override
    public void acquire(Object me, MutexCore mutex) {
      lock();
    }

    @Override
    public boolean tryAcquire(Object me) {
      return tryLock();
    }

    @Override
    public void release() {
      unlock();
    }
  }

  static final class ThreadWaitHead implements WaitHead {
    final ReentrantLock lock = new ReentrantLock();
    final Condition woken = lock.newCondition();

    @Override
    public void lock() {
      lock.lock();
    }

    @Override
    public void unlock() {
      lock.unlock();
    }

    @Override
    public void waitLocked(BooleanSupplier cond, Supplier<String> what) {
      while (!cond.getAsBoolean()) {
        woken.awaitUninterruptibly();
      }
    }

    @Override
    public void waitEvent(BooleanSupplier cond, Supplier<String> what, boolean idle) {
      boolean interrupted = false;
      lock.lock();
      try {
        // Checked under the lock wakeAll() takes: a waker's state change is never missed.
        while (!cond.getAsBoolean()) {
          try {
            woken.await();
          } catch (InterruptedException e) {
            interrupted = true; // wake_up_process(): re-check, then keep the interrupt
          }
        }
      } finally {
        lock.unlock();
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
      }
    }

    @Override
    public void wakeOne() {
      woken.signal();
    }

    @Override
    public void wakeAll() {
      woken.signalAll();
    }
  }
}
