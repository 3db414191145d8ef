package dev.refkern.mm.spi;

import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.VmFault;
import org.apiguardian.api.API;

/**
 * The driver's callbacks for its device memory ({@code struct dev_pagemap_ops}).
 *
 * <p>A driver (the HMM dmirror, a GPU model) implements this; mm-core calls it.
 */
@API(status = STABLE, since = "0.1.0")
public interface DevPagemapOps {
  /** {@code page_free()}: the last reference to a device page dropped; it is the driver's again. */
  void pageFree(long pfn);

  /**
   * {@code migrate_to_ram()}: the CPU touched a {@code MEMORY_DEVICE_PRIVATE} page. Returns 0 or a
   * {@code VM_FAULT_*} code. The default refuses ({@code VM_FAULT_SIGBUS}), as a driver without
   * private memory would.
   *
   * @param owner the faulting VMA ({@code vmf->vma}, a {@code dev.refkern.mm.vm.Vma}); typed {@code
   *     Object} so this package does not depend on {@code vm}
   */
  default int migrateToRam(long pfn, Object owner, long address) {
    return VmFault.VM_FAULT_SIGBUS;
  }

  /**
   * Copies device page {@code devicePfn} into system page {@code dstPfn} with the device's DMA
   * engine (what a driver's {@code migrate_to_ram} does before {@code migrate_vma_pages()}), for
   * {@code hmm.file_pages=} writeback bounce pages and migrations back that mm-core starts (beyond
   * mainline, seed 004). Default false: the driver has no engine of its own and mm-core copies the
   * simulated frames.
   *
   * @return true if the driver copied the page
   */
  default boolean copyToRam(long devicePfn, long dstPfn) {
    return false;
  }
}
