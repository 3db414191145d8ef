package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** A kernel error number ({@code include/uapi/asm-generic/errno-base.h}); values are Linux's. */
@API(status = STABLE, since = "0.1.0")
public enum Errno {
  EPERM(1),
  ENOENT(2),
  EINTR(4),
  EIO(5),
  ENXIO(6),
  E2BIG(7),
  EBADF(9),
  EAGAIN(11),
  ENOMEM(12),
  EACCES(13),
  EFAULT(14),
  /** Block device required: a block-backed filesystem's source is not a block device. */
  ENOTBLK(15),
  EBUSY(16),
  EEXIST(17),
  EXDEV(18),
  ENODEV(19),
  ENOTDIR(20),
  EISDIR(21),
  EINVAL(22),
  EFBIG(27),
  ENOSPC(28),
  EROFS(30),
  EMLINK(31),
  ERANGE(34),
  ENAMETOOLONG(36),
  ENOTEMPTY(39),
  EOVERFLOW(75),
  EOPNOTSUPP(95),
  /** Structure needs cleaning: a memmap failed its checksum or sanity checks. */
  EUCLEAN(117);

  private final int number;

  Errno(int number) {
    this.number = number;
  }

  /** The positive errno value; the kernel returns its negation. */
  public int number() {
    return number;
  }

  /** The errno with this positive or negative number. */
  public static Errno of(int number) {
    int n = Math.abs(number);
    for (Errno e : values()) {
      if (e.number == n) {
        return e;
      }
    }
    throw new IllegalArgumentException("unknown errno " + number);
  }
}
