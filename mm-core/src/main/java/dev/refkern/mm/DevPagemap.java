package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.spi.DevPagemapOps;
import org.apiguardian.api.API;

/**
 * A driver's device memory ({@code struct dev_pagemap}): its type, its ops, and the pfn range that
 * {@code memremap_pages()} gave it in {@code ZONE_DEVICE}.
 */
@API(status = STABLE, since = "0.1.0")
public final class DevPagemap {
  /** {@code enum memory_type}. */
  public enum MemoryType {
    /** {@code MEMORY_DEVICE_PRIVATE}: not CPU addressable; mapped by device-private entries. */
    DEVICE_PRIVATE,
    /** {@code MEMORY_DEVICE_COHERENT}: CPU addressable device memory. */
    DEVICE_COHERENT,
    /** {@code MEMORY_DEVICE_FS_DAX}: persistent memory behind a DAX filesystem. */
    FS_DAX,
    /** {@code MEMORY_DEVICE_GENERIC}. */
    GENERIC,
    /** {@code MEMORY_DEVICE_PCI_P2PDMA}. */
    PCI_P2PDMA
  }

  private final MemoryType type;
  private final DevPagemapOps ops;
  private final Object owner;
  volatile int id;
  volatile long startPfn = -1;
  volatile long nrPages;

  /**
   * @param owner the driver's identity ({@code pgmap->owner}), compared by {@code hmm_range_fault}
   *     and {@code migrate_vma}
   */
  public DevPagemap(MemoryType type, DevPagemapOps ops, Object owner) {
    if (type == null || ops == null) {
      throw new KernelException(Errno.EINVAL, "dev_pagemap needs a type and ops");
    }
    this.type = type;
    this.ops = ops;
    this.owner = owner;
  }

  public MemoryType type() {
    return type;
  }

  public DevPagemapOps ops() {
    return ops;
  }

  public Object owner() {
    return owner;
  }

  /** The id stored in each of its pages' descriptors; 0 before {@code memremap_pages()}. */
  public int id() {
    return id;
  }

  /** First pfn of the range, or -1 before {@code memremap_pages()}. */
  public long startPfn() {
    return startPfn;
  }

  /** Pages in the range. */
  public long nrPages() {
    return nrPages;
  }

  /** True when {@code pfn} lies in this pagemap's range. */
  public boolean contains(long pfn) {
    return startPfn >= 0 && pfn >= startPfn && pfn < startPfn + nrPages;
  }
}
