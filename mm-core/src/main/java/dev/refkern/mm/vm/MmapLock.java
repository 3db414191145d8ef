package dev.refkern.mm.vm;

import dev.refkern.mm.sched.WaitQueue;

/**
 * {@code mm->mmap_lock}, a read-write semaphore that sleeps through the injected scheduler, so a
 * holder may reach a scheduling point (a contended folio lock, {@code cond_resched()}) and the
 * deterministic simulation can still run the others. Its state is guarded by a plain monitor that
 * is never held across a sleep.
 */
final class MmapLock {
  private final WaitQueue waiters;
  private final Object guard = new Object();
  private int readers;
  private boolean writer;

  MmapLock(WaitQueue waiters) {
    this.waiters = waiters;
  }

  /** {@code mmap_read_lock()}. */
  void readLock() {
    while (true) {
      synchronized (guard) {
        if (!writer) {
          readers++;
          return;
        }
      }
      waiters.await(this::noWriter);
    }
  }

  void readUnlock() {
    boolean last;
    synchronized (guard) {
      if (readers <= 0) {
        throw new IllegalStateException("mmap_read_unlock() without the lock");
      }
      last = --readers == 0;
    }
    if (last) {
      waiters.wakeAll();
    }
  }

  /** {@code mmap_write_lock()}. */
  void writeLock() {
    while (true) {
      synchronized (guard) {
        if (!writer && readers == 0) {
          writer = true;
          return;
        }
      }
      waiters.await(this::free);
    }
  }

  void writeUnlock() {
    synchronized (guard) {
      if (!writer) {
        throw new IllegalStateException("mmap_write_unlock() without the lock");
      }
      writer = false;
    }
    waiters.wakeAll();
  }

  private boolean noWriter() {
    synchronized (guard) {
      return !writer;
    }
  }

  private boolean free() {
    synchronized (guard) {
      return !writer && readers == 0;
    }
  }
}
