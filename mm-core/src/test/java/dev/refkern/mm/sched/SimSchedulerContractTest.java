package dev.refkern.mm.sched;

import org.junit.jupiter.api.Timeout;

/** The scheduler contract on the simulated CPU. */
@Timeout(60)
class SimSchedulerContractTest extends SchedulerContractTest {
  @Override
  Scheduler create() {
    return new SimScheduler(0x5eedL);
  }

  @Override
  int iterations() {
    return 200;
  }
}
