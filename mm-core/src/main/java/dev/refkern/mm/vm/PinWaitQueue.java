package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.KernelHealth;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.WaitQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.LongPredicate;
import org.apiguardian.api.API;

/**
 * The {@code wait_var_event()} / {@code wake_up_var()} pair on a folio's pins, as DAX's {@code
 * dax_layout_busy_page()} waiters are woken when a page's last extra reference goes: the {@code
 * writeback.pinned=wait} and {@code truncate.pinned=wait} policies sleep here and every unpin wakes
 * them. One queue per machine; a woken sleeper rechecks its own folio. Truncate's sleep is killable
 * ({@code ___wait_var_event(..., TASK_INTERRUPTIBLE, ...)} in {@code ext4_break_layouts()}): a
 * fatal signal wakes it.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PinWaitQueue {
  private final WaitQueue queue;
  private final KernelHealth health;
  private final AtomicInteger sleepers = new AtomicInteger();

  /** A queue on {@code sched}'s wait queues, woken too when {@code health} gets a fatal signal. */
  public PinWaitQueue(Scheduler sched, KernelHealth health) {
    this.queue = sched.newWaitQueue();
    this.health = health;
    health.wakeOnFatalSignal(queue);
  }

  /** Sleeps, with no time bound, until {@code maybeDmaPinned} no longer holds for {@code head}. */
  public void awaitUnpinned(long head, LongPredicate maybeDmaPinned) {
    if (maybeDmaPinned.test(head)) { // no condition object unless it must sleep
      sleepUntil(() -> !maybeDmaPinned.test(head));
    }
  }

  /**
   * Like {@link #awaitUnpinned} but killable ({@code wait_var_event_killable()}): returns false,
   * still pinned, once {@code fatalSignalPending} holds or the machine got a fatal signal.
   */
  public boolean awaitUnpinnedKillable(
      long head, LongPredicate maybeDmaPinned, BooleanSupplier fatalSignalPending) {
    sleepUntil(
        () ->
            !maybeDmaPinned.test(head)
                || fatalSignalPending.getAsBoolean()
                || health.fatalSignalPending());
    return !maybeDmaPinned.test(head);
  }

  private void sleepUntil(BooleanSupplier done) {
    if (done.getAsBoolean()) {
      return;
    }
    sleepers.incrementAndGet(); // before the check in await(): an unpin after it must wake us
    try {
      queue.await(done);
    } finally {
      sleepers.decrementAndGet();
    }
  }

  /** After a pin is dropped: wakes the sleepers, if any (one atomic read when none sleeps). */
  public void wakeUnpinned() {
    if (sleepers.get() > 0) {
      queue.wakeAll();
    }
  }

  /** How many sleep now. */
  public int sleepers() {
    return sleepers.get();
  }
}
