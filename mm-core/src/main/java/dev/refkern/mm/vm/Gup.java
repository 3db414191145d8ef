package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.VmFault.*;
import static dev.refkern.mm.vm.Foll.*;
import static dev.refkern.mm.vm.Pte.*;
import static org.apiguardian.api.API.Status.STABLE;

import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.VmStat;
import dev.refkern.mm.ZoneType;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.mm.internal.trace.MmTraceEvents;
import org.apiguardian.api.API;

/**
 * {@code get_user_pages()} and {@code pin_user_pages()} in all their variants, and the matching
 * releases ({@code mm/gup.c}). Pages are returned as pfns; {@link PageAllocator#NO_PFN} is {@code
 * NULL}. Every call returns how many pages it took; an error is thrown only when it took none
 * (partial success, as the kernel does).
 *
 * <p>{@code FOLL_LONGTERM} migrates {@code ZONE_MOVABLE} pages out before it pins them; if one
 * cannot move (another pin holds it), every pin is dropped and the call fails with {@code -ENOMEM},
 * as {@code migrate_longterm_unpinnable_folios()} does.
 */
@API(status = STABLE, since = "0.1.0")
public final class Gup {

  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final PageAllocator alloc;
  private final VmStat vmstat;
  private final PinTrackingPolicy policy;
  private final java.util.concurrent.atomic.LongAdder fastPages =
      new java.util.concurrent.atomic.LongAdder();

  private final FolioOps folios;
  private final LruVec lru;
  private final Migrate migration;
  private final MigrateDevice migrateDevice;
  private final Memory memory;
  private final long zeroPfn;
  private final PinWaitQueue pinWait;
  private final LongtermFilePinPolicy longtermFile;

  Gup(
      PhysicalMemory mem,
      MemmapOps memmap,
      FolioOps folios,
      LruVec lru,
      long zeroPfn,
      Migrate migration,
      MigrateDevice migrateDevice,
      Memory memory,
      PinTrackingPolicy policy,
      PinWaitQueue pinWait,
      LongtermFilePinPolicy longtermFile) {
    this.mem = mem;
    this.memmap = memmap;
    this.alloc = mem.allocator();
    this.vmstat = mem.vmstat();
    this.folios = folios;
    this.lru = lru;
    this.zeroPfn = zeroPfn;
    this.migration = migration;
    this.migrateDevice = migrateDevice;
    this.memory = memory;
    this.policy = policy;
    this.pinWait = pinWait;
    this.longtermFile = longtermFile;
  }

  // ---------------------------------------------------------------- entry points

  /**
   * {@code get_user_pages()}: references ({@code FOLL_GET}) on {@code task}'s pages; {@code pages}
   * may be null.
   */
  public long getUserPages(Task task, long start, long nrPages, int gupFlags, long[] pages) {
    MmTraceEvents.PinBatch ev = new MmTraceEvents.PinBatch(); // scalar-replaced when off
    ev.begin();
    long r = Long.MIN_VALUE;
    try {
      checkArgs(pages, nrPages, gupFlags, 0);
      r =
          slowLocked(
              mmOf(task),
              start,
              nrPages,
              gupFlags | (pages != null ? FOLL_GET : 0) | FOLL_TOUCH,
              pages,
              0);
      return r;
    } catch (KernelException e) {
      r = -e.errno().number();
      throw e;
    } finally {
      if (ev.shouldCommit()) {
        commitPin(ev, "get_user_pages", task.mm(), nrPages, gupFlags, r);
      }
    }
  }

  /** {@code get_user_pages_fast()}: lockless first, then the slow path for the rest. */
  public long getUserPagesFast(Task task, long start, long nrPages, int gupFlags, long[] pages) {
    MmTraceEvents.PinBatch ev = new MmTraceEvents.PinBatch(); // scalar-replaced when off
    ev.begin();
    long r = Long.MIN_VALUE;
    try {
      checkArgs(pages, nrPages, gupFlags, FOLL_GET);
      r = fastFallback(mmOf(task), start, nrPages, gupFlags | FOLL_GET, pages);
      return r;
    } catch (KernelException e) {
      r = -e.errno().number();
      throw e;
    } finally {
      if (ev.shouldCommit()) {
        commitPin(ev, "get_user_pages_fast", task.mm(), nrPages, gupFlags, r);
      }
    }
  }

  /** {@code get_user_pages_remote()}: another task's pages; needs a reference on its mm. */
  public long getUserPagesRemote(MmRef mm, long start, long nrPages, int gupFlags, long[] pages) {
    MmTraceEvents.PinBatch ev = new MmTraceEvents.PinBatch(); // scalar-replaced when off
    ev.begin();
    long r = Long.MIN_VALUE;
    try {
      checkArgs(pages, nrPages, gupFlags, 0);
      r =
          slowLocked(
              mm.mm(),
              start,
              nrPages,
              gupFlags | (pages != null ? FOLL_GET : 0) | FOLL_TOUCH | FOLL_REMOTE,
              pages,
              0);
      return r;
    } catch (KernelException e) {
      r = -e.errno().number();
      throw e;
    } finally {
      if (ev.shouldCommit()) {
        commitPin(ev, "get_user_pages_remote", mm.mm(), nrPages, gupFlags, r);
      }
    }
  }

  /** {@code pin_user_pages()}: {@code FOLL_PIN}, released only by {@link #unpinUserPage}. */
  public long pinUserPages(Task task, long start, long nrPages, int gupFlags, long[] pages) {
    MmTraceEvents.PinBatch ev = new MmTraceEvents.PinBatch(); // scalar-replaced when off
    ev.begin();
    long r = Long.MIN_VALUE;
    try {
      checkArgs(pages, nrPages, gupFlags, FOLL_PIN);
      MmStruct mm = mmOf(task);
      mm.hasPinned = true;
      r = longterm(mm, start, nrPages, gupFlags | FOLL_PIN | FOLL_TOUCH, pages, false);
      return r;
    } catch (KernelException e) {
      r = -e.errno().number();
      throw e;
    } finally {
      if (ev.shouldCommit()) {
        commitPin(ev, "pin_user_pages", task.mm(), nrPages, gupFlags, r);
      }
    }
  }

  /** {@code pin_user_pages_fast()}. */
  public long pinUserPagesFast(Task task, long start, long nrPages, int gupFlags, long[] pages) {
    MmTraceEvents.PinBatch ev = new MmTraceEvents.PinBatch(); // scalar-replaced when off
    ev.begin();
    long r = Long.MIN_VALUE;
    try {
      checkArgs(pages, nrPages, gupFlags, FOLL_PIN);
      MmStruct mm = mmOf(task);
      mm.hasPinned = true;
      r = longterm(mm, start, nrPages, gupFlags | FOLL_PIN, pages, true);
      return r;
    } catch (KernelException e) {
      r = -e.errno().number();
      throw e;
    } finally {
      if (ev.shouldCommit()) {
        commitPin(ev, "pin_user_pages_fast", task.mm(), nrPages, gupFlags, r);
      }
    }
  }

  /** {@code pin_user_pages_remote()}. */
  public long pinUserPagesRemote(MmRef ref, long start, long nrPages, int gupFlags, long[] pages) {
    MmTraceEvents.PinBatch ev = new MmTraceEvents.PinBatch(); // scalar-replaced when off
    ev.begin();
    long r = Long.MIN_VALUE;
    try {
      checkArgs(pages, nrPages, gupFlags, FOLL_PIN);
      MmStruct mm = ref.mm();
      mm.hasPinned = true;
      r =
          longterm(
              mm, start, nrPages, gupFlags | FOLL_PIN | FOLL_TOUCH | FOLL_REMOTE, pages, false);
      return r;
    } catch (KernelException e) {
      r = -e.errno().number();
      throw e;
    } finally {
      if (ev.shouldCommit()) {
        commitPin(ev, "pin_user_pages_remote", ref.mm(), nrPages, gupFlags, r);
      }
    }
  }

  private static void commitPin(
      MmTraceEvents.PinBatch ev, String fn, MmStruct mm, long nrPages, int gupFlags, long r) {
    ev.function = fn;
    ev.mm = mm == null ? -1 : mm.id();
    ev.nrPages = nrPages;
    ev.gupFlags = gupFlags;
    ev.result = r;
    ev.commit();
  }

  private MmStruct mmOf(Task task) {
    MmStruct mm = task.mm();
    if (mm == null) {
      throw new KernelException(Errno.EFAULT, "task " + task.pid() + " has no mm");
    }
    return mm;
  }

  /**
   * {@code is_valid_gup_args()} (mm/gup.c): contradictory flags are a {@code WARN} and {@code
   * -EINVAL}, before anything is taken. {@code toSet} is what the entry point adds: {@code
   * FOLL_PIN} for the pin family, {@code FOLL_GET} for {@code get_user_pages_fast()}, nothing for
   * {@code get_user_pages[_remote]()} (which take references only when given a pages array). A
   * caller's own {@code FOLL_GET} is fine unless it meets {@code FOLL_PIN}.
   */
  private void checkArgs(long[] pages, long nrPages, int gupFlags, int toSet) {
    mem.health().checkAlive();
    String bad = null;
    int flags = gupFlags | toSet;
    if ((gupFlags & INTERNAL) != 0) {
      bad = "internal FOLL_ flags 0x" + Integer.toHexString(gupFlags & INTERNAL) + " from a caller";
    } else if ((flags & (FOLL_GET | FOLL_PIN)) == (FOLL_GET | FOLL_PIN)) {
      bad = "FOLL_GET with FOLL_PIN";
    } else if ((flags & FOLL_LONGTERM) != 0 && (flags & FOLL_PIN) == 0) {
      bad = "FOLL_LONGTERM without FOLL_PIN";
    } else if ((flags & (FOLL_GET | FOLL_PIN)) != 0 && pages == null) {
      bad = "Pages input must be given if using GET/PIN";
    } else if ((gupFlags & FOLL_PCI_P2PDMA) != 0 && (flags & FOLL_PIN) == 0) {
      bad = "FOLL_PCI_P2PDMA without FOLL_PIN";
    } else if (nrPages < 0 || (pages != null && nrPages > pages.length)) {
      bad = "nr_pages " + nrPages + " does not fit the pages array";
    }
    if (bad != null) {
      mem.health().warn(true, "is_valid_gup_args: " + bad);
      throw new KernelException(Errno.EINVAL, bad);
    }
  }

  // ---------------------------------------------------------------- FOLL_LONGTERM

  private long longterm(
      MmStruct mm, long start, long nrPages, int flags, long[] pages, boolean fast) {
    for (int attempt = 0; ; attempt++) {
      long n =
          fast
              ? fastFallback(mm, start, nrPages, flags, pages)
              : slowLocked(mm, start, nrPages, flags, pages, 0);
      if ((flags & FOLL_LONGTERM) == 0 || n <= 0) {
        return n;
      }
      // check_and_migrate_movable_folios(): everything in ZONE_MOVABLE moves out first
      int unpinnable = 0;
      for (int i = 0; i < n; i++) {
        if (pages[i] != PageAllocator.NO_PFN && !longtermPinnable(pages[i])) {
          unpinnable++;
        }
      }
      if (unpinnable == 0) {
        return n;
      }
      long[] move = new long[unpinnable];
      for (int i = 0, k = 0; i < n; i++) {
        if (pages[i] != PageAllocator.NO_PFN && !longtermPinnable(pages[i])) {
          move[k++] = pages[i];
        }
      }
      unpinUserPages(pages, (int) n);
      lru.lruAddDrainAll(); // migrate_prep: batched folios hold references
      for (long pfn : move) {
        int rc;
        if (isDeviceCoherent(pfn)) {
          // migrate_device_coherent_folio() consumes a reference of ours
          if (!memmap.refTryAdd(pfn, 1)) {
            continue; // freed meanwhile: the retry pins whatever is mapped now
          }
          rc = migrateDevice.migrateDeviceCoherentFolio(pfn);
        } else {
          rc = migration.migrate(pfn, false, "longterm_pin");
        }
        if (rc != 0) {
          // migrate_longterm_unpinnable_folios(): a folio that will not move fails the pin
          throw new KernelException(
              Errno.ENOMEM,
              "FOLL_LONGTERM: pfn "
                  + pfn
                  + " in ZONE_MOVABLE could not be migrated ("
                  + Errno.of(rc)
                  + ")");
        }
      }
      if (attempt >= 3) {
        throw new KernelException(
            Errno.ENOMEM, "FOLL_LONGTERM: pages kept landing in ZONE_MOVABLE");
      }
      // -EAGAIN: pin again; the pages now sit where a long-term pin may hold them
    }
  }

  private boolean isDeviceCoherent(long pfn) {
    dev.refkern.mm.DevPagemap pg = mem.pagemapOf(pfn);
    return pg != null && pg.type() == dev.refkern.mm.DevPagemap.MemoryType.DEVICE_COHERENT;
  }

  /** {@code folio_is_longterm_pinnable()}. */
  private boolean longtermPinnable(long pfn) {
    if (memmap.testFlag(pfn, PG_ZERO_PAGE)) {
      return true;
    }
    return memmap.zone(pfn) != ZoneType.MOVABLE && memmap.zone(pfn) != ZoneType.DEVICE;
  }

  // ---------------------------------------------------------------- gup_fast

  /** {@code gup_fast_fallback()}. */
  private long fastFallback(MmStruct mm, long start, long nrPages, int flags, long[] pages) {
    start &= PAGE_MASK;
    if (nrPages == 0) {
      return 0;
    }
    long len = nrPages << PAGE_SHIFT;
    long end = start + len;
    if ((nrPages >>> 51) != 0 || Long.compareUnsigned(end, start) < 0) {
      throw new KernelException(Errno.EOVERFLOW, "range wraps");
    }
    if (Long.compareUnsigned(end, MmStruct.TASK_SIZE) > 0) {
      throw new KernelException(Errno.EFAULT, "range beyond TASK_SIZE");
    }
    int nr =
        (flags & FOLL_PIN) != 0 && !policy.fastPathAvailable()
            ? 0
            : gupFast(mm, start, end, flags, pages);
    fastPages.add(nr);
    if (nr == nrPages || (flags & FOLL_FAST_ONLY) != 0) {
      return nr;
    }
    try {
      long rest =
          slowLocked(
              mm, start + ((long) nr << PAGE_SHIFT), nrPages - nr, flags | FOLL_TOUCH, pages, nr);
      return nr + rest;
    } catch (KernelException e) {
      if (nr > 0) {
        return nr; // partial success hides the error
      }
      throw e;
    }
  }

  /**
   * {@code gup_fast()}: walks the page table with no lock, takes each folio with a speculative
   * reference, re-checks the entry, and stops at anything it cannot prove safe.
   */
  private int gupFast(MmStruct mm, long start, long end, int flags, long[] pages) {
    int seq = 0;
    if ((flags & FOLL_PIN) != 0) {
      seq = mm.writeProtectSeq.get();
      if ((seq & 1) != 0) {
        return 0; // fork is write-protecting: no fast pins now
      }
    }
    boolean write = (flags & FOLL_WRITE) != 0;
    int nr = 0;
    long addr = start;
    while (addr < end) {
      PageTable.Pmd pmd = mm.pgtable.pmd(addr);
      if (pmd == null) {
        break;
      }
      int hi = PageTable.pmdIndex(addr);
      long h = PageTable.get(pmd.huge, hi);
      if (h != 0) {
        long pmdEnd = Math.min(end, (addr & PageTable.PMD_MASK) + PageTable.PMD_SIZE);
        int refs = (int) ((pmdEnd - addr) >>> PAGE_SHIFT);
        if ((h & PRESENT) == 0 || (write && !Pte.write(h)) || !fastAllowed(h, flags)) {
          break;
        }
        long head = Pte.pfn(h);
        if (!tryGrabFast(head, refs, flags)) {
          break;
        }
        if (PageTable.get(pmd.huge, hi) != h || mustUnshare(null, head, h, flags)) {
          putFolio(head, refs, flags);
          break;
        }
        long first = head + ((addr >>> PAGE_SHIFT) & (HugeMemory.HPAGE_PMD_NR - 1));
        for (int i = 0; i < refs; i++) {
          pages[nr + i] = first + i;
        }
        nr += refs;
        addr = pmdEnd;
        continue;
      }
      long[] t = PageTable.pteTable(pmd, addr);
      if (t == null) {
        break;
      }
      // gup_fast_pte_range(): every entry of this pte table within the range
      long tableEnd = Math.min(end, (addr & PageTable.PMD_MASK) + PageTable.PMD_SIZE);
      boolean stop = false;
      for (int i = PageTable.pteIndex(addr); addr < tableEnd; i++, addr += PAGE_SIZE) {
        long e = PageTable.get(t, i);
        if ((e & PRESENT) == 0
            || special(e)
            || (write && !Pte.write(e))
            || !fastAllowed(e, flags)) {
          stop = true;
          break;
        }
        long pfn = Pte.pfn(e);
        long head = memmap.compoundHead(pfn);
        if (!tryGrabFast(head, 1, flags)) {
          stop = true;
          break;
        }
        if (PageTable.get(t, i) != e || mustUnshare(null, head, e, flags)) {
          putFolio(head, 1, flags);
          stop = true;
          break;
        }
        pages[nr++] = pfn;
      }
      if (stop) {
        break;
      }
    }
    if ((flags & FOLL_PIN) != 0 && mm.writeProtectSeq.get() != seq) {
      // a fork ran meanwhile: what we pinned may be COW-shared now
      for (int i = 0; i < nr; i++) {
        unpinUserPage(pages[i]);
      }
      return 0;
    }
    return nr;
  }

  /**
   * {@code gup_fast_folio_allowed()}: long-term or writable pins of file pages need the slow path.
   */
  private boolean fastAllowed(long e, int flags) {
    if ((flags & (FOLL_LONGTERM | FOLL_WRITE)) == 0) {
      return true;
    }
    long head = memmap.compoundHead(Pte.pfn(e));
    if (memmap.testFlag(head, PG_ANON)) {
      return (flags & FOLL_LONGTERM) == 0 || longtermPinnable(head);
    }
    return (flags & FOLL_LONGTERM) == 0; // a file folio: let the slow path check dirty tracking
  }

  /**
   * {@code !pte_write() && gup_must_unshare()} (mm/internal.h), for a read pin only: an anon page
   * that is not exclusive; any other page (page cache, the zero page) only for {@code
   * FOLL_LONGTERM} in a COW mapping, where the process's next write would COW away from the pin.
   * {@code vma} is null from {@code gup_fast}, which then assumes a COW mapping and falls back.
   */
  private boolean mustUnshare(Vma vma, long head, long e, int flags) {
    if ((flags & (FOLL_WRITE | FOLL_PIN)) != FOLL_PIN || Pte.write(e)) {
      return false;
    }
    if (!memmap.testFlag(head, PG_ANON)) {
      return (flags & FOLL_LONGTERM) != 0 && (vma == null || VmFlags.isCowMapping(vma.flags));
    }
    return !memmap.testFlag(Pte.pfn(e), PG_ANON_EXCLUSIVE)
        && !memmap.testFlag(head, PG_ANON_EXCLUSIVE);
  }

  /** {@code try_grab_folio_fast()}: refuses a free folio and an overflowing count. */
  private boolean tryGrabFast(long head, int refs, int flags) {
    if ((flags & FOLL_PIN) == 0) {
      return memmap.refTryAdd(head, refs);
    }
    if (!policy.grab(head, refs, true)) {
      return false;
    }
    vmstat.add(VmItem.NR_FOLL_PIN_ACQUIRED, refs);
    return true;
  }

  /**
   * {@code try_grab_folio()}: {@code FOLL_GET} adds 1 per page; {@code FOLL_PIN} adds {@value
   * Foll#GUP_PIN_COUNTING_BIAS} to a small folio or 1 plus 1 on {@code _pincount} to a large one;
   * the zero page is never pinned. Fails with {@code ENOMEM} rather than overflow.
   */
  int tryGrabFolio(long pfn, int refs, int flags) {
    long head = memmap.compoundHead(pfn);
    if ((flags & FOLL_PIN) != 0 && memmap.testFlag(head, PG_ZERO_PAGE)) {
      return 0;
    }
    if ((flags & (FOLL_PIN | FOLL_GET)) == 0) {
      return 0;
    }
    if (memmap.refcount(head) <= 0) {
      mem.health().warn(true, "try_grab_folio() on free pfn " + pfn);
      return -Errno.ENOMEM.number();
    }
    boolean ok =
        (flags & FOLL_PIN) != 0 ? policy.grab(head, refs, false) : memmap.refTryAdd(head, refs);
    if (!ok) {
      return -Errno.ENOMEM.number(); // refcount overflow: refuse rather than wrap
    }
    if ((flags & FOLL_PIN) != 0) {
      vmstat.add(VmItem.NR_FOLL_PIN_ACQUIRED, refs);
    }
    return 0;
  }

  // ---------------------------------------------------------------- slow path

  private long slowLocked(
      MmStruct mm, long start, long nrPages, int flags, long[] pages, int offset) {
    if (nrPages == 0) {
      return 0;
    }
    mm.mmapLock.readLock();
    try {
      mm.checkAlive();
      return getUserPagesSlow(mm, start, nrPages, flags, pages, offset);
    } finally {
      mm.mmapLock.readUnlock();
    }
  }

  /** {@code __get_user_pages()}: follow each page, faulting it in where needed. */
  private long getUserPagesSlow(
      MmStruct mm, long start, long nrPages, int flags, long[] pages, int offset) {
    long addr = start & PAGE_MASK;
    long i = 0;
    Errno err = null;
    String why = null;
    Vma vma = null;
    outer:
    while (i < nrPages) {
      if (vma == null || addr >= vma.end || addr < vma.start) {
        vma = addr >= MmStruct.TASK_SIZE || addr < 0 ? null : mm.vmaContaining(addr);
        if (vma == null) {
          err = Errno.EFAULT;
          why = "no VMA at 0x" + Long.toHexString(addr);
          break;
        }
        Errno e = checkVmaFlags(vma, flags);
        if (e != null) {
          err = e;
          why = "check_vma_flags refused " + vma;
          break;
        }
      }
      int tries = 0;
      while (true) {
        long max = Math.min(nrPages - i, (vma.end - addr) >>> PAGE_SHIFT);
        int r =
            followPages(
                mm,
                vma,
                addr,
                (int) Math.min(max, Integer.MAX_VALUE),
                flags,
                pages,
                offset + (int) i);
        if (r > 0) {
          i += r - 1; // the loop's own step takes the last one
          addr += (long) (r - 1) << PAGE_SHIFT;
          mem.scheduler().condResched(); // __get_user_pages(): cond_resched() between runs
          break;
        }
        if (r < 0 && r != -Errno.EMLINK.number()) {
          err = Errno.of(r);
          why = "grab failed at 0x" + Long.toHexString(addr);
          break outer;
        }
        if ((flags & FOLL_NOFAULT) != 0 || tries++ > 4) {
          err = Errno.EFAULT;
          why = "FOLL_NOFAULT or no progress at 0x" + Long.toHexString(addr);
          break outer;
        }
        int ff = 0;
        if ((flags & FOLL_WRITE) != 0) {
          ff |= VirtualMemory.FAULT_FLAG_WRITE;
        } else if (r == -Errno.EMLINK.number()) {
          ff |= VirtualMemory.FAULT_FLAG_UNSHARE;
        }
        if ((flags & FOLL_REMOTE) != 0) {
          ff |= VirtualMemory.FAULT_FLAG_REMOTE;
        }
        int fr = memory.handleMmFault(mm, vma, addr, ff);
        if ((fr & VM_FAULT_OOM) != 0) {
          err = Errno.ENOMEM;
          why = "out of memory faulting 0x" + Long.toHexString(addr);
          break outer;
        }
        if ((fr & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) != 0) {
          err = Errno.EFAULT;
          why = "fault failed at 0x" + Long.toHexString(addr);
          break outer;
        }
      }
      i++;
      addr += PAGE_SIZE;
    }
    if (i > 0 || err == null) {
      return i;
    }
    throw new KernelException(err, why);
  }

  /** {@code check_vma_flags()}. */
  private Errno checkVmaFlags(Vma vma, int flags) {
    long vf = vma.flags;
    boolean write = (flags & FOLL_WRITE) != 0;
    if ((vf & (VmFlags.VM_IO | VmFlags.VM_PFNMAP)) != 0) {
      return Errno.EFAULT;
    }
    if ((flags & FOLL_ANON) != 0 && !vma.isAnonymous()) {
      return Errno.EFAULT;
    }
    if ((flags & FOLL_LONGTERM) != 0 && (vf & VmFlags.VM_FSDAX) != 0) {
      return Errno.EOPNOTSUPP;
    }
    if ((vf & VmFlags.VM_SECRETMEM) != 0) {
      return Errno.EFAULT;
    }
    if (write) {
      if (!vma.isAnonymous() && !writableFileMappingAllowed(vma, flags)) {
        return Errno.EFAULT;
      }
      if ((vf & VmFlags.VM_WRITE) == 0) {
        if ((flags & FOLL_FORCE) == 0 || !VmFlags.isCowMapping(vf)) {
          return Errno.EFAULT;
        }
      }
    } else if ((vf & VmFlags.VM_READ) == 0) {
      if ((flags & FOLL_FORCE) == 0 || (vf & VmFlags.VM_MAYREAD) == 0) {
        return Errno.EFAULT;
      }
    }
    return null;
  }

  /**
   * {@code writable_file_mapping_allowed()}: a long-term writable pin of a shared file mapping
   * whose filesystem tracks dirty pages is what {@code gup.longterm_file=} decides: refused since
   * 6.5 (writeback could not see the DMA's writes), allowed before.
   */
  private boolean writableFileMappingAllowed(Vma vma, int flags) {
    if ((flags & FOLL_LONGTERM) == 0) {
      return true;
    }
    boolean needsDirtyTracking =
        (vma.flags & VmFlags.VM_SHARED) != 0 && !(vma.file.aops() instanceof ShmemAops);
    return !needsDirtyTracking || longtermFile.writableFileMappingAllowed(vma);
  }

  /**
   * {@code follow_page_mask()} over a run of pages under one page-table lock: takes up to {@code
   * max} pages from {@code addr} that need no fault (never crossing a PMD). Returns how many it
   * took, 0 if the first needs a fault, {@code -EMLINK} if it must be unshared first, or another
   * negative errno.
   */
  private int followPages(
      MmStruct mm, Vma vma, long addr, int max, int flags, long[] pages, int slot) {
    boolean write = (flags & FOLL_WRITE) != 0;
    int done = 0;
    mm.ptl.lock();
    try {
      PageTable.Pmd pmd = mm.pgtable.pmd(addr);
      if (pmd == null) {
        return 0;
      }
      long pmdEnd = (addr & PageTable.PMD_MASK) + PageTable.PMD_SIZE;
      int inPmd = (int) Math.min(max, (pmdEnd - addr) >>> PAGE_SHIFT);
      long h = PageTable.get(pmd.huge, PageTable.pmdIndex(addr));
      if (h != 0) {
        // follow_huge_pmd(): the whole run in one grab of the folio
        if ((protnone(h) && (flags & FOLL_FORCE) == 0) || (write && !Pte.write(h))) {
          return 0;
        }
        long head = Pte.pfn(h);
        if (mustUnshare(vma, head, h, flags)) {
          return -Errno.EMLINK.number();
        }
        long first = head + ((addr >>> PAGE_SHIFT) & (HugeMemory.HPAGE_PMD_NR - 1));
        if (pages != null) {
          int r = tryGrabFolio(head, inPmd, flags);
          if (r < 0) {
            return r;
          }
          for (int k = 0; k < inPmd; k++) {
            pages[slot + k] = first + k;
          }
        }
        if ((flags & FOLL_TOUCH) != 0) {
          touch(head, h, write);
        }
        return inPmd;
      }
      long[] t = PageTable.pteTable(pmd, addr);
      if (t == null) {
        return 0;
      }
      for (int i = PageTable.pteIndex(addr); done < inPmd; i++) {
        long e = PageTable.get(t, i);
        if (!present(e) || (protnone(e) && (flags & FOLL_FORCE) == 0)) {
          break;
        }
        long pfn = Pte.pfn(e);
        if (write && !Pte.write(e) && !canFollowWritePte(e, pfn, vma, flags)) {
          break;
        }
        if (special(e) && (pfn != zeroPfn || write)) {
          break;
        }
        long head = memmap.compoundHead(pfn);
        if (mustUnshare(vma, head, e, flags)) {
          return done > 0 ? done : -Errno.EMLINK.number(); // the zero page too, if long-term
        }
        if (pages != null) {
          int r = tryGrabFolio(pfn, 1, flags);
          if (r < 0) {
            return done > 0 ? done : r;
          }
          pages[slot + done] = pfn;
        }
        if ((flags & FOLL_TOUCH) != 0 && !special(e)) {
          touch(head, e, write);
        }
        done++;
      }
      return done;
    } finally {
      mm.ptl.unlock();
    }
  }

  /**
   * {@code FOLL_TOUCH}: {@code mark_page_accessed()}, and dirty for a write ({@code
   * set_page_dirty}).
   */
  private void touch(long head, long e, boolean write) {
    if (write && !dirty(e) && !memmap.testFlag(head, PG_DIRTY)) {
      memmap.setFlag(head, PG_DIRTY);
    }
    if (!memmap.testFlag(head, PG_REFERENCED)) {
      memmap.setFlag(head, PG_REFERENCED);
    }
  }

  /**
   * {@code can_follow_write_pte()}: {@code FOLL_FORCE} may write an exclusive anon page of a COW
   * mapping.
   */
  private boolean canFollowWritePte(long e, long pfn, Vma vma, int flags) {
    if ((flags & FOLL_FORCE) == 0 || !VmFlags.isCowMapping(vma.flags) || special(e)) {
      return false;
    }
    long head = memmap.compoundHead(pfn);
    return memmap.testFlag(head, PG_ANON)
        && (memmap.testFlag(pfn, PG_ANON_EXCLUSIVE) || memmap.testFlag(head, PG_ANON_EXCLUSIVE))
        && dirty(e);
  }

  // ---------------------------------------------------------------- release

  /** {@code gup_put_folio()}. */
  private void putFolio(long head, int refs, int flags) {
    if ((flags & FOLL_PIN) != 0) {
      if (memmap.testFlag(head, PG_ZERO_PAGE)) {
        return;
      }
      vmstat.add(VmItem.NR_FOLL_PIN_RELEASED, refs);
      refs = policy.release(head, refs);
      folioPutRefs(head, refs);
      pinWait.wakeUnpinned(); // writeback.pinned=wait, truncate.pinned=wait sleep for this
      return;
    }
    folioPutRefs(head, refs);
  }

  /** {@code folio_put_refs()}: drops {@code refs}; the last reference frees through put_page. */
  private void folioPutRefs(long head, int refs) {
    while (true) {
      int c = memmap.refcount(head);
      if (c <= refs) {
        break;
      }
      if (memmap.refCompareAndSet(head, c, c - refs)) {
        return;
      }
    }
    // at most the last refs references: leave one and let put_page free (and check) the folio
    if (refs > 1 && !memmap.refCompareAndSet(head, refs, 1)) {
      for (int i = 0; i < refs - 1; i++) {
        alloc.putPage(head);
      }
    }
    alloc.putPage(head);
  }

  /** {@code unpin_user_page()}: releases one {@code FOLL_PIN} reference. */
  public void unpinUserPage(long pfn) {
    MmTraceEvents.UnpinBatch ev = new MmTraceEvents.UnpinBatch();
    ev.begin();
    boolean released = unpinUserPage0(pfn);
    if (ev.shouldCommit()) {
      commitUnpin(ev, "unpin_user_page", 1, released ? 1 : 0, false);
    }
  }

  private boolean unpinUserPage0(long pfn) {
    if (unpinOne(pfn)) {
      vmstat.add(VmItem.NR_FOLL_PIN_RELEASED, 1);
      return true;
    }
    return false;
  }

  private static void commitUnpin(
      MmTraceEvents.UnpinBatch ev, String fn, long nrPages, long released, boolean dirty) {
    ev.function = fn;
    ev.nrPages = nrPages;
    ev.released = released;
    ev.makeDirty = dirty;
    ev.commit();
  }

  /**
   * Drops one pin without touching vmstat; returns whether a pin was dropped (not the zero page).
   */
  private boolean unpinOne(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (memmap.testFlag(head, PG_ZERO_PAGE)) {
      return false;
    }
    int refs = policy.release(head, 1);
    if (refs < 0) {
      throw mem.health().bug("unpin_user_page() on pfn " + pfn + " that holds no pin");
    }
    folioPutRefs(head, refs);
    pinWait.wakeUnpinned();
    return true;
  }

  /** {@code unpin_user_pages()}: NULL entries ({@link PageAllocator#NO_PFN}) are skipped. */
  public void unpinUserPages(long[] pages, int npages) {
    MmTraceEvents.UnpinBatch ev = new MmTraceEvents.UnpinBatch();
    ev.begin();
    long released = 0;
    for (int i = 0; i < npages; ) {
      long pfn = pages[i];
      if (pfn == PageAllocator.NO_PFN) {
        i++;
        continue;
      }
      memmap.checkPfn(pfn); // the caller's array: checked before its entry is looked at
      int nr = samefolioRun(pages, i, npages);
      if (nr == 1) {
        released += unpinOne(pfn) ? 1 : 0;
      } else {
        unpinLargeFolio(pfn, nr);
        released += nr;
      }
      i += nr;
    }
    // one vmstat update per call, as the kernel's per-cpu counters make it cheap
    vmstat.add(VmItem.NR_FOLL_PIN_RELEASED, released);
    if (ev.shouldCommit()) {
      commitUnpin(ev, "unpin_user_pages", npages, released, false);
    }
  }

  /**
   * {@code gup_folio_next()}: how many entries from {@code i} belong to the same large folio, so
   * they are released in one step as the kernel does.
   */
  private int samefolioRun(long[] pages, int i, int npages) {
    long pfn = pages[i];
    long flags = memmap.flags(pfn);
    if ((flags & ((1L << PG_HEAD) | (1L << PG_TAIL))) == 0) {
      return 1;
    }
    long head = memmap.compoundHead(pfn);
    long end = head + (1L << memmap.folioOrder(head));
    int nr = 1;
    while (i + nr < npages && pages[i + nr] >= head && pages[i + nr] < end) { // valid if in folio
      nr++;
    }
    return nr;
  }

  private void unpinLargeFolio(long pfn, int nr) {
    long head = memmap.compoundHead(pfn);
    int refs = policy.release(head, nr);
    if (refs < 0) {
      throw mem.health()
          .bug("unpin_user_pages() of " + nr + " pins on pfn " + pfn + " holding fewer");
    }
    folioPutRefs(head, refs);
    pinWait.wakeUnpinned();
  }

  /**
   * {@code unpin_user_pages_dirty_lock()}: with {@code makeDirty}, each clean folio is locked,
   * marked dirty and unlocked before its pin is dropped; NULL entries are skipped.
   */
  public void unpinUserPagesDirtyLock(long[] pages, int npages, boolean makeDirty) {
    MmTraceEvents.UnpinBatch ev = new MmTraceEvents.UnpinBatch();
    ev.begin();
    long released = 0;
    for (int i = 0; i < npages; i++) {
      long pfn = pages[i];
      if (pfn == PageAllocator.NO_PFN) {
        continue;
      }
      memmap.checkPfn(pfn);
      if (makeDirty) {
        markDirtyLocked(pfn);
      }
      released += unpinUserPage0(pfn) ? 1 : 0;
    }
    if (ev.shouldCommit()) {
      commitUnpin(ev, "unpin_user_pages_dirty_lock", npages, released, makeDirty);
    }
  }

  /**
   * {@code unpin_user_page_range_dirty_lock()}: {@code npages} contiguous pages from {@code pfn}.
   */
  public void unpinUserPageRangeDirtyLock(long pfn, int npages, boolean makeDirty) {
    if (npages > 0) {
      memmap.checkPfn(pfn);
      memmap.checkPfn(pfn + npages - 1);
    }
    MmTraceEvents.UnpinBatch ev = new MmTraceEvents.UnpinBatch();
    ev.begin();
    long released = 0;
    for (int i = 0; i < npages; i++) {
      if (makeDirty) {
        markDirtyLocked(pfn + i);
      }
      released += unpinUserPage0(pfn + i) ? 1 : 0;
    }
    if (ev.shouldCommit()) {
      commitUnpin(ev, "unpin_user_page_range_dirty_lock", npages, released, makeDirty);
    }
  }

  private void markDirtyLocked(long pfn) {
    long head = memmap.compoundHead(pfn);
    if (memmap.testFlag(head, PG_ZERO_PAGE) || memmap.testFlag(head, PG_DIRTY)) {
      return;
    }
    folios.folioMarkDirtyLock(head);
  }

  /**
   * Turns an ordinary reference the caller holds on {@code pfn} into a {@code FOLL_PIN}, as a bio
   * design that pins every page ({@code bias_all}) must on paths that never pinned.
   */
  public void pinReferencedPage(long pfn) {
    memmap.checkPfn(pfn);
    long head = memmap.compoundHead(pfn);
    if (!memmap.testFlag(head, PG_ZERO_PAGE)) {
      if (!policy.grab(head, 1, false)) {
        throw new KernelException(Errno.ENOMEM, "pin of pfn " + pfn + " would overflow");
      }
      vmstat.add(VmItem.NR_FOLL_PIN_ACQUIRED, 1);
    }
    alloc.putPage(head); // the reference the pin replaces
  }

  /** {@code put_page()} for a {@code FOLL_GET} reference. */
  public void putPage(long pfn) {
    alloc.putPage(pfn);
  }

  /**
   * {@code folio_maybe_dma_pinned()}: a large folio counts pins exactly; a small one guesses from
   * the refcount (1024 plain references look like a pin: false positives, never false negatives).
   */
  public boolean folioMaybeDmaPinned(long pfn) {
    return policy.maybeDmaPinned(pfn); // checks the pfn
  }

  /** {@link #folioMaybeDmaPinned} for a pfn taken from a page table (fork's copy). */
  boolean maybeDmaPinnedUnchecked(long pfn) {
    return policy.dmaPinned(pfn);
  }

  /** The pin-tracking policy in force ({@code gup.pin_tracking=}). */
  public PinTrackingPolicy pinTracking() {
    return policy;
  }

  /** The {@code gup.longterm_file=} policy in force. */
  public LongtermFilePinPolicy longtermFile() {
    return longtermFile;
  }

  /**
   * Pages {@code gup_fast} took without a lock since boot (0 under a policy without a fast path).
   */
  public long fastPathPages() {
    return fastPages.sum();
  }
}
