package dev.refkern.notifier;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * The kernel errno values this module returns or throws, from {@code
 * include/uapi/asm-generic/errno-base.h} and {@code errno.h}.
 *
 * <p>Methods that return an {@code int} status return {@code 0} or a negated value ({@code
 * -EAGAIN}), as the kernel does; {@link NotifierException#errno()} carries the positive value.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class NotifierErrno {
  /** {@code ENOENT}: no such entry. */
  public static final int ENOENT = 2;

  /** {@code EAGAIN}: a non-blockable operation would have had to sleep. */
  public static final int EAGAIN = 11;

  /** {@code ENOMEM}: out of memory. */
  public static final int ENOMEM = 12;

  /** {@code EBUSY}: resource busy. */
  public static final int EBUSY = 16;

  /** {@code EEXIST}: already exists. */
  public static final int EEXIST = 17;

  /** {@code EINVAL}: invalid argument. */
  public static final int EINVAL = 22;

  /** {@code EOVERFLOW}: a value does not fit, e.g. an interval that wraps the address space. */
  public static final int EOVERFLOW = 75;

  private NotifierErrno() {}

  /**
   * The symbolic name of an errno, accepting either sign.
   *
   * @param errno a value such as {@code 22} or {@code -22}
   * @return {@code "EINVAL"}, or {@code "E?<n>"} for a value this class does not define
   */
  public static String name(int errno) {
    return switch (Math.abs(errno)) {
      case ENOENT -> "ENOENT";
      case EAGAIN -> "EAGAIN";
      case ENOMEM -> "ENOMEM";
      case EBUSY -> "EBUSY";
      case EEXIST -> "EEXIST";
      case EINVAL -> "EINVAL";
      case EOVERFLOW -> "EOVERFLOW";
      default -> "E?" + Math.abs(errno);
    };
  }
}
