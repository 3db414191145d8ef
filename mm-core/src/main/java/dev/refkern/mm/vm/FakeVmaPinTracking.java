package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PolicySpec;
import java.util.HashMap;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * {@code gup.pin_tracking=fake_vma}: a pin is a mapping (seed 001, Jérôme Glisse, December 2018):
 * each pin call allocates a fake VMA under a lock and inserts it in the reverse map, so a pinned
 * page shows a mapping that no page table explains. It needs that lock and an allocation per call,
 * so it cannot run in the lockless fast path: {@code pin_user_pages_fast()} always takes the slow
 * path.
 */
@PolicySpec(
    param = PinTrackingPolicy.PARAM,
    name = "fake_vma",
    mainline = false,
    proposal = "001_c473afd3af432c8a.txt, 2018-12")
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class FakeVmaPinTracking extends PinTrackingPolicy {
  /** A fake vm_area_struct: what a pin costs in memory (the kernel's is ~200 bytes). */
  public static final int FAKE_VMA_BYTES = 200;

  private final Map<Long, int[]> fakeMappings = new HashMap<>();
  private long allocations;

  /** Binds the policy to a booted kernel. */
  public FakeVmaPinTracking(PinTrackingContext context) {
    super(context);
  }

  @Override
  public boolean fastPathAvailable() {
    return false;
  }

  @Override
  protected synchronized boolean dmaPinned(long pfn) {
    return fakeMappings.containsKey(memmap.compoundHead(pfn));
  }

  @Override
  public synchronized long overheadBytes() {
    long n = 0;
    for (int[] c : fakeMappings.values()) {
      n += c[0];
    }
    return n * FAKE_VMA_BYTES;
  }

  /** Fake VMAs allocated so far: one per pinned page per call. */
  public synchronized long allocations() {
    return allocations;
  }

  @Override
  protected synchronized void addCounters(Map<String, Long> counters) {
    counters.put("fake_vmas_allocated", allocations);
  }

  @Override
  protected synchronized boolean grab(long head, int refs, boolean speculative) {
    if (speculative || !context.refTryAdd(head, refs)) {
      return false;
    }
    context.mapcountAdd(head, refs); // the fake mapping
    fakeMappings.computeIfAbsent(head, k -> new int[1])[0] += refs;
    allocations += refs;
    return true;
  }

  @Override
  protected synchronized int release(long head, int refs) {
    int[] c = fakeMappings.get(head);
    if (c == null || c[0] < refs) {
      return -1;
    }
    c[0] -= refs;
    if (c[0] == 0) {
      fakeMappings.remove(head);
    }
    context.mapcountAdd(head, -refs);
    return refs;
  }
}
