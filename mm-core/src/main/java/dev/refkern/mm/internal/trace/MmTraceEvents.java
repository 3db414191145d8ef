package dev.refkern.mm.internal.trace;

import static org.apiguardian.api.API.Status.INTERNAL;

import jdk.jfr.Category;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Period;
import jdk.jfr.StackTrace;
import org.apiguardian.api.API;

/**
 * The mm tracepoints ({@code include/trace/events/}{@code migrate.h}, {@code vmscan.h}) and GUP
 * batches as JFR events. Not API: names and fields may change.
 *
 * <p>Callers create an event per call, never per page, and fill it only when {@code
 * shouldCommit()}: with no recording the event is a dead, scalar-replaced object.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class MmTraceEvents {
  private MmTraceEvents() {}

  /** One {@code get_user_pages*()} / {@code pin_user_pages*()} call: pages asked, flags, result. */
  @Name("refkern.gup.PinBatch")
  @Label("GUP pin batch")
  @Category({"refkern", "gup"})
  @StackTrace(false)
  public static final class PinBatch extends Event {
    @Label("Function")
    public String function;

    @Label("Pages requested")
    public long nrPages;

    @Label("gup_flags")
    public int gupFlags;

    @Label("mm id")
    public long mm;

    @Label("Result (pages taken or -errno)")
    public long result;
  }

  /** One {@code unpin_user_page*()} call: pages released. */
  @Name("refkern.gup.UnpinBatch")
  @Label("GUP unpin batch")
  @Category({"refkern", "gup"})
  @StackTrace(false)
  public static final class UnpinBatch extends Event {
    @Label("Function")
    public String function;

    @Label("Pages given")
    public long nrPages;

    @Label("Pins released")
    public long released;

    @Label("Make dirty")
    public boolean makeDirty;
  }

  /** {@code trace_mm_migrate_pages}: one {@code migrate_pages()} call. */
  @Name("refkern.migrate.MigratePages")
  @Label("mm_migrate_pages")
  @Category({"refkern", "migrate"})
  @StackTrace(false)
  public static final class MigratePages extends Event {
    @Label("Succeeded")
    public long succeeded;

    @Label("Failed")
    public long failed;

    @Label("Reason")
    public String reason;

    @Label("Result (0 or -errno)")
    public int result;
  }

  /** {@code trace_mm_vmscan_lru_shrink_inactive}: one inactive list scanned at a priority. */
  @Name("refkern.vmscan.ShrinkInactive")
  @Label("mm_vmscan_lru_shrink_inactive")
  @Category({"refkern", "vmscan"})
  @StackTrace(false)
  public static final class ShrinkInactive extends Event {
    @Label("Scanned")
    public long scanned;

    @Label("Reclaimed")
    public long reclaimed;

    @Label("Priority")
    public int priority;

    @Label("File LRU")
    public boolean file;
  }

  /** {@code trace_mm_vmscan_kswapd_wake}: kswapd woke to balance the node. */
  @Name("refkern.vmscan.KswapdWake")
  @Label("mm_vmscan_kswapd_wake")
  @Category({"refkern", "vmscan"})
  @StackTrace(false)
  public static final class KswapdWake extends Event {
    @Label("Wake-ups so far")
    public long wakeups;
  }

  /** {@code trace_mm_vmscan_kswapd_sleep}: kswapd goes back to sleep. */
  @Name("refkern.vmscan.KswapdSleep")
  @Label("mm_vmscan_kswapd_sleep")
  @Category({"refkern", "vmscan"})
  @StackTrace(false)
  public static final class KswapdSleep extends Event {
    @Label("Zones balanced")
    public boolean balanced;
  }

  /** {@code /proc/vmstat}: the main counters of one running kernel, every period (1 s default). */
  @Name("refkern.vmstat.VmStat")
  @Label("vmstat")
  @Category({"refkern", "vmstat"})
  @Period("1 s")
  @StackTrace(false)
  public static final class VmStat extends Event {
    @Label("State directory")
    public String kernel;

    @Label("nr_free_pages")
    public long nrFreePages;

    @Label("nr_foll_pin_acquired")
    public long nrFollPinAcquired;

    @Label("nr_foll_pin_released")
    public long nrFollPinReleased;

    @Label("pgfault")
    public long pgfault;

    @Label("pgmajfault")
    public long pgmajfault;

    @Label("pgsteal")
    public long pgsteal;

    @Label("pswpin")
    public long pswpin;

    @Label("pswpout")
    public long pswpout;

    @Label("pgmigrate_success")
    public long pgmigrateSuccess;

    @Label("pgmigrate_fail")
    public long pgmigrateFail;

    @Label("allocstall")
    public long allocstall;
  }
}
