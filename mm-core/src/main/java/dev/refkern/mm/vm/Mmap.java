package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.VmFault.*;
import static dev.refkern.mm.vm.Pte.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.ArrayList;
import java.util.List;

/**
 * Mapping and unmapping ({@code mm/mmap.c} and {@code mm/vma.c}): {@code do_mmap()}, {@code
 * do_munmap()}, {@code get_unmapped_area()}, {@code MAP_POPULATE}, {@code split_vma()} and {@code
 * exit_mmap()}.
 */
final class Mmap {
  private final PhysicalMemory mem;
  private final Memory memory;
  private final HugeMemory huge;
  private final Rmap rmap;

  Mmap(PhysicalMemory mem, Memory memory, HugeMemory huge, Rmap rmap) {
    this.mem = mem;
    this.memory = memory;
    this.huge = huge;
    this.rmap = rmap;
  }

  /**
   * {@code mmap()}. Anonymous shared memory is backed by a private shmem file, as in the kernel.
   *
   * @param file the mapped file's address space, or null with {@code MAP_ANONYMOUS}
   * @return the mapped address
   */
  long mmap(MmStruct m, long addr, long len, int prot, int flags, AddressSpace file, long offset) {
    mem.health().checkAlive();
    int type = flags & (Mman.MAP_SHARED | Mman.MAP_PRIVATE);
    if (len <= 0 || type == 0 || type == (Mman.MAP_SHARED | Mman.MAP_PRIVATE)) {
      throw new KernelException(
          Errno.EINVAL, "mmap: bad length or neither/both of MAP_SHARED, MAP_PRIVATE");
    }
    if ((offset & ~PAGE_MASK) != 0 || offset < 0) {
      throw new KernelException(Errno.EINVAL, "mmap: offset not page aligned");
    }
    long size = (len + PAGE_SIZE - 1) & PAGE_MASK;
    if (size <= 0 || size > MmStruct.TASK_SIZE) {
      throw new KernelException(Errno.ENOMEM, "mmap: length too large");
    }
    boolean anon = (flags & Mman.MAP_ANONYMOUS) != 0;
    if (!anon && file == null) {
      throw new KernelException(Errno.EBADF, "mmap: no file and no MAP_ANONYMOUS");
    }
    if (anon && type == Mman.MAP_SHARED) {
      file = AddressSpace.create(mem, new ShmemAops());
      file.setSize(size);
      offset = 0;
    } else if (anon) {
      file = null;
    }
    boolean fixed = (flags & Mman.MAP_FIXED) != 0;
    if (fixed
        && ((addr & ~PAGE_MASK) != 0
            || addr < PAGE_SIZE
            || addr + size > MmStruct.TASK_SIZE
            || addr + size < addr)) {
      throw new KernelException(
          Errno.EINVAL, "mmap: MAP_FIXED address not aligned or out of range");
    }
    long vmFlags = VmFlags.VM_MAYREAD | VmFlags.VM_MAYWRITE | VmFlags.VM_MAYEXEC;
    vmFlags |= VmFlags.fromProt(prot);
    if (type == Mman.MAP_SHARED) {
      vmFlags |= VmFlags.VM_SHARED | VmFlags.VM_MAYSHARE;
    }
    long start;
    m.mmapLock.writeLock();
    try {
      m.checkAlive();
      if (fixed) {
        start = addr;
        unmapLocked(m, start, start + size);
      } else {
        start = getUnmappedArea(m, size);
      }
      Vma v = new Vma(m, start, start + size, vmFlags, file, offset >>> PAGE_SHIFT);
      m.vmas.put(start, v);
      rmap.linkVma(v);
    } finally {
      m.mmapLock.writeUnlock();
    }
    if ((flags & Mman.MAP_POPULATE) != 0) {
      populate(m, start, start + size, (prot & Mman.PROT_WRITE) != 0 && type == Mman.MAP_PRIVATE);
    }
    return start;
  }

  /** Top-down search below {@code mmap_base}; 2 MiB aligned for lengths of 2 MiB and more. */
  private static long getUnmappedArea(MmStruct m, long size) {
    long align = size >= PageTable.PMD_SIZE ? PageTable.PMD_SIZE : PAGE_SIZE;
    long end = m.mmapBase;
    for (Vma v : m.vmas.descendingMap().values()) {
      if (v.start >= end) {
        continue;
      }
      long candidate = (end - size) & -align;
      if (candidate >= v.end) {
        return candidate;
      }
      end = v.start;
    }
    long candidate = (end - size) & -align;
    if (candidate < 0x10000) {
      throw new KernelException(Errno.ENOMEM, "mmap: no free area of " + size + " bytes");
    }
    return candidate;
  }

  /** {@code MAP_POPULATE}: fault every page in, as {@code populate_vma_page_range()} does. */
  private void populate(MmStruct m, long start, long end, boolean write) {
    m.mmapLock.readLock();
    try {
      for (long a = start; a < end; a += PAGE_SIZE) {
        Vma v = m.vmaContaining(a);
        if (v == null) {
          break;
        }
        int r = memory.handleMmFault(m, v, a, write ? VirtualMemory.FAULT_FLAG_WRITE : 0);
        if ((r & VM_FAULT_OOM) != 0) {
          break; // mmap itself succeeds, as in the kernel
        }
      }
    } finally {
      m.mmapLock.readUnlock();
    }
  }

  /** {@code munmap()}: {@code UNMAP} notifiers, then the range unmapped; holes are fine. */
  void munmap(MmStruct m, long addr, long len) {
    checkRange(addr, len);
    long end = addr + ((len + PAGE_SIZE - 1) & PAGE_MASK);
    m.mmapLock.writeLock();
    try {
      unmapLocked(m, addr, end);
    } finally {
      m.mmapLock.writeUnlock();
    }
  }

  /** EINVAL unless {@code [addr, addr + len)} is page aligned and inside {@code TASK_SIZE}. */
  static void checkRange(long addr, long len) {
    if ((addr & ~PAGE_MASK) != 0
        || len <= 0
        || addr + len > MmStruct.TASK_SIZE
        || addr + len < addr) {
      throw new KernelException(
          Errno.EINVAL, "range [" + addr + ", +" + len + ") not aligned or out of range");
    }
  }

  private void unmapLocked(MmStruct m, long start, long end) {
    List<Vma> hit = splitAround(m, start, end);
    if (hit.isEmpty()) {
      return;
    }
    MmuNotifierRange r =
        MmuNotifierRange.init(
            MmuNotifierEvent.UNMAP, MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE, m, start, end);
    m.notifiers.invalidateRangeStart(r);
    try {
      for (Vma v : hit) {
        memory.zapRange(m, v.start, v.end);
        m.vmas.remove(v.start);
        rmap.unlinkVma(v);
      }
    } finally {
      m.notifiers.invalidateRangeEnd(r);
    }
  }

  /** Splits VMAs at {@code start} and {@code end}; returns those inside {@code [start, end)}. */
  List<Vma> splitAround(MmStruct m, long start, long end) {
    List<Vma> inside = new ArrayList<>();
    Long from = m.vmas.floorKey(start);
    for (Vma v :
        new ArrayList<>(m.vmas.subMap(from == null ? start : from, true, end, false).values())) {
      if (v.end <= start || v.start >= end) {
        continue;
      }
      if (v.start < start) {
        v = split(m, v, start);
      }
      if (v.end > end) {
        split(m, v, end);
      }
      inside.add(v);
    }
    return inside;
  }

  /** {@code split_vma()}: returns the new upper part starting at {@code at}. */
  private Vma split(MmStruct m, Vma v, long at) {
    if ((at & ~PageTable.PMD_MASK) != 0) {
      long pte = m.pgtable.pte(at);
      if (huge(pte)) {
        huge.splitHugePmd(m, at);
      }
    }
    Vma upper = new Vma(m, at, v.end, v.flags, v.file, v.pgoff + ((at - v.start) >>> PAGE_SHIFT));
    upper.anonVma = v.anonVma;
    v.end = at;
    m.vmas.put(at, upper);
    rmap.linkVma(upper);
    return upper;
  }

  /** {@code exit_mmap()}: {@code release} to every notifier, then every mapping torn down. */
  void exitMmap(MmStruct mm) {
    mm.notifiers.release();
    mm.mmapLock.writeLock();
    try {
      for (Vma v : mm.vmas.values()) {
        memory.zapRange(mm, v.start, v.end);
        rmap.unlinkVma(v);
      }
      mm.vmas.clear();
      mm.dead = true;
    } finally {
      mm.mmapLock.writeUnlock();
    }
  }
}
