package dev.refkern.mm.sched;

/**
 * The {@code SIGKILL} that unwinds a simulated task when the run is aborted; no stack trace, it is
 * never reported.
 */
final class SimKill extends Error {
  private static final long serialVersionUID = 1L;

  SimKill() {
    super("simulation aborted", null, false, false);
  }
}
