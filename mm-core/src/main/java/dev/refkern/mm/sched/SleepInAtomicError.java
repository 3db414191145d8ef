package dev.refkern.mm.sched;

/**
 * {@code BUG: sleeping function called from invalid context}: {@link Scheduler#mightSleep()} was
 * reached in atomic context, such as a block-I/O completion.
 */
public final class SleepInAtomicError extends Error {
  private static final long serialVersionUID = 1L;

  public SleepInAtomicError(String message) {
    super(message);
  }
}
