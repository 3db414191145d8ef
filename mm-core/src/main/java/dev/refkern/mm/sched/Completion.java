package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A one-shot event to wait for, {@code struct completion}, counting as the kernel's does: each
 * {@link #complete()} lets one {@link #waitForCompletion()} through, {@link #completeAll()} lets
 * every present and future waiter through.
 */
@API(status = STABLE, since = "0.1.0")
public interface Completion {

  /** Lets one waiter through, {@code complete()}. */
  void complete();

  /** Lets every waiter through until {@link #reinit()}, {@code complete_all()}. */
  void completeAll();

  /** Sleeps until completed and consumes one completion, {@code wait_for_completion()}. */
  void waitForCompletion();

  /** Whether a wait would return at once, {@code completion_done()}. */
  boolean done();

  /** Forgets past completions, {@code reinit_completion()}. */
  void reinit();
}
