package dev.refkern.notifier.spi;

import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * The {@link Blocker#monitor()} blocker: a wait queue ({@code wait_queue_head_t}) on real threads.
 */
final class MonitorBlocker implements Blocker {
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();

  @Override
  public void await(BooleanSupplier condition) {
    if (condition.getAsBoolean()) {
      return;
    }
    lock.lock();
    try {
      // Checked under the lock: a wakeAll() after the state change cannot slip in between.
      while (!condition.getAsBoolean()) {
        changed.awaitUninterruptibly();
      }
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void wakeAll() {
    lock.lock();
    try {
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  @Override
  public String toString() {
    return "Blocker.monitor()";
  }
}
