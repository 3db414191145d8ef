package dev.refkern.notifier.spi;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.function.BooleanSupplier;
import org.apiguardian.api.API;

/**
 * Where the notifier code sleeps, the model of {@code wait_event()} and {@code wake_up_all()}.
 *
 * <p>Every wait in this module goes through a blocker, so a deterministic scheduler can run the
 * waiting task cooperatively instead of parking a thread. The condition reads state that other
 * threads publish before they call {@link #wakeAll()}.
 */
@API(status = STABLE, since = "0.1.0")
public interface Blocker {

  /**
   * Returns once {@code condition} is true, sleeping in between, {@code wait_event()}.
   *
   * <p>The condition is evaluated again after every {@link #wakeAll()}; spurious evaluations are
   * allowed. Like {@code wait_event()} it is not interruptible.
   *
   * @param condition what to wait for; cheap and side-effect free
   */
  void await(BooleanSupplier condition);

  /** Makes every waiter evaluate its condition again, {@code wake_up_all()}. */
  void wakeAll();

  /**
   * A blocker over a lock and a condition variable, for real threads.
   *
   * @return a new blocker
   */
  static Blocker monitor() {
    return new MonitorBlocker();
  }
}
