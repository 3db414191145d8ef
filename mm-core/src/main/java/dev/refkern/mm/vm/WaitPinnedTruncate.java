package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.PolicySpec;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * {@code truncate.pinned=wait}: truncate sleeps until a pinned folio's pins drop, then removes it,
 * as DAX's {@code break_layouts} ({@code dax_layout_busy_page()}, {@code fs/dax.c}) waits for a
 * busy page before a filesystem frees its blocks. No folio is orphaned, but a long-term pin blocks
 * truncate for as long as it is held. The sleep is killable: the VFS sleeps first in {@link
 * Truncate#breakLayouts}, before {@code i_size} changes, and a fatal signal to the task ({@link
 * Task#kill()}) fails {@code ftruncate()} with {@code EINTR}, the file unchanged. A pin taken after
 * that point makes the truncate itself sleep, woken only by the machine's fatal signal.
 */
@PolicySpec(
    param = PinnedTruncatePolicy.PARAM,
    name = "wait",
    mainline = false,
    proposal = "DAX break_layouts, fs/dax.c (no seed file)")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class WaitPinnedTruncate extends PinnedTruncatePolicy {
  private final AtomicLong waits = new AtomicLong();
  private final AtomicLong interrupted = new AtomicLong();

  /** Binds the policy to a booted kernel. */
  public WaitPinnedTruncate(PinnedPageCacheContext context) {
    super(context);
  }

  @Override
  protected Action decide(AddressSpace mapping, long head) {
    waits.incrementAndGet();
    return Action.WAIT;
  }

  @Override
  public boolean awaitUnpinned(
      AddressSpace mapping, long head, java.util.function.BooleanSupplier fatalSignalPending) {
    if (context
        .pinWait()
        .awaitUnpinnedKillable(head, context.maybeDmaPinned(), fatalSignalPending)) {
      return true;
    }
    interrupted.incrementAndGet();
    return false;
  }

  @Override
  public boolean waitsForPins() {
    return true;
  }

  @Override
  protected void addCounters(Map<String, Long> counters) {
    counters.put("waits", waits.get());
    counters.put("interrupted", interrupted.get());
  }
}
