package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** {@code FOLL_*} flags of GUP ({@code include/linux/mm_types.h}, {@code mm/internal.h}). */
@API(status = STABLE, since = "0.1.0")
public final class Foll {
  public static final int FOLL_WRITE = 0x01;
  public static final int FOLL_GET = 0x02;
  public static final int FOLL_DUMP = 0x04;
  public static final int FOLL_FORCE = 0x08;
  public static final int FOLL_NOWAIT = 0x10;
  public static final int FOLL_NOFAULT = 0x20;
  public static final int FOLL_HWPOISON = 0x40;
  public static final int FOLL_ANON = 0x80;
  public static final int FOLL_LONGTERM = 0x100;
  public static final int FOLL_SPLIT_PMD = 0x200;
  public static final int FOLL_PCI_P2PDMA = 0x400;
  public static final int FOLL_INTERRUPTIBLE = 0x800;
  public static final int FOLL_HONOR_NUMA_FAULT = 0x1000;

  /** Internal: set by {@code pin_user_pages*()}; a caller passing it gets {@code -EINVAL}. */
  public static final int FOLL_PIN = 1 << 16;

  /** Internal: {@code gup_fast} only, no fallback. */
  public static final int FOLL_FAST_ONLY = 1 << 17;

  /** Internal: {@code get_user_pages_remote()}. */
  public static final int FOLL_REMOTE = 1 << 18;

  /** Internal: {@code FOLL_TOUCH}. */
  public static final int FOLL_TOUCH = 1 << 19;

  /** {@code INTERNAL_GUP_FLAGS}. */
  public static final int INTERNAL = FOLL_PIN | FOLL_FAST_ONLY | FOLL_REMOTE | FOLL_TOUCH;

  /** {@code GUP_PIN_COUNTING_BIAS}: what a pin adds to a small folio's refcount. */
  public static final int GUP_PIN_COUNTING_BIAS = 1024;

  private Foll() {}
}
