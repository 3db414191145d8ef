package dev.refkern.mm.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.internal.page.BuddyAllocator;
import dev.refkern.mm.internal.pagecache.AddressSpaceState;
import dev.refkern.mm.internal.pageops.MemmapOps;
import java.util.function.Function;
import org.apiguardian.api.API;

/**
 * mm-core's private access between its packages (the JDK's {@code SharedSecrets} pattern): the
 * unchecked memmap for paths whose pfns come from page tables and folios, and an address_space's
 * private fields for the vm package's filemap, truncate, page-writeback and migrate code, and the
 * buddy allocator's internals for compaction. The package is not exported, so other modules only
 * ever see the checked memmap, the {@code PageAllocator} API and public accessors.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class MmInternals {
  private static volatile Function<PhysicalMemory, MemmapOps> rawMemmap;
  private static volatile Function<AddressSpace, AddressSpaceState> addressSpaceState;
  private static volatile Function<PhysicalMemory, BuddyAllocator> buddy;

  private MmInternals() {}

  /** Set once by {@link PhysicalMemory}'s class initialiser. */
  public static void setAccess(
      Function<PhysicalMemory, MemmapOps> rawMemmapAccess,
      Function<PhysicalMemory, BuddyAllocator> buddyAccess) {
    rawMemmap = rawMemmapAccess;
    buddy = buddyAccess;
  }

  /** The memmap of {@code mem} without the public pfn check. */
  public static MemmapOps rawMemmap(PhysicalMemory mem) {
    return rawMemmap.apply(mem);
  }

  /** Set once by {@link AddressSpace}'s class initialiser. */
  public static void setAddressSpaceState(Function<AddressSpace, AddressSpaceState> access) {
    addressSpaceState = access;
  }

  /** The private fields of {@code mapping} ({@code i_pages}, flags, counters). */
  public static AddressSpaceState state(AddressSpace mapping) {
    return addressSpaceState.apply(mapping);
  }

  /** The buddy allocator of {@code mem}, with the free-block operations compaction needs. */
  public static BuddyAllocator buddy(PhysicalMemory mem) {
    return buddy.apply(mem);
  }
}
