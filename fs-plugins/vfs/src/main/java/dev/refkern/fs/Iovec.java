package dev.refkern.fs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * One segment of a vectored read or write, {@code struct iovec} ({@code include/uapi/linux/uio.h}):
 * {@code len} bytes of the task's memory at {@code base}.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record Iovec(long base, long len) {}
