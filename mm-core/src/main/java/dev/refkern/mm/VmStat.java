package dev.refkern.mm;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import org.apiguardian.api.API;

/**
 * vmstat counters ({@code mm/vmstat.c}): striped like the kernel's per-cpu counters, so the hot
 * paths that bump them ({@code nr_foll_pin_acquired}) do not contend.
 */
@API(status = STABLE, since = "0.1.0")
public final class VmStat {
  private final LongAdder[] counters = new LongAdder[VmItem.values().length];

  public VmStat() {
    for (int i = 0; i < counters.length; i++) {
      counters[i] = new LongAdder();
    }
  }

  /** {@code count_vm_event()}. */
  public void inc(VmItem item) {
    counters[item.ordinal()].increment();
  }

  /** {@code count_vm_events()} / {@code mod_node_page_state()}. */
  public void add(VmItem item, long delta) {
    counters[item.ordinal()].add(delta);
  }

  /** The counter itself, for page-cache state counters updated on hot paths. */
  LongAdder adder(VmItem item) {
    return counters[item.ordinal()];
  }

  /** The counter's current value. */
  public long get(VmItem item) {
    return counters[item.ordinal()].sum();
  }

  /** Every counter, in {@code /proc/vmstat} order. */
  public Map<VmItem, Long> snapshot() {
    Map<VmItem, Long> m = new EnumMap<>(VmItem.class);
    for (VmItem i : VmItem.values()) {
      m.put(i, get(i));
    }
    return m;
  }
}
