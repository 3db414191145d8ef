package dev.refkern.fs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * What {@code stat()} returns, {@code struct kstat} ({@code include/linux/stat.h}): times in
 * nanoseconds since the epoch, {@code blocks} in 512-byte units of page-cache pages held.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record Stat(
    long ino, int mode, int nlink, long size, long blocks, long atime, long mtime, long ctime) {}
