package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PhysicalMemory;
import java.util.function.LongPredicate;
import org.apiguardian.api.API;

/**
 * What the {@code writeback.pinned=} and {@code truncate.pinned=} policies may use of a booted
 * kernel ({@code mm/page-writeback.c}, {@code mm/truncate.c}): its memory and {@code
 * folio_maybe_dma_pinned()} of the booted pin-tracking policy.
 *
 * @param mem the booted physical memory
 * @param maybeDmaPinned {@code folio_maybe_dma_pinned()} for pfns the page cache holds
 * @param pinWait where a policy sleeps until a folio is unpinned; every unpin wakes it
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public record PinnedPageCacheContext(
    PhysicalMemory mem, LongPredicate maybeDmaPinned, PinWaitQueue pinWait) {}
