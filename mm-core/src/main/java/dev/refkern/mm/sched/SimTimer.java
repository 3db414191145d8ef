package dev.refkern.mm.sched;

/**
 * A {@code struct timer_list} in the simulation's virtual time: fires at {@code due} jiffies, ties
 * broken by arming order so the same seed fires timers in the same order.
 */
final class SimTimer implements Comparable<SimTimer> {
  final long due;
  final long seq;
  final Runnable action;

  SimTimer(long due, long seq, Runnable action) {
    this.due = due;
    this.seq = seq;
    this.action = action;
  }

  @Override
  public int compareTo(SimTimer o) {
    int c = Long.compare(due, o.due);
    return c != 0 ? c : Long.compare(seq, o.seq);
  }
}
