package dev.refkern.mm.vm;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** {@code vm_area_struct::vm_flags} bits ({@code include/linux/mm.h}), kernel values. */
@API(status = STABLE, since = "0.1.0")
public final class VmFlags {
  public static final long VM_READ = 0x1;
  public static final long VM_WRITE = 0x2;
  public static final long VM_EXEC = 0x4;
  public static final long VM_SHARED = 0x8;
  public static final long VM_MAYREAD = 0x10;
  public static final long VM_MAYWRITE = 0x20;
  public static final long VM_MAYEXEC = 0x40;
  public static final long VM_MAYSHARE = 0x80;
  public static final long VM_PFNMAP = 0x400;
  public static final long VM_LOCKED = 0x2000;
  public static final long VM_IO = 0x4000;
  public static final long VM_DONTCOPY = 0x20000;
  public static final long VM_DONTEXPAND = 0x40000;
  public static final long VM_MIXEDMAP = 0x10000000;
  public static final long VM_HUGEPAGE = 0x20000000;
  public static final long VM_NOHUGEPAGE = 0x40000000L;

  /** refkern's mark for {@code memfd_secret()} memory ({@code vma_is_secretmem()}). */
  public static final long VM_SECRETMEM = 1L << 40;

  /** refkern's mark for a filesystem-DAX mapping ({@code vma_is_fsdax()}). */
  public static final long VM_FSDAX = 1L << 41;

  private VmFlags() {}

  /** {@code calc_vm_prot_bits()}: the {@code VM_READ}/{@code VM_WRITE}/{@code VM_EXEC} of prot. */
  static long fromProt(int prot) {
    long f = 0;
    if ((prot & Mman.PROT_READ) != 0) {
      f |= VM_READ;
    }
    if ((prot & Mman.PROT_WRITE) != 0) {
      f |= VM_WRITE;
    }
    if ((prot & Mman.PROT_EXEC) != 0) {
      f |= VM_EXEC;
    }
    return f;
  }

  /** {@code is_cow_mapping()}: private and may become writable. */
  public static boolean isCowMapping(long flags) {
    return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
  }
}
