package dev.refkern.notifier;

import dev.refkern.notifier.spi.Blocker;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A {@link Blocker#monitor()} that tells the test when a thread commits to waiting: once the
 * condition was seen false, the waiter cannot return before another thread changes the state.
 */
final class WatchedBlocker implements Blocker {
  private final Blocker delegate = Blocker.monitor();
  private final Semaphore parked = new Semaphore(0);

  @Override
  public void await(BooleanSupplier condition) {
    if (!condition.getAsBoolean()) {
      parked.release();
    }
    delegate.await(condition);
  }

  @Override
  public void wakeAll() {
    delegate.wakeAll();
  }

  /** Waits (bounded) until some thread has committed to sleeping in {@link #await}. */
  boolean awaitParked() throws InterruptedException {
    return parked.tryAcquire(10, TimeUnit.SECONDS);
  }

  /** How many waits began and were not yet consumed by {@link #awaitParked()}. */
  int parkedCount() {
    return parked.availablePermits();
  }
}
