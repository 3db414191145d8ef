package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PhysicalMemory;
import java.util.function.LongPredicate;
import org.apiguardian.api.API;

/**
 * What the {@code hmm.file_pages=} policies may use of a booted kernel ({@code mm/migrate_device.c}
 * beyond mainline): its memory, and the migration of one device-private page-cache folio back to
 * system memory.
 *
 * @param mem the booted physical memory (scheduler, clock, device pagemaps)
 * @param migrateHome migrates the device folio {@code pfn} of a page cache to system memory through
 *     its driver's {@code copyToRam}; false if it could not be taken (busy, freed meanwhile)
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public record DeviceFilePageContext(PhysicalMemory mem, LongPredicate migrateHome) {}
