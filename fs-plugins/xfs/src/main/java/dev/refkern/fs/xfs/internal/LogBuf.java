package dev.refkern.fs.xfs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;

/**
 * A buffer log item ({@code struct xfs_buf_log_item}): the new contents of one whole metadata
 * block, as a transaction logs it.
 *
 * @param blkno the block's number on the device, in filesystem blocks
 * @param data the block's bytes, exactly one filesystem block; the log keeps its own copy
 */
@API(status = INTERNAL, since = "0.1.0")
public record LogBuf(long blkno, byte[] data) {}
