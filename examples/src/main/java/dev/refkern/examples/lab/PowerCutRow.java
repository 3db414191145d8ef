package dev.refkern.examples.lab;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * One row of the power-cut matrix: one filesystem under one writeback and one truncate policy, the
 * workload recorded with the log-writes recorder and replayed to every FLUSH/FUA point, each state
 * recovered, fsck'd and classified.
 *
 * @param fs the filesystem type
 * @param writeback the {@code writeback.pinned=} policy
 * @param truncate the {@code truncate.pinned=} policy
 * @param seed seeds the workload
 * @param states crash states replayed (FLUSH/FUA points)
 * @param consistent states that recovered consistent and lost nothing beyond the policy's promise
 * @param dataLost states that recovered consistent but lost data the policy promised to keep
 * @param metadataCorrupt states whose fsck found metadata corruption (or that failed to mount)
 * @param firstBad the first bad state's log entry and what was wrong, or empty
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record PowerCutRow(
    String fs,
    String writeback,
    String truncate,
    long seed,
    int states,
    int consistent,
    int dataLost,
    int metadataCorrupt,
    String firstBad) {}
