package dev.refkern.fs.xfs;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * The free-space counters of a mounted xfs, {@code struct xfs_fsop_counts} ({@code
 * XFS_IOC_FSCOUNTS}, what {@code statfs} derives from): blocks in the AGs' free space, those free
 * for new data ({@code sb_fdblocks}: less delayed-allocation reservations and the reserve pool),
 * the delayed reservations themselves, freed blocks still busy, and free inodes.
 *
 * @param dataBlocks blocks on the filesystem ({@code sb_dblocks})
 * @param freeBlocks blocks in the free-space indexes, busy ones not counted
 * @param availableBlocks {@code sb_fdblocks}: what a new write may still reserve
 * @param delallocBlocks blocks reserved by delayed allocation, not allocated yet
 * @param busyBlocks freed blocks waiting for their free to be on disk ({@code xfs_extent_busy})
 * @param freeInodes inodes free in the AGIs
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record XfsCounts(
    long dataBlocks,
    long freeBlocks,
    long availableBlocks,
    long delallocBlocks,
    long busyBlocks,
    long freeInodes) {}
