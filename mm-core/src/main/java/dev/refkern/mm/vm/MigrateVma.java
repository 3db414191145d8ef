package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * {@code struct migrate_vma} ({@code include/linux/migrate.h}): the arguments and the result arrays
 * of one {@link MigrateDevice#migrateVmaSetup} / {@link MigrateDevice#migrateVmaPages} / {@link
 * MigrateDevice#migrateVmaFinalize} sequence. {@code src} and {@code dst} hold {@code
 * MIGRATE_PFN_*} encoded pfns ({@link MigrateDevice#migratePfn}), one per page of {@code [start,
 * end)}.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class MigrateVma {
  /** The VMA the range lies in ({@code args->vma}). */
  public Vma vma;

  /** Page-aligned start and end of the range. */
  public long start;

  public long end;

  /** Source entries, filled by setup ({@code args->src}). */
  public long[] src;

  /** Destination entries, filled by the driver between setup and pages ({@code args->dst}). */
  public long[] dst;

  /** Pages collected for migration by setup ({@code args->cpages}). */
  public long cpages;

  /** {@code MIGRATE_VMA_SELECT_*} bits. */
  public int flags;

  /** {@code args->pgmap_owner}: compared with a device page's pgmap owner, and set on notifiers. */
  public Object pgmapOwner;

  /**
   * {@code args->fault_page}: the device page {@code migrate_to_ram} was called for, or -1. It is
   * locked by the fault path, so setup does not lock it again.
   */
  public long faultPage = -1;

  /** Number of pages in {@code [start, end)}. */
  public int npages() {
    return (int) ((end - start) >>> 12);
  }
}
