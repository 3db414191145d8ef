package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.notifier.MmuNotifierSubscriptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.apiguardian.api.API;

/**
 * An address space ({@code struct mm_struct}): its VMAs, page table, {@code mmap_lock}, page-table
 * lock, mmu notifiers, {@code write_protect_seq}, {@code MMF_HAS_PINNED} and user counts.
 */
@API(status = STABLE, since = "0.1.0")
public final class MmStruct {
  /** {@code TASK_SIZE}: user addresses lie below 2^47 - 4096. */
  public static final long TASK_SIZE = (1L << 47) - PAGE_SIZE;

  final long id;
  private final PhysicalMemory mem;
  private final Consumer<MmStruct> exitMmap;
  final TreeMap<Long, Vma> vmas = new TreeMap<>();
  final MmapLock mmapLock;
  final ReentrantLock ptl = new ReentrantLock();
  final PageTable pgtable = new PageTable();
  final MmuNotifierSubscriptions notifiers;
  final AtomicInteger writeProtectSeq = new AtomicInteger();
  final AtomicInteger users = new AtomicInteger(1);
  final AtomicLong anonPages = new AtomicLong();
  final AtomicLong filePages = new AtomicLong();
  volatile boolean hasPinned;
  volatile boolean dead;
  long mmapBase = 0x7f0000000000L;

  /** {@code mm_alloc()}; {@code exitMmap} tears it down when the last user goes. */
  MmStruct(long id, PhysicalMemory mem, Consumer<MmStruct> exitMmap) {
    this.id = id;
    this.mem = mem;
    this.exitMmap = exitMmap;
    this.notifiers = new MmuNotifierSubscriptions(this, mem.scheduler().newWaitQueue());
    this.mmapLock = new MmapLock(mem.scheduler().newWaitQueue());
  }

  public long id() {
    return id;
  }

  /** The mmu notifiers registered on this address space. */
  public MmuNotifierSubscriptions notifiers() {
    return notifiers;
  }

  /** {@code MMF_HAS_PINNED}: a page of this mm was ever pinned with {@code FOLL_PIN}. */
  public boolean hasPinned() {
    return hasPinned;
  }

  /** {@code mm->write_protect_seq}: odd while fork write-protects this mm's anon pages. */
  public int writeProtectSeq() {
    return writeProtectSeq.get();
  }

  /** {@code MM_ANONPAGES} and {@code MM_FILEPAGES} rss counters, in pages. */
  public long rssAnon() {
    return anonPages.get();
  }

  public long rssFile() {
    return filePages.get();
  }

  /** {@code mmget_not_zero()}: a reference that keeps the address space alive (remote GUP). */
  public boolean mmgetNotZero() {
    int u;
    do {
      u = users.get();
      if (u == 0) {
        return false;
      }
    } while (!users.compareAndSet(u, u + 1));
    return true;
  }

  /** {@code mmput()}: the last user tears the address space down. */
  public void mmput() {
    int u = users.decrementAndGet();
    if (u < 0) {
      throw mem.health().bug("mmput() on mm " + id + " without a reference");
    }
    if (u == 0) {
      exitMmap.accept(this);
    }
  }

  /** Users of this mm ({@code mm_users}). */
  public int users() {
    return users.get();
  }

  /** {@code mmap_read_lock()}: for a caller outside mm-core that walks or faults this mm. */
  public void mmapReadLock() {
    mmapLock.readLock();
  }

  /** {@code mmap_read_unlock()}. */
  public void mmapReadUnlock() {
    mmapLock.readUnlock();
  }

  /**
   * {@code vma_lookup()} for a caller holding {@code mmap_lock}: the VMA containing {@code addr}.
   */
  public Vma vmaLookup(long addr) {
    return vmaContaining(addr);
  }

  /** {@code find_vma()} under the read lock: the VMA containing {@code addr}, or null. */
  public Vma findVma(long addr) {
    mmapLock.readLock();
    try {
      return vmaContaining(addr);
    } finally {
      mmapLock.readUnlock();
    }
  }

  Vma vmaContaining(long addr) {
    Map.Entry<Long, Vma> e = vmas.floorEntry(addr);
    if (e == null || addr >= e.getValue().end) {
      return null;
    }
    return e.getValue();
  }

  /** A snapshot of the VMAs, in address order ({@code /proc/pid/maps}). */
  public List<Vma> vmas() {
    mmapLock.readLock();
    try {
      return new ArrayList<>(vmas.values());
    } finally {
      mmapLock.readUnlock();
    }
  }

  /** The pte (or huge PMD) mapping {@code addr} now, 0 if none; for tests and inspection. */
  public long pte(long addr) {
    return pgtable.pte(addr);
  }

  void checkAlive() {
    if (dead) {
      throw new KernelException(Errno.EFAULT, "mm " + id + " has exited");
    }
  }
}
