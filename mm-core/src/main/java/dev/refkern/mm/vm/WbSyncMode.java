package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * {@code enum writeback_sync_modes} ({@code include/linux/writeback.h}), the {@code sync_mode} of a
 * {@code struct writeback_control}: whether a writeback pass is background work or must make the
 * data durable.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public enum WbSyncMode {
  /** {@code WB_SYNC_NONE}: background writeback and reclaim's {@code pageout()}; may skip. */
  NONE,
  /** {@code WB_SYNC_ALL}: data integrity ({@code fsync}, {@code sync}); every dirty folio. */
  ALL
}
