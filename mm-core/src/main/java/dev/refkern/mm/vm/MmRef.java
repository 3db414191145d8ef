package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A reference on another task's address space ({@code get_task_mm()} / {@code mmget()}): what a
 * driver must hold to call {@code get_user_pages_remote()}; closing it is {@code mmput()}.
 */
@API(status = STABLE, since = "0.1.0")
public final class MmRef implements AutoCloseable {
  private final MmStruct mm;
  private boolean closed;

  MmRef(MmStruct mm) {
    this.mm = mm;
  }

  public MmStruct mm() {
    if (closed) {
      throw new IllegalStateException("mmput() already called on this reference");
    }
    return mm;
  }

  @Override
  public synchronized void close() {
    if (!closed) {
      closed = true;
      mm.mmput();
    }
  }
}
