package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** A call failed the way the kernel's would: with a negative errno ({@code -EINVAL}, ...). */
@API(status = STABLE, since = "0.1.0")
public final class KernelException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final Errno errno;

  public KernelException(Errno errno, String message) {
    super(errno + ": " + message);
    this.errno = errno;
  }

  /** The errno the kernel would return (negated). */
  public Errno errno() {
    return errno;
  }
}
