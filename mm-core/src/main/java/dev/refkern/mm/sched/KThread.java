package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** A kernel thread, the {@code task_struct} returned by {@code kthread_run()}. */
@API(status = STABLE, since = "0.1.0")
public interface KThread {

  /** The thread's name, {@code comm}. */
  String name();

  /**
   * Makes {@link Scheduler#kthreadShouldStop()} true, wakes the thread out of a wait-queue sleep so
   * it sees that, and waits for it to exit, {@code kthread_stop()}.
   */
  void stop();

  /**
   * Sleeps until the thread has exited.
   *
   * @throws WorkFailedException on real threads, once, if the body threw
   */
  void join();

  /** Whether the thread has not exited yet. */
  boolean isAlive();
}
