package dev.refkern.mm.sched;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A sleeping lock, {@code struct mutex}: not recursive, released by its owner only.
 *
 * <p>Locking an already-held lock from its owner throws {@link IllegalStateException}, the report
 * lockdep would give, instead of hanging.
 */
@API(status = STABLE, since = "0.1.0")
public interface KLock {

  /** The name the lock was created with, as lockdep shows it. */
  String name();

  /** Takes the lock, sleeping while another thread holds it, {@code mutex_lock()}. */
  void lock();

  /** Releases the lock, {@code mutex_unlock()}. */
  void unlock();

  /** Takes the lock if it is free, {@code mutex_trylock()}. */
  boolean tryLock();

  /** Whether the calling thread holds the lock, {@code lockdep_is_held()}. */
  boolean isHeldByCurrentThread();
}
