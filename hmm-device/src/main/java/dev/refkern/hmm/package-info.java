/**
 * Heterogeneous memory management ({@code mm/hmm.c}, {@code lib/test_hmm.c}): device memory the CPU
 * cannot address, mirrors that never pin, and the simulated DMA devices.
 */
package dev.refkern.hmm;
