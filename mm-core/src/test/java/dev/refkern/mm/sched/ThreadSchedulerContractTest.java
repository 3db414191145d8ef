package dev.refkern.mm.sched;

import org.junit.jupiter.api.Timeout;

/** The scheduler contract on real threads. */
@Timeout(60)
class ThreadSchedulerContractTest extends SchedulerContractTest {
  @Override
  Scheduler create() {
    return new ThreadScheduler();
  }

  @Override
  int iterations() {
    return 5_000;
  }
}
