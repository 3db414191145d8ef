package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * The simulated CPU can make no progress, the model of a hung-task or lockup report ({@code INFO:
 * task blocked for more than 120 seconds}, {@code BUG: soft lockup}).
 *
 * <p>Thrown by {@link SimScheduler} when every thread sleeps and no timer is pending, or when its
 * watchdog sees a thread stuck outside the simulator; the message names the seed and every blocked
 * thread with what it waits on.
 */
@API(status = STABLE, since = "0.1.0")
public final class SimDeadlockError extends Error {
  private static final long serialVersionUID = 1L;
  private final long seed;

  public SimDeadlockError(long seed, String message) {
    super(message);
    this.seed = seed;
  }

  /** The seed that replays the deadlock. */
  public long seed() {
    return seed;
  }
}
