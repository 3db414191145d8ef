package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.notifier.spi.Blocker;
import java.util.function.BooleanSupplier;
import org.apiguardian.api.API;

/**
 * A queue of sleeping threads, {@code wait_queue_head_t}: {@link #await} is {@code wait_event()},
 * {@link #wakeAll()} is {@code wake_up_all()}.
 */
@API(status = STABLE, since = "0.1.0")
public interface WaitQueue extends Blocker {

  /**
   * Like {@link #await}, {@code wait_event_idle()}: the sleep of a service thread waiting for work.
   * The simulation does not call such a sleeper deadlocked when nothing else can run.
   */
  void awaitIdle(BooleanSupplier condition);
}
