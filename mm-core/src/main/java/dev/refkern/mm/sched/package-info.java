/**
 * The one injected source of asynchrony: workqueues, kthreads, sleeping locks, completions, wait
 * queues, the completion (softirq) context and {@code jiffies}.
 *
 * <p>{@link dev.refkern.mm.sched.ThreadScheduler} runs them on real threads, for speed; {@link
 * dev.refkern.mm.sched.SimScheduler} runs them on one simulated CPU whose seeded scheduler makes
 * every interleaving reproducible from its seed.
 *
 * <p>Both build the mutex, completion, wait queue and workqueue bookkeeping from one
 * package-private core ({@code SchedCore}, {@code MutexCore}, {@code CompletionCore}, {@code
 * WaitQueueCore}, {@code WorkqueueCore}); each supplies only a {@code Parker}, how a task sleeps
 * and is woken: a real thread parks in the JVM, a simulated one hands the one CPU back to the
 * seeded scheduler.
 *
 * <p>{@code SimScheduler} is only the public face of the simulation: {@code SimCpu} is the runqueue
 * and seeded {@code schedule()} under one lock, {@code SimTask} a simulated task, {@code
 * SimKthreads} spawn, exit and reaping, {@code SimWatchdog} the lockup and deadlock reports, {@code
 * SimWorkqueue}, {@code SimWaitList} and {@code SimTimer} the workqueue, wait queue and timer.
 * {@code ThreadScheduler} likewise keeps its {@code ThreadParker} and {@code ThreadWorkqueue}
 * apart.
 */
package dev.refkern.mm.sched;
