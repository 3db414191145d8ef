package dev.refkern.mm.sched;

/**
 * The uniprocessor {@code schedule()} as a {@link Parker}: a simulated task sleeps by handing the
 * one CPU to the seeded pick.
 */
final class SimParker implements Parker {
  private final SimCpu cpu;

  SimParker(SimCpu cpu) {
    this.cpu = cpu;
  }

  @Override
  public WaitHead newWaitHead() {
    return new SimWaitList(cpu);
  }

  @Override
  public MutexCore.Word newMutexWord() {
    return new MutexCore.OnWaitHead(new SimWaitList(cpu));
  }

  @Override
  public long nextId() {
    cpu.mon.lock();
    try {
      return cpu.nextObjectId++;
    } finally {
      cpu.mon.unlock();
    }
  }

  @Override
  public String tag() {
    return cpu.tag + ": ";
  }

  @Override
  public Object currentTask() {
    SimTask me = cpu.self.get();
    return me != null ? me : Thread.currentThread();
  }

  @Override
  public String taskName(Object task) {
    return task instanceof SimTask
        ? "'" + ((SimTask) task).name + "'"
        : "boot CPU (" + ((Thread) task).getName() + ")";
  }

  @Override
  public String sleeperInAtomic() {
    SimTask me = cpu.self.get();
    return "task "
        + (me != null ? me.name : "boot CPU (" + Thread.currentThread().getName() + ")")
        + ", "
        + cpu.tag
        + ", jiffies="
        + cpu.jiffies;
  }
}
