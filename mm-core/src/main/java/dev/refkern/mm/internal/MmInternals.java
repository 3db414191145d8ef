package dev.refkern.mm.internal;

import dev.refkern.mm.Memmap;
import dev.refkern.mm.PhysicalMemory;
import java.util.function.Function;

/**
 * mm-core's private access between its packages (the JDK's {@code SharedSecrets} pattern): the
 * unchecked memmap for paths whose pfns come from page tables and folios. The package is not
 * exported, so other modules only ever see the checked memmap.
 */
public final class MmInternals {
  private static volatile Function<PhysicalMemory, Memmap> rawMemmap;

  private MmInternals() {}

  /** Set once by {@link PhysicalMemory}'s class initialiser. */
  public static void setRawMemmap(Function<PhysicalMemory, Memmap> access) {
    rawMemmap = access;
  }

  /** The memmap of {@code mem} without the public pfn check. */
  public static Memmap rawMemmap(PhysicalMemory mem) {
    return rawMemmap.apply(mem);
  }
}
