package dev.refkern.examples.fs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;
import org.apiguardian.api.API;

/**
 * A workload step (a writeback pass, an fsync, a truncate) on a thread of its own, for the
 * scenarios whose step may sleep on a device's pin ({@code wait} policies): {@link #start} returns
 * once the step finished or sleeps on the pin (the policy counted a wait and the thread blocks), so
 * the caller can let the device go on and unpin before {@link #finish}. Bounded generously; seen by
 * state, never by time.
 */
@API(status = INTERNAL, since = "0.1.0")
public final class PinStep {
  private final Thread thread;
  private final String name;
  private final long boundNanos;
  private volatile Throwable failed;

  private PinStep(String name, Runnable body, long boundNanos) {
    this.name = name;
    this.boundNanos = boundNanos;
    this.thread =
        new Thread(
            () -> {
              try {
                body.run();
              } catch (Throwable e) {
                failed = e;
              }
            },
            name);
  }

  /**
   * Starts {@code body} and waits until it finished or sleeps on the pin: blocked while {@code
   * waits} (the policies' wait counter) grew.
   *
   * @throws IllegalStateException when neither happens within {@code boundNanos}
   */
  public static PinStep start(String name, Runnable body, LongSupplier waits, long boundNanos) {
    PinStep s = new PinStep(name, body, boundNanos);
    long waitsBefore = waits.getAsLong();
    s.thread.start();
    long deadline = System.nanoTime() + boundNanos;
    while (s.thread.isAlive() && !(s.blocked() && waits.getAsLong() > waitsBefore)) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(name + " neither finished nor slept on the pin");
      }
      LockSupport.parkNanos(50_000); // polling state; the bound above only ends a hung run
    }
    return s;
  }

  /** Whether the step still runs, i.e. sleeps on the pin. */
  public boolean asleep() {
    return thread.isAlive();
  }

  /** Whether its thread is blocked (waiting, timed or not). */
  public boolean blocked() {
    Thread.State st = thread.getState();
    return st == Thread.State.WAITING || st == Thread.State.TIMED_WAITING;
  }

  /**
   * Waits (bounded) for the step to finish and rethrows what it threw.
   *
   * @throws IllegalStateException when it does not finish within the bound (the unpin did not wake
   *     it), or wrapping a checked failure
   */
  public void finish() {
    try {
      thread.join(boundNanos / 1_000_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (thread.isAlive()) {
      throw new IllegalStateException(name + " did not finish after the unpin");
    }
    Throwable f = failed;
    if (f instanceof RuntimeException e) {
      throw e;
    } else if (f != null) {
      throw new IllegalStateException(name + " failed", f);
    }
  }
}
