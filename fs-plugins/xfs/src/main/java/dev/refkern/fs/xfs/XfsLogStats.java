package dev.refkern.fs.xfs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * The log counters of {@code /sys/fs/xfs/<dev>/stats/stats} ({@code struct xfsstats}, {@code
 * fs/xfs/xfs_stats.h}: {@code xs_log_writes}, {@code xs_log_blocks}, {@code xs_log_force}, {@code
 * xs_push_ail}) of one mounted XFS, plus what log recovery did at mount.
 *
 * @param recordsWritten log records ({@code xlog_rec_header} and payload) written ({@code
 *     xs_log_writes})
 * @param bytesLogged bytes of log records written, headers and padding included ({@code
 *     xs_log_blocks} in bytes)
 * @param forces log forces asked for ({@code xs_log_force})
 * @param checkpoints AIL pushes that wrote the logged buffers home and moved the tail ({@code
 *     xs_push_ail})
 * @param transactionsReplayed committed transactions replayed by recovery at open
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record XfsLogStats(
    long recordsWritten,
    long bytesLogged,
    long forces,
    long checkpoints,
    long transactionsReplayed) {}
