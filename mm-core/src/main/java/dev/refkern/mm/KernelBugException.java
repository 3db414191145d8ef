package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * {@code BUG()}: the simulated kernel stopped. Its memmap is left on disk for post-mortem ({@code
 * refkern inspect}); every later call into the dead kernel throws this again.
 */
@API(status = STABLE, since = "0.1.0")
public final class KernelBugException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public KernelBugException(String message) {
    super("kernel BUG: " + message);
  }
}
