package dev.refkern.block;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelBugException;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.sched.Completion;
import dev.refkern.mm.sched.Scheduler;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.apiguardian.api.API;

/**
 * Bios submitted together and waited for as one, like {@code struct blkdev_dio} in {@code
 * block/fops.c}: a reference per bio plus the submitter's own, the first error kept ({@code
 * blkdev_bio_end_io()}), one completion when the last reference drops; and {@code
 * submit_bio_wait()} ({@code block/bio.c}) for a single bio.
 *
 * <p>Bios are added, then {@link #submit submitted}, then {@link #await awaited} by one task; they
 * may complete on any thread or in completion context.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class BioBatch {
  private final Completion done;
  // The submitter's reference: the batch cannot complete before await() drops it.
  private final AtomicInteger remaining = new AtomicInteger(1);
  private final AtomicInteger error = new AtomicInteger();
  private final List<Bio> unsubmitted = new ArrayList<>();
  private boolean awaited;

  /** An empty batch whose waiter sleeps through {@code sched}. */
  public BioBatch(Scheduler sched) {
    this.done = sched.newCompletion();
  }

  /**
   * {@code submit_bio_wait()}: submits {@code bio}, waits for it, returns 0 or a negative errno.
   */
  public static int submitBioWait(Scheduler sched, BlockDevice dev, Bio bio) {
    BioBatch batch = new BioBatch(sched);
    batch.add(bio, null);
    batch.submit(dev);
    return batch.await();
  }

  /**
   * Adds {@code bio}, taking over its {@code bi_end_io}: at completion {@code endIo} (may be null)
   * runs first, then the batch counts the bio. A bio is counted once even if a driver ends it
   * twice.
   */
  public BioBatch add(Bio bio, Consumer<Bio> endIo) {
    if (awaited) {
      throw new IllegalStateException("bio added to a batch already awaited");
    }
    AtomicBoolean ended = new AtomicBoolean(); // a driver that throws may have ended it first
    remaining.incrementAndGet();
    bio.onEnd(
        b -> {
          if (!ended.compareAndSet(false, true)) {
            return;
          }
          if (b.status() != 0) {
            error.compareAndSet(0, b.status());
          }
          try {
            if (endIo != null) {
              endIo.accept(b);
            }
          } finally {
            put();
          }
        });
    unsubmitted.add(bio);
    return this;
  }

  /**
   * {@code submit_bio()} of every bio added since the last submit. A driver that fails a bio by
   * throwing instead of ending it: that bio and every later one end with its errno, as {@code
   * bio_endio()} with {@code bi_status} set would, so their completions still run. A {@code BUG}
   * propagates: the kernel is dead and nothing is left to balance.
   */
  public void submit(BlockDevice dev) {
    try {
      for (int i = 0; i < unsubmitted.size(); i++) {
        try {
          dev.submitBio(unsubmitted.get(i));
        } catch (KernelBugException e) {
          throw e;
        } catch (RuntimeException e) {
          int status = -(e instanceof KernelException ke ? ke.errno() : Errno.EIO).number();
          error.compareAndSet(0, status);
          for (int j = i; j < unsubmitted.size(); j++) {
            Bio bio = unsubmitted.get(j);
            bio.setStatus(status);
            bio.endio();
          }
          return;
        }
      }
    } finally {
      unsubmitted.clear();
    }
  }

  /**
   * Drops the submitter's reference and sleeps until every added bio has completed.
   *
   * @return 0, or the first nonzero {@code bi_status} (a negative errno) of the batch
   */
  public int await() {
    if (!unsubmitted.isEmpty()) {
      throw new IllegalStateException(unsubmitted.size() + " bios added but never submitted");
    }
    if (!awaited) {
      awaited = true;
      put();
    }
    done.waitForCompletion();
    done.completeAll(); // a second await() returns at once
    return error.get();
  }

  /** {@link #await}, failing with the batch's first errno. */
  public void awaitOrThrow(String what) {
    int status = await();
    if (status != 0) {
      throw new KernelException(Errno.of(status), what + " failed");
    }
  }

  private void put() {
    if (remaining.decrementAndGet() == 0) {
      done.complete();
    }
  }
}
