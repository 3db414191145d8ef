package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * A request queue in front of a device ({@code struct request_queue} with a {@code blk_plug}):
 * while plugged, bios are held; at {@link #unplug()} adjacent bios of the same operation are merged
 * into one request ({@code blk_attempt_plug_merge()}, back merges) and submitted. Each original bio
 * still completes exactly once.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class RequestQueue implements BlockDevice {
  private final BlockDevice dev;
  private final List<Bio> plugged = new ArrayList<>();
  private boolean plugging;
  private long merges;
  private long submitted;

  public RequestQueue(BlockDevice dev) {
    this.dev = dev;
  }

  @Override
  public String name() {
    return dev.name();
  }

  @Override
  public long capacitySectors() {
    return dev.capacitySectors();
  }

  @Override
  public int features() {
    return dev.features();
  }

  /** {@code blk_start_plug()}. */
  public synchronized void plug() {
    plugging = true;
  }

  @Override
  public void submitBio(Bio bio) {
    synchronized (this) {
      if (plugging) {
        plugged.add(bio);
        return;
      }
    }
    submitted++;
    dev.submitBio(bio);
  }

  /** {@code blk_finish_plug()}: merges and submits what was held. */
  public void unplug() {
    List<Bio> held;
    synchronized (this) {
      plugging = false;
      held = new ArrayList<>(plugged);
      plugged.clear();
    }
    held.sort((a, b) -> Long.compare(a.sector(), b.sector()));
    int i = 0;
    while (i < held.size()) {
      Bio first = held.get(i);
      int j = i + 1;
      long end = first.sector() + first.sectors();
      while (j < held.size() && mergeable(first, held.get(j), end)) {
        end += held.get(j).sectors();
        j++;
      }
      if (j == i + 1) {
        submitted++;
        dev.submitBio(first);
      } else {
        Bio request = new Bio(first.op(), first.sector(), first.flags());
        for (int k = i; k < j; k++) {
          Bio part = held.get(k);
          for (int v = 0; v < part.vecCount(); v++) {
            request.addPage(part.vecPfn(v), part.vecOffset(v), part.vecLen(v));
          }
        }
        List<Bio> parts = new ArrayList<>(held.subList(i, j));
        request.onEnd(
            r -> {
              for (Bio part : parts) {
                part.setStatus(r.status());
                part.endio();
              }
            });
        merges += j - i - 1;
        submitted++;
        dev.submitBio(request);
      }
      i = j;
    }
  }

  private static boolean mergeable(Bio a, Bio b, long end) {
    return a.op() == b.op() && a.op() != BioOp.FLUSH && a.flags() == b.flags() && b.sector() == end;
  }

  /** Bios merged into a neighbour. */
  public synchronized long merges() {
    return merges;
  }

  /** Requests handed to the device. */
  public synchronized long submitted() {
    return submitted;
  }
}
