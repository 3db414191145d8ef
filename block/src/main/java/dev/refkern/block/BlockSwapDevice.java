package dev.refkern.block;

import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.Page;
import dev.refkern.mm.PageMemory;
import dev.refkern.mm.sched.Completion;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.spi.SwapDevice;
import java.util.concurrent.atomic.AtomicInteger;
import org.apiguardian.api.API;

/**
 * A swap area on a block device ({@code swap_writepage()}/{@code swap_read_folio()} through {@code
 * submit_bio}): slot {@code n} is the page at sector {@code 8n}. Plugs into mm-core's swap SPI with
 * {@code vm.swapon(new BlockSwapDevice(dev, scheduler))}.
 */
@API(status = STABLE, since = "0.1.0")
public final class BlockSwapDevice implements SwapDevice {
  private static final int SECTORS_PER_PAGE = Page.PAGE_SIZE / Bio.SECTOR_SIZE;

  private final BlockDevice dev;
  private final Scheduler scheduler;

  public BlockSwapDevice(BlockDevice dev, Scheduler scheduler) {
    this.dev = dev;
    this.scheduler = scheduler;
  }

  @Override
  public long nrSlots() {
    return dev.capacitySectors() / SECTORS_PER_PAGE;
  }

  @Override
  public void writePage(long slot, PageMemory ram, long pfn) {
    io(BioOp.WRITE, slot, pfn);
  }

  @Override
  public void readPage(long slot, PageMemory ram, long pfn) {
    io(BioOp.READ, slot, pfn);
  }

  private void io(BioOp op, long slot, long pfn) {
    Completion done = scheduler.newCompletion();
    AtomicInteger status = new AtomicInteger();
    Bio bio =
        new Bio(op, slot * SECTORS_PER_PAGE, 0)
            .addPage(pfn, 0, Page.PAGE_SIZE)
            .onEnd(
                b -> {
                  status.set(b.status());
                  done.complete();
                });
    dev.submitBio(bio);
    done.waitForCompletion();
    if (status.get() != 0) {
      throw new KernelException(
          Errno.of(status.get()), "swap " + op + " of slot " + slot + " failed");
    }
  }
}
