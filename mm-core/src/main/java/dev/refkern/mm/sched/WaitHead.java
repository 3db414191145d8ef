package dev.refkern.mm.sched;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * A {@code wait_queue_head_t} with its spinlock, as a {@link Parker} provides it: the lock guards
 * the state a sleeper's condition reads, and every sleep re-checks its condition after each wake-up
 * (a spurious wake-up is always safe).
 *
 * <p>{@code what} names the wait in deadlock reports; it is only called to build one.
 */
interface WaitHead {

  /** Takes the lock, {@code spin_lock(&wq_head->lock)}. */
  void lock();

  /** Releases the lock. */
  void unlock();

  /**
   * With the lock held: sleeps until {@code cond}, checked under the lock, holds; returns with the
   * lock held, as {@code do_wait_for_common()} does. Not interruptible.
   */
  void waitLocked(BooleanSupplier cond, Supplier<String> what);

  /**
   * Without the lock: sleeps until {@code cond} holds, {@code wait_event()}; {@code idle} marks the
   * sleep of a service thread waiting for work ({@code wait_event_idle()}).
   */
  void waitEvent(BooleanSupplier cond, Supplier<String> what, boolean idle);

  /** With the lock held: wakes at least one sleeper, {@code swake_up_locked()}. */
  void wakeOne();

  /** With the lock held: wakes every sleeper, {@code wake_up_all()}. */
  void wakeAll();
}
