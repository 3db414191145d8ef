package dev.refkern.hmm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.notifier.MmuIntervalNotifier;
import org.apiguardian.api.API;

/**
 * {@code struct hmm_range} ({@code include/linux/hmm.h}): the arguments and the output array of one
 * {@link Hmm#rangeFault} call. {@code hmmPfns} holds one entry per page of {@code [start, end)}:
 * request flags on input ({@link HmmPfn#REQ_FAULT}, {@link HmmPfn#REQ_WRITE}), {@code HMM_PFN_*}
 * output flags and the pfn on return.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class HmmRange {
  /** The interval notifier whose sequence guards the result ({@code range->notifier}). */
  public MmuIntervalNotifier notifier;

  /** What {@link MmuIntervalNotifier#readBegin()} returned ({@code range->notifier_seq}). */
  public long notifierSeq;

  /** Page-aligned first address. */
  public long start;

  /** Page-aligned end, exclusive. */
  public long end;

  /** One entry per page ({@code range->hmm_pfns}); at least {@code (end - start) >> 12} long. */
  public long[] hmmPfns;

  /** Request flags for every page ({@code range->default_flags}). */
  public long defaultFlags;

  /** Which per-entry request flags count ({@code range->pfn_flags_mask}). */
  public long pfnFlagsMask;

  /**
   * {@code range->dev_private_owner}: device-private pages whose pgmap owner is this are reported,
   * not faulted.
   */
  public Object devPrivateOwner;

  /** Number of pages in {@code [start, end)}. */
  public int npages() {
    return (int) ((end - start) >>> 12);
  }
}
