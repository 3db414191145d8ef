package dev.refkern.block.internal.trace;

import static org.apiguardian.api.API.Status.INTERNAL;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import org.apiguardian.api.API;

/**
 * The block tracepoints ({@code include/trace/events/block.h}) as JFR events, one per bio, never
 * per page. Not API: names and fields may change.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class BlockTraceEvents {
  private BlockTraceEvents() {}

  /** {@code trace_block_bio_queue}: a bio entered a device's queue ({@code submit_bio()}). */
  @Name("refkern.block.BioQueue")
  @Label("block_bio_queue")
  @Category({"refkern", "block"})
  @StackTrace(false)
  public static final class BioQueue extends Event {
    @Label("Device")
    public String device;

    @Label("Sector")
    public long sector;

    @Label("Size")
    @DataAmount
    public long size;

    @Label("Operation")
    public String op;

    @Label("Flags")
    public int flags;
  }

  /** {@code trace_block_bio_complete}: {@code bio_endio()} of a bio, with its status. */
  @Name("refkern.block.BioComplete")
  @Label("block_bio_complete")
  @Category({"refkern", "block"})
  @StackTrace(false)
  public static final class BioComplete extends Event {
    @Label("Sector")
    public long sector;

    @Label("Size")
    @DataAmount
    public long size;

    @Label("Operation")
    public String op;

    @Label("Error (0 or -errno)")
    public int error;
  }

  /** Records {@code block_bio_queue} for {@code device}; does nothing when not recording. */
  public static void bioQueue(String device, long sector, long size, Enum<?> op, int flags) {
    BioQueue e = new BioQueue();
    if (e.shouldCommit()) {
      e.device = device;
      e.sector = sector;
      e.size = size;
      e.op = op.name();
      e.flags = flags;
      e.commit();
    }
  }
}
