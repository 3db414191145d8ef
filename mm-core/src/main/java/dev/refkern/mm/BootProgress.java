package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * How far boot's {@code memmap_init()} and {@code memblock_free_all()} have got: the two loops over
 * every frame that make booting a large memory slow.
 *
 * <p>The kernel prints nothing while they run; refkern reports progress so a front end can draw it.
 * Calls come from the booting thread, with {@code total} the same on every call and {@code done}
 * never decreasing; the last call has {@code done == total}. mm-core draws nothing itself.
 */
@FunctionalInterface
@API(status = EXPERIMENTAL, since = "0.1.0")
public interface BootProgress {
  /** Reports nothing. */
  BootProgress NONE = (done, total) -> {};

  /**
   * Boot has done {@code done} of {@code total} units of work (frames whose descriptors exist, plus
   * RAM frames freed into the buddy lists).
   */
  void update(long done, long total);
}
