package dev.refkern.block;

import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.block.internal.trace.BlockTraceEvents;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * {@code drivers/block/null_blk} with {@code memory_backed=0}: completes every bio at once, in
 * completion context, without moving data. What it costs to do I/O to it is what the block layer
 * and the pinning cost alone, the baseline under every real device.
 */
@API(status = STABLE, since = "0.1.0")
public final class NullBlk implements BlockDevice {
  private final PhysicalMemory mem;
  private final long capacitySectors;
  private final AtomicLong bios = new AtomicLong();

  /**
   * A null device of {@code capacitySectors} sectors.
   *
   * @throws KernelException {@code EINVAL} for a negative capacity
   */
  public NullBlk(PhysicalMemory mem, long capacitySectors) {
    if (capacitySectors < 0) {
      throw new KernelException(Errno.EINVAL, "null_blk: negative capacity " + capacitySectors);
    }
    this.mem = mem;
    this.capacitySectors = capacitySectors;
  }

  @Override
  public String name() {
    return "nullb0";
  }

  @Override
  public long capacitySectors() {
    return capacitySectors;
  }

  @Override
  public int features() {
    return 0;
  }

  /** Completes the bio with 0, or {@code -EIO} if it lies past the capacity. */
  @Override
  public void submitBio(Bio bio) {
    BlockTraceEvents.bioQueue(name(), bio.sector(), bio.size(), bio.op(), bio.flags());
    bios.incrementAndGet();
    int status =
        bio.sector() > capacitySectors || bio.sectors() > capacitySectors - bio.sector()
            ? -Errno.EIO.number()
            : 0;
    mem.scheduler()
        .runInCompletionContext(
            () -> {
              bio.setStatus(status);
              bio.endio();
            });
  }

  /** Bios completed. */
  public long bios() {
    return bios.get();
  }
}
