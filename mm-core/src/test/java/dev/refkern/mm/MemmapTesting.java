package dev.refkern.mm;

import dev.refkern.mm.internal.pageops.MemmapOps;

/**
 * Test access to the memmap's writers ({@code struct page} updates): mm-core's tests set up
 * descriptor states the public API reaches only through longer paths.
 */
public final class MemmapTesting {
  private MemmapTesting() {}

  /** The checked memmap {@link PhysicalMemory#memmap()} hands out, with its writers. */
  public static MemmapOps ops(PhysicalMemory mem) {
    return (MemmapOps) mem.memmap();
  }
}
