package dev.refkern.block;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A block device driver ({@code struct block_device} with its {@code blk_mq_ops}): takes bios and
 * completes each exactly once, calling {@link Bio#endio()} in completion context.
 */
@API(status = STABLE, since = "0.1.0")
public interface BlockDevice {
  /** {@code BLK_FEAT_STABLE_WRITES}: data must not change while a write is in flight. */
  int BLK_FEAT_STABLE_WRITES = 1;

  /** {@code BLK_FEAT_WRITE_CACHE}: writes land in a volatile cache until flushed. */
  int BLK_FEAT_WRITE_CACHE = 1 << 1;

  /** {@code BLK_FEAT_FUA}. */
  int BLK_FEAT_FUA = 1 << 2;

  String name();

  /** Capacity in 512-byte sectors ({@code get_capacity()}). */
  long capacitySectors();

  /** {@code BLK_FEAT_*} bits. */
  int features();

  /** {@code submit_bio()}: queue the bio; it completes later or at once, never not at all. */
  void submitBio(Bio bio);
}
