package dev.refkern.notifier;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * A call that the kernel would fail with an errno, such as {@code -EINVAL} from {@code
 * mmu_interval_notifier_insert()}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class NotifierException extends RuntimeException {
  private final int errno;

  /**
   * Creates the exception.
   *
   * @param errno the positive errno, e.g. {@link NotifierErrno#EINVAL}
   * @param message what was wrong
   */
  public NotifierException(int errno, String message) {
    super(NotifierErrno.name(errno) + ": " + message);
    this.errno = Math.abs(errno);
  }

  /**
   * The errno the kernel would have returned, as a positive number.
   *
   * @return e.g. {@code 22} for {@code EINVAL}
   */
  public int errno() {
    return errno;
  }
}
