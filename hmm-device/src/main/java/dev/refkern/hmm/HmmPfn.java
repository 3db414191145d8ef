package dev.refkern.hmm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * The {@code HMM_PFN_*} bits of an {@code hmm_range_fault()} pfn array ({@code
 * include/linux/hmm.h}): output flags in the high bits, the pfn in the low bits, and the request
 * flags a driver sets in {@code range->default_flags} or per entry.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class HmmPfn {
  /** {@code HMM_PFN_VALID}: the pfn is valid and the CPU page table maps it. */
  public static final long VALID = 1L << 63;

  /** {@code HMM_PFN_WRITE}: the CPU page table maps it writable. */
  public static final long WRITE = 1L << 62;

  /** {@code HMM_PFN_ERROR}: the access is not possible (e.g. a {@code PROT_NONE} VMA). */
  public static final long ERROR = 1L << 61;

  /** {@code HMM_PFN_REQ_FAULT}: fault the page in if it is not valid. */
  public static final long REQ_FAULT = VALID;

  /** {@code HMM_PFN_REQ_WRITE}: fault it in writable. */
  public static final long REQ_WRITE = WRITE;

  /**
   * {@code HMM_PFN_ORDER_SHIFT} (6.15+ layout): five bits above the pfn give the order of the CPU
   * mapping ({@code hmm_pfn_to_map_order()}).
   */
  public static final int ORDER_SHIFT = 64 - 11;

  /** {@code HMM_PFN_FLAGS}: every bit above the pfn (flags and order). */
  public static final long FLAGS = ~((1L << ORDER_SHIFT) - 1);

  /** {@code hmm_pfn_flags_order()}: the order bits for a mapping of {@code order}. */
  public static long flagsOrder(int order) {
    return (long) order << ORDER_SHIFT;
  }

  /** {@code hmm_pfn_to_map_order()}: the order of the CPU mapping of an entry. */
  public static int mapOrder(long hmmPfn) {
    return (int) (hmmPfn >>> ORDER_SHIFT) & 0x1f;
  }

  private HmmPfn() {}

  /** {@code hmm_pfn_to_page()}: the pfn of an entry. */
  public static long pfn(long hmmPfn) {
    return hmmPfn & ~FLAGS;
  }
}
