package dev.refkern.notifier;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * Why a range is invalidated, {@code enum mmu_notifier_event}.
 *
 * <p>A secondary MMU may use the event to pick a cheaper response (for example, downgrade to read
 * only for {@link #PROTECTION_VMA} instead of tearing the mapping down).
 */
@API(status = STABLE, since = "0.1.0")
public enum MmuNotifierEvent {
  /** {@code MMU_NOTIFY_UNMAP}: the range is unmapped (munmap) and will not come back. */
  UNMAP,
  /** {@code MMU_NOTIFY_CLEAR}: page table entries are cleared (truncate, {@code MADV_DONTNEED}). */
  CLEAR,
  /** {@code MMU_NOTIFY_PROTECTION_VMA}: the protection of the whole VMA changes (mprotect). */
  PROTECTION_VMA,
  /** {@code MMU_NOTIFY_PROTECTION_PAGE}: the protection of some pages changes (write protect). */
  PROTECTION_PAGE,
  /** {@code MMU_NOTIFY_SOFT_DIRTY}: soft-dirty tracking write protects the range. */
  SOFT_DIRTY,
  /**
   * {@code MMU_NOTIFY_RELEASE}: the address space is torn down (exit), range {@code [0,
   * ULONG_MAX)}.
   */
  RELEASE,
  /**
   * {@code MMU_NOTIFY_MIGRATE}: pages are migrated; {@code owner} names the driver that started it.
   */
  MIGRATE,
  /**
   * {@code MMU_NOTIFY_EXCLUSIVE}: device-exclusive entries are installed ({@code owner} is set).
   */
  EXCLUSIVE,
  /**
   * {@code MMU_NOTIFY_TRUNCATE}: file pages in the range are truncated and must be revoked from the
   * device, which redirects its DMA to a dummy page and drops its pins.
   *
   * <p>Proposed by Jérôme Glisse in seed {@code 001_c473afd3af432c8a.txt} (Dec 2018, "revoke
   * through mmu notifier"); not in mainline, which reports truncation as {@link #CLEAR}.
   */
  TRUNCATE
}
