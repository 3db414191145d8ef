package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * {@code mm/migrate_device.c}: migration of anonymous pages between system memory and device
 * memory, driven by a device driver, and {@code make_device_exclusive()} ({@code mm/rmap.c}).
 *
 * <p>It lives in mm-core, beside {@link Migrate}, because it rewrites page tables under their lock,
 * the rmap and the memmap, which mm-core does not export; the driver-facing side (HMM, drivers,
 * device models) is in the {@code dev.refkern.hmm} module.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class MigrateDevice {
  /** {@code MIGRATE_VMA_SELECT_SYSTEM}: collect pages in system memory. */
  public static final int SELECT_SYSTEM = 1 << 0;

  /** {@code MIGRATE_VMA_SELECT_DEVICE_PRIVATE}: collect device-private pages of the owner. */
  public static final int SELECT_DEVICE_PRIVATE = 1 << 1;

  /** {@code MIGRATE_VMA_SELECT_DEVICE_COHERENT}: collect device-coherent pages of the owner. */
  public static final int SELECT_DEVICE_COHERENT = 1 << 2;

  /** {@code MIGRATE_PFN_VALID}: the entry holds a pfn. */
  public static final long MIGRATE_PFN_VALID = 1L << 0;

  /** {@code MIGRATE_PFN_MIGRATE}: the page is to be migrated. */
  public static final long MIGRATE_PFN_MIGRATE = 1L << 1;

  /** {@code MIGRATE_PFN_WRITE}: the page was mapped writable. */
  public static final long MIGRATE_PFN_WRITE = 1L << 3;

  /** {@code MIGRATE_PFN_SHIFT}. */
  public static final int MIGRATE_PFN_SHIFT = 6;

  MigrateDevice() {}

  /** {@code migrate_pfn()}: {@code pfn} as a valid entry. */
  public static long migratePfn(long pfn) {
    return (pfn << MIGRATE_PFN_SHIFT) | MIGRATE_PFN_VALID;
  }

  /** {@code migrate_pfn_to_page()}: the pfn of an entry, or -1 if it is not valid. */
  public static long pfnOf(long mpfn) {
    return (mpfn & MIGRATE_PFN_VALID) == 0 ? -1 : mpfn >>> MIGRATE_PFN_SHIFT;
  }

  /**
   * {@code migrate_vma_setup()}: collects the range's pages selected by {@code args.flags} (the
   * pgmap owner decides which device pages), isolates and locks them, and replaces their mappings
   * by migration entries inside an {@code MMU_NOTIFY_MIGRATE} range carrying {@code
   * args.pgmapOwner}. The caller holds {@code mmap_lock} for reading.
   *
   * @throws dev.refkern.mm.KernelException {@code EINVAL} for a null VMA, an unaligned, empty or
   *     reversed range, a range not inside the VMA, or null arrays shorter than the range
   */
  public void migrateVmaSetup(MigrateVma args) {
    throw new UnsupportedOperationException("migrate_vma_setup");
  }

  /**
   * {@code migrate_vma_pages()}: moves each source whose destination the driver filled: the page's
   * state (mapping, index, anon rmap) goes to the new page; sources that cannot move lose {@code
   * MIGRATE_PFN_MIGRATE}. The driver has copied the data before.
   */
  public void migrateVmaPages(MigrateVma args) {
    throw new UnsupportedOperationException("migrate_vma_pages");
  }

  /**
   * {@code migrate_vma_finalize()}: points each migration entry at the new page (a device-private
   * entry for device-private memory, a normal pte otherwise) or back at the old one, unlocks and
   * releases both, freeing the old pages that moved.
   */
  public void migrateVmaFinalize(MigrateVma args) {
    throw new UnsupportedOperationException("migrate_vma_finalize");
  }

  /**
   * {@code migrate_device_range()}: collects {@code npages} device pages from {@code startPfn} for
   * eviction, wherever they are mapped, and replaces their mappings by migration entries; {@code
   * srcPfns} receives their entries (free pages are not selected).
   */
  public void migrateDeviceRange(long[] srcPfns, long startPfn, int npages) {
    throw new UnsupportedOperationException("migrate_device_range");
  }

  /**
   * {@code migrate_device_pages()}: as {@link #migrateVmaPages} for {@link #migrateDeviceRange}.
   */
  public void migrateDevicePages(long[] srcPfns, long[] dstPfns, int npages) {
    throw new UnsupportedOperationException("migrate_device_pages");
  }

  /** {@code migrate_device_finalize()}: as {@link #migrateVmaFinalize} for a device range. */
  public void migrateDeviceFinalize(long[] srcPfns, long[] dstPfns, int npages) {
    throw new UnsupportedOperationException("migrate_device_finalize");
  }

  /**
   * {@code make_device_exclusive()}: faults the page at {@code addr} in for writing and replaces
   * its pte by a device-exclusive entry inside an {@code MMU_NOTIFY_EXCLUSIVE} range carrying
   * {@code owner}. The caller holds {@code mmap_lock} for reading.
   *
   * @return the pfn, locked and with a reference the caller drops with {@code folio_unlock} and
   *     {@code folio_put}
   * @throws dev.refkern.mm.KernelException {@code EFAULT} where no VMA is or a write fault fails,
   *     {@code EOPNOTSUPP} for a non-anonymous page, {@code EBUSY} if the entry could not be made
   */
  public long makeDeviceExclusive(MmStruct mm, long addr, Object owner) {
    throw new UnsupportedOperationException("make_device_exclusive");
  }
}
