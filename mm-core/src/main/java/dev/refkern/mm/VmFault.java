package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * {@code vm_fault_t}: the {@code VM_FAULT_*} bits a fault handler returns, as in the kernel's
 * {@code enum vm_fault_reason} ({@code include/linux/mm_types.h}); the values are the kernel's.
 *
 * <p>The one home of these constants, for the fault path and for the SPI callbacks that return them
 * ({@code page_mkwrite}, {@code dev_pagemap_ops.migrate_to_ram}).
 */
@API(status = STABLE, since = "0.1.0")
public final class VmFault {
  /** {@code VM_FAULT_OOM}: out of memory. */
  public static final int VM_FAULT_OOM = 0x000001;

  /** {@code VM_FAULT_SIGBUS}: bad access; the task gets {@code SIGBUS}. */
  public static final int VM_FAULT_SIGBUS = 0x000002;

  /** {@code VM_FAULT_SIGSEGV}: the task gets {@code SIGSEGV}. */
  public static final int VM_FAULT_SIGSEGV = 0x000040;

  /** {@code VM_FAULT_NOPAGE}: the handler installed no page (e.g. truncated meanwhile): retry. */
  public static final int VM_FAULT_NOPAGE = 0x000100;

  private VmFault() {}
}
