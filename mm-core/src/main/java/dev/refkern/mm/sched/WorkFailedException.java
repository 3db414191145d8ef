package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A {@code work_struct} or {@code kthread} body threw; reported by the next flush, join or
 * shutdown, so an asynchronous failure is never lost. Later failures are suppressed exceptions.
 */
@API(status = STABLE, since = "0.1.0")
public final class WorkFailedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public WorkFailedException(String message, Throwable cause) {
    super(message, cause);
  }
}
