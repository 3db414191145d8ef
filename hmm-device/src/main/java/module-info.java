/**
 * refkern hmm-device: device memory ({@code MEMORY_DEVICE_PRIVATE}, {@code
 * MEMORY_DEVICE_COHERENT}), {@code hmm_range_fault}, the dmirror-like test driver and the DMA
 * devices the workloads use.
 */
module dev.refkern.hmm {
  requires transitive dev.refkern.mm;
  requires static transitive org.apiguardian.api;

  exports dev.refkern.hmm;
  exports dev.refkern.hmm.dma;
}
