package dev.refkern.fs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * The {@code fallocate()} mode bits of {@code include/uapi/linux/falloc.h}, with Linux's values.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Falloc {
  /** {@code FALLOC_FL_KEEP_SIZE}: allocate, but leave {@code i_size} alone. */
  public static final int FALLOC_FL_KEEP_SIZE = 0x01;

  /** {@code FALLOC_FL_PUNCH_HOLE}: deallocate; only with {@link #FALLOC_FL_KEEP_SIZE}. */
  public static final int FALLOC_FL_PUNCH_HOLE = 0x02;

  public static final int FALLOC_FL_NO_HIDE_STALE = 0x04;
  public static final int FALLOC_FL_COLLAPSE_RANGE = 0x08;
  public static final int FALLOC_FL_ZERO_RANGE = 0x10;
  public static final int FALLOC_FL_INSERT_RANGE = 0x20;
  public static final int FALLOC_FL_UNSHARE_RANGE = 0x40;

  /** {@code FALLOC_FL_SUPPORTED_MASK}: the bits {@code vfs_fallocate()} knows. */
  static final int SUPPORTED_MASK = 0x7f & ~FALLOC_FL_NO_HIDE_STALE;

  private Falloc() {}
}
