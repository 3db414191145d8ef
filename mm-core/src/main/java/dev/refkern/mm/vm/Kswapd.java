package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.internal.trace.MmTraceEvents;
import dev.refkern.mm.sched.KThread;
import dev.refkern.mm.sched.Scheduler;
import dev.refkern.mm.sched.WaitQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * {@code kswapd}: the background reclaim thread of the node. It sleeps until an allocation finds a
 * zone below its low watermark, then reclaims ({@code balance_pgdat()}) until every zone has its
 * high watermark free again or reclaim makes no progress. Runs on the injected scheduler, so the
 * deterministic simulation can interleave it with the tasks.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Kswapd {
  private final PhysicalMemory mem;
  private final Vmscan vmscan;
  private final Scheduler sched;
  private final WaitQueue wait;
  private final AtomicLong wakeups = new AtomicLong();
  // bumped by each stop: a thread runs while the generation it started with is current, so a
  // restart after stop() is not ended by the old stop request
  private volatile long generation;
  private volatile boolean running;
  private KThread thread;

  /** Built with the node, not yet running ({@code kswapd_run()} starts it). */
  Kswapd(PhysicalMemory mem, Vmscan vmscan) {
    this.mem = mem;
    this.vmscan = vmscan;
    this.sched = mem.scheduler();
    this.wait = sched.newWaitQueue();
  }

  synchronized void start() {
    if (thread != null) {
      return;
    }
    running = true;
    long g = generation;
    long w = wakeups.get(); // a wake-up from now on, even before the thread runs, is seen
    thread = sched.kthreadRun("kswapd0", () -> run(g, w));
  }

  /** {@code wakeup_kswapd()}; nothing while the thread does not run. */
  void wakeup() {
    if (!running) {
      return;
    }
    wakeups.incrementAndGet();
    wait.wakeAll();
  }

  private void run(long g, long seen) {
    while (true) {
      long s = seen;
      wait.awaitIdle(() -> generation != g || wakeups.get() != s);
      if (generation != g) {
        return;
      }
      seen = wakeups.get();
      MmTraceEvents.KswapdWake wake = new MmTraceEvents.KswapdWake();
      if (wake.shouldCommit()) {
        wake.wakeups = seen;
        wake.commit();
      }
      balancePgdat(g);
      MmTraceEvents.KswapdSleep sleep = new MmTraceEvents.KswapdSleep();
      if (sleep.shouldCommit()) {
        sleep.balanced = mem.zonesBalanced();
        sleep.commit();
      }
    }
  }

  /** {@code MAX_RECLAIM_RETRIES}: rounds without progress before kswapd gives up and sleeps. */
  static final int MAX_RECLAIM_RETRIES = 16;

  /** {@code balance_pgdat()}. */
  private void balancePgdat(long g) {
    mem.vmstat().inc(VmItem.PAGEOUTRUN);
    int failures = 0;
    while (generation == g && !mem.zonesBalanced()) {
      if (vmscan.shrinkNode(Vmscan.SWAP_CLUSTER_MAX).reclaimed() > 0) {
        failures = 0;
      } else if (++failures >= MAX_RECLAIM_RETRIES) {
        return; // nothing reclaimable for now: sleep until the next wake-up
      }
      sched.condResched();
    }
  }

  /** {@code kthread_stop()}: ends the thread and waits for it. */
  public void stop() {
    KThread t;
    synchronized (this) {
      t = thread;
      thread = null;
      if (t != null) {
        running = false;
        generation++;
      }
    }
    if (t != null) {
      wait.wakeAll();
      t.join();
    }
  }

  /** Times kswapd was woken. */
  public long wakeups() {
    return wakeups.get();
  }
}
