package dev.refkern.notifier.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import jdk.jfr.Category;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import org.apiguardian.api.API;

/**
 * The mmu notifier invalidations ({@code __mmu_notifier_invalidate_range_start()}/{@code _end()})
 * as JFR events, one per call. Not API: names and fields may change.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class NotifierTraceEvents {
  private NotifierTraceEvents() {}

  /** {@code __mmu_notifier_invalidate_range_start()}: the range, its event and the outcome. */
  @Name("refkern.mmu_notifier.InvalidateRangeStart")
  @Label("mmu_notifier invalidate_range_start")
  @Category({"refkern", "mmu_notifier"})
  @StackTrace(false)
  public static final class InvalidateRangeStart extends Event {
    @Label("Event")
    public String event;

    @Label("Start")
    public long start;

    @Label("End")
    public long end;

    @Label("Blockable")
    public boolean blockable;

    @Label("Result (0 or -EAGAIN)")
    public int result;
  }

  /** {@code __mmu_notifier_invalidate_range_end()}: the range and its event. */
  @Name("refkern.mmu_notifier.InvalidateRangeEnd")
  @Label("mmu_notifier invalidate_range_end")
  @Category({"refkern", "mmu_notifier"})
  @StackTrace(false)
  public static final class InvalidateRangeEnd extends Event {
    @Label("Event")
    public String event;

    @Label("Start")
    public long start;

    @Label("End")
    public long end;
  }
}
