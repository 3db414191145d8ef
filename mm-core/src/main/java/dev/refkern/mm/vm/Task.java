package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.VmFault.*;
import static dev.refkern.mm.vm.Pte.*;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import java.util.concurrent.atomic.AtomicInteger;
import org.apiguardian.api.API;

/**
 * A simulated process ({@code struct task_struct}) with its address space: the system calls that
 * change the address space ({@code mmap}, {@code munmap}, {@code mprotect}, {@code madvise}, {@code
 * fork}, {@code exit}; each delegates to its kernel file's class) and user memory access that walks
 * the page tables and faults like a CPU.
 */
@API(status = STABLE, since = "0.1.0")
public final class Task {
  private static final AtomicInteger PIDS = new AtomicInteger(1);

  private final VirtualMemory vm;
  private final String name;
  private final int pid;
  private volatile MmStruct mm;
  private volatile boolean sigkill;

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

  /**
   * {@code send_sig(SIGKILL, task)}: marks the task killed and wakes every killable sleep ({@code
   * signal_wake_up()}), which then fails with {@code EINTR}. Only killable sleeps look at it; the
   * task's other kernel entries go on until it exits.
   */
  public void kill() {
    sigkill = true;
    vm.physicalMemory().health().wakeKillableSleepers();
  }

  /** {@code fatal_signal_pending(task)}: killed, or the whole machine got a fatal signal. */
  public boolean fatalSignalPending() {
    return sigkill || vm.physicalMemory().health().fatalSignalPending();
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

  // ---------------------------------------------------------------- system calls

  /**
   * {@code mmap()}. Anonymous shared memory is backed by a private shmem file, as in the kernel.
   *
   * @param file the mapped file's address space, or null with {@code MAP_ANONYMOUS}
   * @return the mapped address
   */
  public long mmap(long addr, long len, int prot, int flags, AddressSpace file, long offset) {
    return vm.mmap().mmap(liveMm(), addr, len, prot, flags, file, offset);
  }

  /** Convenience: an anonymous private read-write mapping. */
  public long mmapAnon(long len) {
    return mmap(
        0, len, Mman.PROT_READ | Mman.PROT_WRITE, Mman.MAP_PRIVATE | Mman.MAP_ANONYMOUS, null, 0);
  }

  /** {@code munmap()}: {@code UNMAP} notifiers, then the range unmapped; holes are fine. */
  public void munmap(long addr, long len) {
    vm.mmap().munmap(liveMm(), addr, len);
  }

  /** {@code mprotect()}: {@code PROTECTION_VMA} notifiers; ptes lose write or become PROT_NONE. */
  public void mprotect(long addr, long len, int prot) {
    vm.mprotect().mprotect(liveMm(), addr, len, prot);
  }

  /** {@code madvise()}: {@code MADV_DONTNEED} zaps ({@code CLEAR}); {@code MADV_[NO]HUGEPAGE}. */
  public void madvise(long addr, long len, int advice) {
    vm.madvise().madvise(liveMm(), addr, len, advice);
  }

  /** {@code fork()}: a child with a copy-on-write copy of this address space. */
  public Task fork(String childName) {
    return new Task(vm, childName, vm.fork().dupMmap(liveMm()));
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
        int r = vm.memory().handleMmFault(m, v, a, write ? VirtualMemory.FAULT_FLAG_WRITE : 0);
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
              ? Pte.pfn(pte) + ((a >>> PAGE_SHIFT) & (HugeMemory.HPAGE_PMD_NR - 1))
              : Pte.pfn(pte);
      if (write) {
        vm.physicalMemory().ram().write(pfn, (int) (a & ~PAGE_MASK), buf, off, len);
      } else {
        vm.physicalMemory().ram().read(pfn, (int) (a & ~PAGE_MASK), buf, off, len);
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
