package dev.refkern.mm;

/** A call failed the way the kernel's would: with a negative errno ({@code -EINVAL}, ...). */
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
