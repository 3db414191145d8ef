package dev.refkern.mm;

import dev.refkern.mm.vm.Foll;
import dev.refkern.mm.vm.PinTrackingContext;
import dev.refkern.mm.vm.PinTrackingPolicy;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * {@code gup.pin_tracking=test_counting}: a fifth pin-tracking policy defined outside mm-core's
 * packages, to show that a new policy is one file. It counts like {@code bias} and reports how many
 * pins it took and dropped.
 */
@PolicySpec(
    param = PinTrackingPolicy.PARAM,
    name = "test_counting",
    mainline = false,
    proposal = "none: refkern's registry test")
public final class TestCountingPinTracking extends PinTrackingPolicy {
  private final LongAdder pins = new LongAdder();
  private final LongAdder unpins = new LongAdder();

  /** Binds the policy to a booted kernel. */
  public TestCountingPinTracking(PinTrackingContext context) {
    super(context);
  }

  @Override
  public boolean fastPathAvailable() {
    return true;
  }

  @Override
  protected boolean dmaPinned(long pfn) {
    long head = memmap.compoundHead(pfn);
    return memmap.folioOrder(head) > 0
        ? memmap.pincount(head) > 0
        : memmap.refcount(head) >= Foll.GUP_PIN_COUNTING_BIAS;
  }

  @Override
  protected boolean grab(long head, int refs, boolean speculative) {
    boolean large = memmap.folioOrder(head) > 0;
    if (!context.refTryAdd(head, large ? refs : refs * Foll.GUP_PIN_COUNTING_BIAS)) {
      return false;
    }
    if (large) {
      context.pincountAdd(head, refs);
    }
    pins.add(refs);
    return true;
  }

  @Override
  protected int release(long head, int refs) {
    if (memmap.folioOrder(head) > 0) {
      if (memmap.pincount(head) < refs) {
        return -1;
      }
      context.pincountAdd(head, -refs);
      unpins.add(refs);
      return refs;
    }
    if (memmap.refcount(head) < Foll.GUP_PIN_COUNTING_BIAS * refs) {
      return -1;
    }
    unpins.add(refs);
    return refs * Foll.GUP_PIN_COUNTING_BIAS;
  }

  @Override
  protected void addCounters(Map<String, Long> counters) {
    counters.put("pins", pins.sum());
    counters.put("unpins", unpins.sum());
  }
}
