package dev.refkern.mm.sched;

/**
 * How a task sleeps and is woken, the part of {@code schedule()} the two schedulers differ in: a
 * real thread parks in the JVM, a simulated one yields the one CPU to the seeded event loop.
 *
 * <p>{@link SchedCore} builds the shared primitives (mutex, completion, wait queue, workqueue
 * bookkeeping) on top of it.
 */
interface Parker {

  /** A new queue of sleepers with its lock, {@code init_waitqueue_head()}. */
  WaitHead newWaitHead();

  /** The owner word of a new {@code struct mutex}. */
  MutexCore.Word newMutexWord();

  /** The id a new completion or wait queue shows in reports ({@code completion#3}). */
  long nextId();

  /** The prefix of every message, {@code ""} or {@code "seed=0x2a: "}. */
  String tag();

  /** The calling task, as a mutex owner. */
  Object currentTask();

  /** How {@code task} (from {@link #currentTask()}) is named in messages. */
  String taskName(Object task);

  /** Who called a sleeping function in atomic context, for {@link SleepInAtomicError}. */
  String sleeperInAtomic();
}
