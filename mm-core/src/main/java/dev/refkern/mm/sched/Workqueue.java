package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A queue of deferred work run by worker threads, {@code struct workqueue_struct}.
 *
 * <p>A {@link Runnable} plays the {@code work_struct}: while it is pending (queued or on a timer)
 * queueing it again does nothing, keyed by identity. A work item that throws is a bug: the
 * exception is kept and rethrown, wrapped, by the next {@link #flush()}, {@link #destroy()} or
 * {@link Scheduler#shutdown()} (in the simulation it aborts the run at once).
 */
@API(status = STABLE, since = "0.1.0")
public interface Workqueue {

  /** The name given to {@code alloc_workqueue()}. */
  String name();

  /**
   * Queues {@code work} to run soon, {@code queue_work()}.
   *
   * @return false if it was already pending
   */
  boolean queueWork(Runnable work);

  /**
   * Queues {@code work} once {@code delayJiffies} ticks have passed, {@code queue_delayed_work()}.
   *
   * @return false if it was already pending
   */
  boolean queueDelayedWork(Runnable work, long delayJiffies);

  /**
   * Takes pending {@code work} off the queue or its timer, {@code cancel_delayed_work()}; does not
   * wait for a run already under way.
   *
   * @return whether it was pending
   */
  boolean cancelWork(Runnable work);

  /**
   * Returns once every item queued before the call has run, {@code flush_workqueue()}. Delayed work
   * whose timer has not fired is not waited for, as in the kernel.
   *
   * @throws WorkFailedException if an item failed since the last report
   * @throws IllegalStateException if called from this workqueue's own work (it would wait forever)
   */
  void flush();

  /**
   * Cancels armed timers, drains the queue and rejects further work, {@code destroy_workqueue()}.
   *
   * @throws WorkFailedException if an item failed since the last report
   */
  void destroy();
}
