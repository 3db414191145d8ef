package dev.refkern.mm;

import static org.junit.jupiter.api.Assertions.fail;

/** Waits on other threads by their state, never by elapsed time. */
public final class TestThreads {
  private TestThreads() {}

  /**
   * Returns once {@code t} is blocked (parked in a wait queue or on a monitor). The bound is
   * generous, for a loaded machine: reaching it means the thread never blocked.
   */
  public static void awaitBlocked(Thread t) throws InterruptedException {
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (System.nanoTime() < deadline) {
      Thread.State s = t.getState();
      if (s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING) {
        return;
      }
      if (s == Thread.State.TERMINATED) {
        fail(t.getName() + " ended without blocking");
      }
      Thread.sleep(1);
    }
    fail(t.getName() + " never blocked: " + t.getState());
  }
}
