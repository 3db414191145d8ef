package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * The source of all asynchrony in the simulated kernel: the {@code workqueue}, {@code kthread},
 * {@code struct mutex}, {@code struct completion} and {@code wait_queue_head_t} primitives plus
 * {@code jiffies}.
 *
 * <p>Code that sleeps, defers or waits goes through one injected scheduler, so the same code runs
 * on real threads ({@link ThreadScheduler}) or in a seeded, reproducible simulation ({@link
 * SimScheduler}). Every sleeping primitive calls {@link #mightSleep()} first.
 */
@API(status = STABLE, since = "0.1.0")
public interface Scheduler extends AutoCloseable {

  /** The clock of this scheduler, {@code jiffies}. */
  Clock clock();

  /** A workqueue whose items may run concurrently, {@code alloc_workqueue(name, 0, 0)}. */
  Workqueue allocWorkqueue(String name);

  /**
   * A workqueue that runs one item at a time in queueing order, {@code alloc_ordered_workqueue}.
   */
  Workqueue allocOrderedWorkqueue(String name);

  /** Creates and wakes a kernel thread running {@code body}, {@code kthread_run()}. */
  KThread kthreadRun(String name, Runnable body);

  /**
   * Whether the calling kthread has been asked to exit by {@link KThread#stop()}, {@code
   * kthread_should_stop()}; false outside kthreads.
   */
  boolean kthreadShouldStop();

  /** A new sleeping lock, {@code DEFINE_MUTEX}. */
  KLock newLock(String name);

  /** A new completion, {@code init_completion()}. */
  Completion newCompletion();

  /** A new wait queue, {@code init_waitqueue_head()}. */
  WaitQueue newWaitQueue();

  /** A preemption point, {@code cond_resched()}: lets another thread run here. */
  void condResched();

  /**
   * Runs {@code body} on the calling thread as block-I/O completion context (softirq, {@code
   * in_atomic()}): {@link #inAtomicContext()} is true inside and sleeping there throws {@link
   * SleepInAtomicError}.
   */
  void runInCompletionContext(Runnable body);

  /** Whether the calling thread may not sleep, {@code in_atomic()}. */
  boolean inAtomicContext();

  /**
   * Asserts that the caller may sleep, {@code might_sleep()}.
   *
   * @throws SleepInAtomicError in atomic context
   */
  void mightSleep();

  /** The simulation seed, or -1 for real threads. */
  long seed();

  /**
   * Stops everything this scheduler started and reports failures nobody collected yet.
   *
   * @throws WorkFailedException if a work item or kthread failed and nobody was told
   */
  void shutdown();

  /** Same as {@link #shutdown()}, for try-with-resources. */
  @Override
  default void close() {
    shutdown();
  }
}
