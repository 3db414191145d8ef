package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** {@code mmap}/{@code mprotect}/{@code madvise} constants ({@code uapi/asm-generic/mman*.h}). */
@API(status = STABLE, since = "0.1.0")
public final class Mman {
  public static final int PROT_NONE = 0;
  public static final int PROT_READ = 1;
  public static final int PROT_WRITE = 2;
  public static final int PROT_EXEC = 4;

  public static final int MAP_SHARED = 0x01;
  public static final int MAP_PRIVATE = 0x02;
  public static final int MAP_FIXED = 0x10;
  public static final int MAP_ANONYMOUS = 0x20;
  public static final int MAP_POPULATE = 0x8000;

  public static final int MADV_DONTNEED = 4;
  public static final int MADV_HUGEPAGE = 14;
  public static final int MADV_NOHUGEPAGE = 15;

  private Mman() {}
}
