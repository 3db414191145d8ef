package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * {@code BUG: sleeping function called from invalid context}: {@link Scheduler#mightSleep()} was
 * reached in atomic context, such as a block-I/O completion.
 */
@API(status = STABLE, since = "0.1.0")
public final class SleepInAtomicError extends Error {
  private static final long serialVersionUID = 1L;

  public SleepInAtomicError(String message) {
    super(message);
  }
}
