package dev.refkern.fs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * The open flags and seek origins of {@code include/uapi/asm-generic/fcntl.h} and {@code
 * include/uapi/linux/fs.h}, with Linux's values.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Fcntl {
  /** {@code O_ACCMODE}: the access-mode bits. */
  public static final int O_ACCMODE = 03;

  public static final int O_RDONLY = 00;
  public static final int O_WRONLY = 01;
  public static final int O_RDWR = 02;
  public static final int O_CREAT = 0100;
  public static final int O_EXCL = 0200;
  public static final int O_TRUNC = 01000;
  public static final int O_APPEND = 02000;

  /** {@code O_DSYNC}: each write's data is durable when it returns. */
  public static final int O_DSYNC = 010000;

  /** {@code O_DIRECT}: I/O between user memory and the device, bypassing the page cache. */
  public static final int O_DIRECT = 040000;

  /** {@code O_SYNC} ({@code __O_SYNC | O_DSYNC}): data and metadata durable at return. */
  public static final int O_SYNC = 04010000;

  /** {@code SEEK_SET}: from the start. */
  public static final int SEEK_SET = 0;

  /** {@code SEEK_CUR}: from the current position. */
  public static final int SEEK_CUR = 1;

  /** {@code SEEK_END}: from the end of the file. */
  public static final int SEEK_END = 2;

  private Fcntl() {}
}
