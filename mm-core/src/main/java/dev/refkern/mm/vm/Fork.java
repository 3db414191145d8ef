package dev.refkern.mm.vm;

import dev.refkern.mm.PhysicalMemory;
import java.util.function.LongSupplier;

/**
 * Address-space creation and duplication ({@code kernel/fork.c}): {@code mm_alloc()}, {@code
 * dup_mmap()}.
 */
final class Fork {
  private final PhysicalMemory mem;
  private final LongSupplier ids;
  private final Mmap mmap;
  private final Memory memory;
  private final Rmap rmap;

  Fork(PhysicalMemory mem, LongSupplier ids, Mmap mmap, Memory memory, Rmap rmap) {
    this.mem = mem;
    this.ids = ids;
    this.mmap = mmap;
    this.memory = memory;
    this.rmap = rmap;
  }

  /**
   * {@code mm_alloc()}: an empty address space; its last {@code mmput()} runs {@code exit_mmap()}.
   */
  MmStruct mmAlloc() {
    return new MmStruct(ids.getAsLong(), mem, mmap::exitMmap);
  }

  /** {@code dup_mmap()}: the child's address space, copy-on-write. */
  MmStruct dupMmap(MmStruct parent) {
    MmStruct child = mmAlloc();
    parent.mmapLock.writeLock();
    try {
      parent.checkAlive();
      parent.writeProtectSeq.incrementAndGet(); // odd: gup_fast must not pin now
      try {
        child.mmapBase = parent.mmapBase;
        for (Vma v : parent.vmas.values()) {
          if ((v.flags & VmFlags.VM_DONTCOPY) != 0) {
            continue;
          }
          Vma c = new Vma(child, v.start, v.end, v.flags, v.file, v.pgoff);
          c.anonVma = v.anonVma;
          child.vmas.put(c.start, c);
          rmap.linkVma(c);
          if (v.anonVma != null || (v.file != null && VmFlags.isCowMapping(v.flags))) {
            memory.copyPageRange(parent, child, v, c);
          }
        }
      } finally {
        parent.writeProtectSeq.incrementAndGet();
      }
    } finally {
      parent.mmapLock.writeUnlock();
    }
    return child;
  }
}
