package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A simulated thread threw, the model of a kernel {@code Oops}: the {@link SimScheduler} run
 * stopped and the cause is the thread's exception; the message names the thread and the seed.
 */
@API(status = STABLE, since = "0.1.0")
public final class SimFailureException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final long seed;

  public SimFailureException(long seed, String message, Throwable cause) {
    super(message, cause);
    this.seed = seed;
  }

  /** The seed that replays the failure. */
  public long seed() {
    return seed;
  }
}
