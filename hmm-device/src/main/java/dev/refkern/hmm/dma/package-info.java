/**
 * The simulated DMA devices: one DMA engine every device shares, an RDMA NIC's memory registration
 * by long-term pin ({@code ib_umem}), an on-demand-paging registration that never pins ({@code
 * ib_umem_odp}), and the device-side page tables they program.
 */
package dev.refkern.hmm.dma;
