package dev.refkern.mm;

/**
 * {@code BUG()}: the simulated kernel stopped. Its memmap is left on disk for post-mortem ({@code
 * refkern inspect}); every later call into the dead kernel throws this again.
 */
public final class KernelBugException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public KernelBugException(String message) {
    super("kernel BUG: " + message);
  }
}
