package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.VmFault.*;
import static dev.refkern.mm.vm.Pte.*;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A simulated process ({@code struct task_struct}) with its address space: the system calls that
 * change the address space ({@code mmap}, {@code munmap}, {@code mprotect}, {@code madvise}, {@code
 * fork}, {@code exit}) and user memory access that walks the page tables and faults like a CPU.
 */
public final class Task {
  private static final AtomicInteger PIDS = new AtomicInteger(1);

  private final VirtualMemory vm;
  private final String name;
  private final int pid;
  private volatile MmStruct mm;

  Task(VirtualMemory vm, String name, MmStruct mm) {
    this.vm = vm;
    this.name = name;
    this.pid = PIDS.getAndIncrement();
    this.mm = mm;
  }

  public int pid() {
    return pid;
  }

  public String name() {
    return name;
  }

  /** The task's address space; null after {@link #exit()}. */
  public MmStruct mm() {
    return mm;
  }

  private MmStruct liveMm() {
    MmStruct m = mm;
    if (m == null) {
      throw new KernelException(Errno.EFAULT, "task " + pid + " has exited");
    }
    return m;
  }

  /**
   * {@code get_task_mm()}: a reference on this task's mm for remote access, or null if it exited.
   */
  public MmRef getTaskMm() {
    MmStruct m = mm;
    return m != null && m.mmgetNotZero() ? new MmRef(m) : null;
  }

  // ---------------------------------------------------------------- mmap

  /**
   * {@code mmap()}. Anonymous shared memory is backed by a private shmem file, as in the kernel.
   *
   * @param file the mapped file's address space, or null with {@code MAP_ANONYMOUS}
   * @return the mapped address
   */
  public long mmap(long addr, long len, int prot, int flags, AddressSpace file, long offset) {
    MmStruct m = liveMm();
    vm.mem.health().checkAlive();
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
      file = AddressSpace.create(vm.mem, new ShmemAops());
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
    if ((prot & Mman.PROT_READ) != 0) {
      vmFlags |= VmFlags.VM_READ;
    }
    if ((prot & Mman.PROT_WRITE) != 0) {
      vmFlags |= VmFlags.VM_WRITE;
    }
    if ((prot & Mman.PROT_EXEC) != 0) {
      vmFlags |= VmFlags.VM_EXEC;
    }
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
      vm.linkVma(v);
    } finally {
      m.mmapLock.writeUnlock();
    }
    if ((flags & Mman.MAP_POPULATE) != 0) {
      populate(start, start + size, (prot & Mman.PROT_WRITE) != 0 && type == Mman.MAP_PRIVATE);
    }
    return start;
  }

  /** Convenience: an anonymous private read-write mapping. */
  public long mmapAnon(long len) {
    return mmap(
        0, len, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_PRIVATE | Mman.MAP_ANONYMOUS, null, 0);
  }

  /** Top-down search below {@code mmap_base}; 2 MiB aligned for lengths of 2 MiB and more. */
  private long getUnmappedArea(MmStruct m, long size) {
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
  private void populate(long start, long end, boolean write) {
    MmStruct m = liveMm();
    m.mmapLock.readLock();
    try {
      for (long a = start; a < end; a += PAGE_SIZE) {
        Vma v = m.vmaContaining(a);
        if (v == null) {
          break;
        }
        int r = vm.handleMmFault(m, v, a, write ? VirtualMemory.FAULT_FLAG_WRITE : 0);
        if ((r & VM_FAULT_OOM) != 0) {
          break; // mmap itself succeeds, as in the kernel
        }
      }
    } finally {
      m.mmapLock.readUnlock();
    }
  }

  // ---------------------------------------------------------------- munmap, mprotect, madvise

  /** {@code munmap()}: {@code UNMAP} notifiers, then the range unmapped; holes are fine. */
  public void munmap(long addr, long len) {
    MmStruct m = liveMm();
    checkRange(addr, len);
    long end = addr + ((len + PAGE_SIZE - 1) & PAGE_MASK);
    m.mmapLock.writeLock();
    try {
      unmapLocked(m, addr, end);
    } finally {
      m.mmapLock.writeUnlock();
    }
  }

  private void checkRange(long addr, long len) {
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
        vm.zapRange(m, v.start, v.end);
        m.vmas.remove(v.start);
        vm.unlinkVma(v);
      }
    } finally {
      m.notifiers.invalidateRangeEnd(r);
    }
  }

  /** Splits VMAs at {@code start} and {@code end}; returns those inside {@code [start, end)}. */
  private List<Vma> splitAround(MmStruct m, long start, long end) {
    List<Vma> inside = new ArrayList<>();
    for (Vma v :
        new ArrayList<>(
            m.vmas
                .subMap(
                    m.vmas.floorKey(start) == null ? start : m.vmas.floorKey(start),
                    true,
                    end,
                    false)
                .values())) {
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
        vm.splitHugePmd(m, at);
      }
    }
    Vma upper = new Vma(m, at, v.end, v.flags, v.file, v.pgoff + ((at - v.start) >>> PAGE_SHIFT));
    upper.anonVma = v.anonVma;
    v.end = at;
    m.vmas.put(at, upper);
    vm.linkVma(upper);
    return upper;
  }

  /** {@code mprotect()}: {@code PROTECTION_VMA} notifiers; ptes lose write or become PROT_NONE. */
  public void mprotect(long addr, long len, int prot) {
    MmStruct m = liveMm();
    if ((addr & ~PAGE_MASK) != 0) {
      throw new KernelException(Errno.EINVAL, "mprotect: address not page aligned");
    }
    if (len == 0) {
      return;
    }
    checkRange(addr, len);
    long end = addr + ((len + PAGE_SIZE - 1) & PAGE_MASK);
    m.mmapLock.writeLock();
    try {
      for (long a = addr; a < end; ) {
        Vma v = m.vmaContaining(a);
        if (v == null) {
          throw new KernelException(
              Errno.ENOMEM, "mprotect: range not fully mapped at " + Long.toHexString(a));
        }
        if ((prot & Mman.PROT_WRITE) != 0 && (v.flags & VmFlags.VM_MAYWRITE) == 0) {
          throw new KernelException(
              Errno.EACCES, "mprotect: PROT_WRITE on a mapping that may not be written");
        }
        a = v.end;
      }
      List<Vma> hit = splitAround(m, addr, end);
      MmuNotifierRange r =
          MmuNotifierRange.init(
              MmuNotifierEvent.PROTECTION_VMA,
              MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
              m,
              addr,
              end);
      m.notifiers.invalidateRangeStart(r);
      try {
        for (Vma v : hit) {
          long f = v.flags & ~(VmFlags.VM_READ | VmFlags.VM_WRITE | VmFlags.VM_EXEC);
          if ((prot & Mman.PROT_READ) != 0) {
            f |= VmFlags.VM_READ;
          }
          if ((prot & Mman.PROT_WRITE) != 0) {
            f |= VmFlags.VM_WRITE;
          }
          if ((prot & Mman.PROT_EXEC) != 0) {
            f |= VmFlags.VM_EXEC;
          }
          v.flags = f;
          changeProtection(m, v, prot);
        }
      } finally {
        m.notifiers.invalidateRangeEnd(r);
      }
    } finally {
      m.mmapLock.writeUnlock();
    }
  }

  /** {@code change_protection()}: write access is regained by a fault; PROT_NONE hides the pte. */
  private void changeProtection(MmStruct m, Vma v, int prot) {
    boolean none = prot == Mman.PROT_NONE;
    for (long a = v.start; a < v.end; a += PAGE_SIZE) {
      long pte = m.pgtable.pte(a);
      if (pte == 0) {
        continue;
      }
      if (huge(pte)) {
        vm.splitHugePmd(m, a);
      }
      m.ptl.lock();
      try {
        PageTable.Pmd pmd = m.pgtable.pmd(a);
        long[] t = PageTable.pteTable(pmd, a);
        int i = PageTable.pteIndex(a);
        long e = PageTable.get(t, i);
        if (e == 0 || Pte.isSwap(e)) {
          continue; // swap and migration entries carry no permissions
        }
        e &= ~WRITE;
        if (none) {
          e = (e & ~PRESENT) | PROTNONE;
        } else if (protnone(e)) {
          e = (e & ~PROTNONE) | PRESENT;
        }
        PageTable.set(t, i, e);
      } finally {
        m.ptl.unlock();
      }
    }
  }

  /** {@code madvise()}: {@code MADV_DONTNEED} zaps ({@code CLEAR}); {@code MADV_[NO]HUGEPAGE}. */
  public void madvise(long addr, long len, int advice) {
    MmStruct m = liveMm();
    if ((addr & ~PAGE_MASK) != 0 || len < 0) {
      throw new KernelException(Errno.EINVAL, "madvise: address not page aligned");
    }
    if (advice != Mman.MADV_DONTNEED
        && advice != Mman.MADV_HUGEPAGE
        && advice != Mman.MADV_NOHUGEPAGE) {
      throw new KernelException(Errno.EINVAL, "madvise: unknown advice " + advice);
    }
    if (len == 0) {
      return;
    }
    long end = addr + ((len + PAGE_SIZE - 1) & PAGE_MASK);
    boolean hole = false;
    m.mmapLock.writeLock();
    try {
      for (long a = addr; a < end; ) {
        Vma v = m.vmaContaining(a);
        if (v == null) {
          hole = true;
          Long next = m.vmas.ceilingKey(a);
          if (next == null || next >= end) {
            break;
          }
          a = next;
          continue;
        }
        long s = Math.max(a, v.start);
        long e = Math.min(end, v.end);
        if (advice == Mman.MADV_DONTNEED) {
          if ((v.flags & (VmFlags.VM_LOCKED | VmFlags.VM_PFNMAP)) != 0) {
            throw new KernelException(
                Errno.EINVAL, "madvise(MADV_DONTNEED) on a locked or PFNMAP VMA");
          }
          MmuNotifierRange r =
              MmuNotifierRange.init(
                  MmuNotifierEvent.CLEAR, MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE, m, s, e);
          m.notifiers.invalidateRangeStart(r);
          try {
            vm.zapRange(m, s, e);
          } finally {
            m.notifiers.invalidateRangeEnd(r);
          }
        } else {
          for (Vma part : splitAround(m, s, e)) {
            if (advice == Mman.MADV_HUGEPAGE) {
              part.flags = (part.flags | VmFlags.VM_HUGEPAGE) & ~VmFlags.VM_NOHUGEPAGE;
            } else {
              part.flags = (part.flags | VmFlags.VM_NOHUGEPAGE) & ~VmFlags.VM_HUGEPAGE;
            }
          }
        }
        a = v.end;
      }
    } finally {
      m.mmapLock.writeUnlock();
    }
    if (hole) {
      throw new KernelException(Errno.ENOMEM, "madvise: range not fully mapped");
    }
  }

  // ---------------------------------------------------------------- fork, exit

  /** {@code fork()}: a child with a copy-on-write copy of this address space. */
  public Task fork(String childName) {
    return new Task(vm, childName, vm.dupMmap(liveMm()));
  }

  /** {@code exit()}: drops the task's reference on its mm; the last one tears it down. */
  public void exit() {
    MmStruct m = mm;
    if (m != null) {
      mm = null;
      m.mmput();
    }
  }

  // ---------------------------------------------------------------- user memory access

  /** Reads user memory, faulting as a CPU load would; an access outside any mapping is EFAULT. */
  public void load(long addr, byte[] dst, int off, int len) {
    access(addr, dst, off, len, false);
  }

  /** Writes user memory, faulting (and copying on write) as a CPU store would. */
  public void store(long addr, byte[] src, int off, int len) {
    access(addr, src, off, len, true);
  }

  public long loadLong(long addr) {
    byte[] b = new byte[8];
    load(addr, b, 0, 8);
    return java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
  }

  public void storeLong(long addr, long value) {
    byte[] b = new byte[8];
    java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(value);
    store(addr, b, 0, 8);
  }

  private void access(long addr, byte[] buf, int off, int len, boolean write) {
    MmStruct m = liveMm();
    if (len < 0 || off < 0 || off + len > buf.length) {
      throw new KernelException(Errno.EINVAL, "bad buffer");
    }
    m.mmapLock.readLock();
    try {
      long a = addr;
      int done = 0;
      int tries = 0;
      while (done < len) {
        int inPage = (int) Math.min(len - done, PAGE_SIZE - (a & ~PAGE_MASK));
        if (copyIfMapped(m, a, buf, off + done, inPage, write)) {
          done += inPage;
          a += inPage;
          tries = 0;
          continue;
        }
        Vma v = m.vmaContaining(a);
        long need = write ? VmFlags.VM_WRITE : VmFlags.VM_READ;
        if (v == null || (v.flags & need) == 0 || tries++ > 3) {
          throw new KernelException(
              Errno.EFAULT,
              "SIGSEGV: "
                  + (write ? "write" : "read")
                  + " at 0x"
                  + Long.toHexString(a)
                  + " in task "
                  + pid);
        }
        int r = vm.handleMmFault(m, v, a, write ? VirtualMemory.FAULT_FLAG_WRITE : 0);
        if ((r & VM_FAULT_OOM) != 0) {
          throw new KernelException(
              Errno.ENOMEM, "out of memory faulting 0x" + Long.toHexString(a));
        }
        if ((r & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) != 0) {
          throw new KernelException(
              Errno.EFAULT, "SIGBUS at 0x" + Long.toHexString(a) + " in task " + pid);
        }
      }
    } finally {
      m.mmapLock.readUnlock();
    }
  }

  /** Copies through a present pte with the needed permission, under the ptl; false to fault. */
  private boolean copyIfMapped(MmStruct m, long a, byte[] buf, int off, int len, boolean write) {
    m.ptl.lock();
    try {
      long pte = m.pgtable.pte(a);
      if ((pte & PRESENT) == 0 || (write && !Pte.write(pte))) {
        return false;
      }
      long pfn =
          huge(pte)
              ? Pte.pfn(pte) + ((a >>> PAGE_SHIFT) & (VirtualMemory.HPAGE_PMD_NR - 1))
              : Pte.pfn(pte);
      if (write) {
        vm.mem.ram().write(pfn, (int) (a & ~PAGE_MASK), buf, off, len);
      } else {
        vm.mem.ram().read(pfn, (int) (a & ~PAGE_MASK), buf, off, len);
      }
      return true;
    } finally {
      m.ptl.unlock();
    }
  }

  @Override
  public String toString() {
    return name + "[" + pid + "]";
  }
}
