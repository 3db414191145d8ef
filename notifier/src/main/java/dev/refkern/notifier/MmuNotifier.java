package dev.refkern.notifier;

import static org.apiguardian.api.API.Status.STABLE;

import com.google.common.base.MoreObjects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apiguardian.api.API;

/**
 * One subscriber to every invalidation of an address space, {@code struct mmu_notifier}.
 *
 * <p>Obtained from {@link MmuNotifierSubscriptions#register} or {@link
 * MmuNotifierSubscriptions#get}; ended by {@link #unregister()} or {@link #put()} respectively.
 */
@API(status = STABLE, since = "0.1.0")
public final class MmuNotifier {
  private final MmuNotifierSubscriptions subscriptions;
  private final MmuNotifierOps ops;

  /** On {@code subscriptions->list}: the kernel's {@code !hlist_unhashed(&subscription->hlist)}. */
  volatile boolean hashed = true;

  /** {@code subscription->users}, the {@code mmu_notifier_get()} count; under the owner's lock. */
  int users = 1;

  /** Callbacks running now; what {@code synchronize_srcu()} waits for. */
  final AtomicInteger inflight = new AtomicInteger();

  /** Threads waiting for {@link #inflight} to drain, so exits only wake when someone waits. */
  final AtomicInteger syncWaiters = new AtomicInteger();

  /** Set by whoever calls {@code ->release}, so it runs exactly once. */
  final AtomicBoolean releaseClaimed = new AtomicBoolean();

  /** The last put happened; {@code ->free_notifier} runs once no callback is in flight. */
  volatile boolean freePending;

  final AtomicBoolean freed = new AtomicBoolean();

  MmuNotifier(MmuNotifierSubscriptions subscriptions, MmuNotifierOps ops) {
    this.subscriptions = subscriptions;
    this.ops = ops;
  }

  /**
   * The callbacks, {@code subscription->ops}.
   *
   * @return the ops given at registration
   */
  public MmuNotifierOps ops() {
    return ops;
  }

  /**
   * The address space, {@code subscription->mm}.
   *
   * @return the opaque owner
   */
  public Object mm() {
    return subscriptions.owner();
  }

  /**
   * The subscriptions of the address space this belongs to.
   *
   * @return the subscriptions
   */
  public MmuNotifierSubscriptions subscriptions() {
    return subscriptions;
  }

  /**
   * Whether callbacks can still be called: not unregistered, put or released.
   *
   * @return true while on the subscription list
   */
  public boolean isRegistered() {
    return hashed;
  }

  /**
   * Detaches the subscription, {@code mmu_notifier_unregister()}.
   *
   * <p>Calls {@code ->release} unless the teardown already did, then waits until no callback of
   * this subscription runs; after it returns none will. Must not be called from a callback of this
   * subscription (it would wait for itself, as {@code synchronize_srcu()} would).
   */
  public void unregister() {
    subscriptions.unregister(this);
  }

  /**
   * Drops a reference taken by {@link MmuNotifierSubscriptions#get}, {@code mmu_notifier_put()}.
   *
   * <p>The last put detaches the subscription without calling {@code ->release} and calls {@link
   * MmuNotifierOps#freeNotifier} once no callback is running; it may be called from {@code
   * ->release}.
   */
  public void put() {
    subscriptions.put(this);
  }

  @Override
  public String toString() {
    return MoreObjects.toStringHelper(this)
        .add("ops", ops)
        .add("registered", hashed)
        .add("mm", subscriptions.owner())
        .toString();
  }
}
