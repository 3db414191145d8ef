package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PageReclaim;
import java.util.function.Supplier;
import org.apiguardian.api.API;

/**
 * The composition root's one late binding of {@code mm/vmscan.c} into {@code mm/page_alloc.c}:
 * physical memory is booted before the virtual memory it reclaims from, so it receives this
 * supplier, which gives {@link PageReclaim#NONE} until {@link VirtualMemory#boot} (or {@link
 * MmModule}) has built the VM and bound it. Only those bind it; nothing else can.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class LateReclaim implements Supplier<PageReclaim> {
  private volatile PageReclaim target = PageReclaim.NONE;

  /** Unbound: no reclaim yet. */
  public LateReclaim() {}

  @Override
  public PageReclaim get() {
    return target;
  }

  /** Once, when the VM exists. */
  void bind(PageReclaim reclaim) {
    if (target != PageReclaim.NONE) {
      throw new IllegalStateException("physical memory's reclaim is already bound");
    }
    target = reclaim;
  }
}
