/**
 * The one injected source of asynchrony: workqueues, kthreads, sleeping locks, completions, wait
 * queues, the completion (softirq) context and {@code jiffies}.
 *
 * <p>{@link dev.refkern.mm.sched.ThreadScheduler} runs them on real threads, for speed; {@link
 * dev.refkern.mm.sched.SimScheduler} runs them on one simulated CPU whose seeded scheduler makes
 * every interleaving reproducible from its seed.
 */
package dev.refkern.mm.sched;
