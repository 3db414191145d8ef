package dev.refkern.mm.vm;

import static dev.refkern.mm.Page.*;
import static dev.refkern.mm.PageFlags.*;
import static dev.refkern.mm.VmFault.*;
import static dev.refkern.mm.vm.Pte.*;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.AddressSpace;
import dev.refkern.mm.Errno;
import dev.refkern.mm.FolioOps;
import dev.refkern.mm.Gfp;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.LruVec;
import dev.refkern.mm.PageAllocator;
import dev.refkern.mm.PhysicalMemory;
import dev.refkern.mm.VmItem;
import dev.refkern.mm.internal.pageops.MemmapOps;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import org.apiguardian.api.API;

/**
 * The page-fault handler and page-table teardown and copy ({@code mm/memory.c}): {@code
 * handle_mm_fault()}, {@code do_anonymous_page()}, {@code do_fault()}, {@code do_wp_page()}, {@code
 * do_swap_page()}, {@code zap_page_range_single()}, {@code unmap_mapping_folio()} and {@code
 * copy_page_range()}.
 *
 * <p>Locking follows the kernel's order: {@code mmap_lock}, then the page-table lock; a folio's
 * lock is never taken under the page-table lock. A little over 500 lines: memory.c is over 6,000.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class Memory {
  private final PhysicalMemory mem;
  private final MemmapOps memmap;
  private final PageAllocator alloc;
  private final FolioOps folios;
  private final LruVec lru;
  private final long zeroPfn;
  private final Rmap rmap;
  private final HugeMemory huge;
  private final Swapfile swapfile;
  private final Migrate migration;
  private final PinTrackingPolicy pins;
  private final Filemap filemap;

  Memory(
      PhysicalMemory mem,
      MemmapOps memmap,
      FolioOps folios,
      LruVec lru,
      long zeroPfn,
      Rmap rmap,
      HugeMemory huge,
      Swapfile swapfile,
      Migrate migration,
      PinTrackingPolicy pins,
      Filemap filemap) {
    this.mem = mem;
    this.memmap = memmap;
    this.alloc = mem.allocator();
    this.folios = folios;
    this.lru = lru;
    this.zeroPfn = zeroPfn;
    this.rmap = rmap;
    this.huge = huge;
    this.swapfile = swapfile;
    this.migration = migration;
    this.pins = pins;
    this.filemap = filemap;
  }

  // ---------------------------------------------------------------- page faults

  /**
   * {@code handle_mm_fault()}: resolves a fault at {@code addr} in {@code vma}. The caller holds
   * {@code mmap_lock} for reading. Returns 0 or {@code VM_FAULT_*} bits.
   */
  int handleMmFault(MmStruct mm, Vma vma, long addr, int faultFlags) {
    mem.health().checkAlive();
    mem.vmstat().inc(VmItem.PGFAULT);
    boolean write = (faultFlags & VirtualMemory.FAULT_FLAG_WRITE) != 0;
    boolean unshare = (faultFlags & VirtualMemory.FAULT_FLAG_UNSHARE) != 0;
    addr &= PAGE_MASK;
    if (vma.isAnonymous() && HugeMemory.thpEligible(vma, addr)) {
      int r = huge.hugeAnonymousFault(mm, vma, addr);
      if (r >= 0) {
        return r;
      }
    }
    long pte = mm.pgtable.pte(addr);
    if (huge(pte)) {
      // huge_pmd_set_accessed(): a read, or any access to a writable THP, only marks it
      if ((!write && !unshare) || Pte.write(pte)) {
        setPteBits(mm, addr, write ? YOUNG | DIRTY : YOUNG);
        return 0;
      }
      huge.splitHugePmd(mm, addr);
      pte = mm.pgtable.pte(addr);
    }
    if (none(pte)) {
      return vma.isAnonymous()
          ? doAnonymousPage(mm, vma, addr, write)
          : doFileFault(mm, vma, addr, write);
    }
    if (Migrate.isMigrationEntry(pte)) {
      migration.waitForMigration(mm, addr, pte);
      return 0; // the retried access sees the new folio
    }
    if (isDevicePrivate(pte)) {
      return doDevicePrivateFault(vma, addr, pte);
    }
    if (isDeviceExclusive(pte)) {
      return removeDeviceExclusiveEntry(mm, vma, addr, pte);
    }
    if (Pte.isSwap(pte)) {
      return doSwapPage(mm, vma, addr, pte, write);
    }
    if ((write || unshare) && !Pte.write(pte)) {
      return doWpPage(mm, vma, addr, pte, unshare && !write);
    }
    setPteBits(mm, addr, write ? YOUNG | DIRTY : YOUNG);
    return 0;
  }

  /** {@code vm_get_page_prot()} plus the fault's young/dirty/write bits. */
  static long pteBits(Vma vma, boolean writable) {
    long bits = PRESENT | USER | YOUNG;
    if ((vma.flags & (VmFlags.VM_READ | VmFlags.VM_WRITE | VmFlags.VM_EXEC)) == 0) {
      bits = (bits & ~PRESENT) | PROTNONE;
    }
    if (writable) {
      bits |= WRITE | DIRTY;
    }
    return bits;
  }

  /** {@code do_anonymous_page()}: the zero page on read, a fresh page on write. */
  private int doAnonymousPage(MmStruct mm, Vma vma, long addr, boolean write) {
    if (!write) {
      installPte(mm, addr, make(zeroPfn, (pteBits(vma, false) & ~DIRTY) | SPECIAL));
      return 0; // if another fault won, its pte serves
    }
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE | Gfp.ZERO | Gfp.NOWARN, 0);
    if (pfn == PageAllocator.NO_PFN) {
      return VM_FAULT_OOM;
    }
    rmap.newAnonRmap(pfn, rmap.anonVmaPrepare(vma), vma.linearPageIndex(addr));
    memmap.mapcountAdd(pfn, 1);
    lru.folioAddLru(pfn); // before the pte makes it visible to reclaim and migration
    // maybe_mkwrite(): writable (and dirty) only with VM_WRITE; a FOLL_FORCE write to a read-only
    // mapping gets a read-only pte and dirties it in do_wp_page() when GUP retries
    if (!installPte(mm, addr, make(pfn, pteBits(vma, (vma.flags & VmFlags.VM_WRITE) != 0)))) {
      memmap.mapcountAdd(pfn, -1);
      alloc.putPage(pfn);
      return 0; // raced with another fault: retry sees its pte
    }
    mm.anonPages.incrementAndGet();
    return 0;
  }

  /** Installs {@code entry} if the pte is still none; false if another fault won. */
  private boolean installPte(MmStruct mm, long addr, long entry) {
    return setPteIf(mm, addr, 0, entry);
  }

  /**
   * Sets the pte at {@code addr} to {@code entry} if it still holds {@code expect}, under the ptl;
   * tables are allocated only to install into an empty slot. False if a racing change won.
   */
  private boolean setPteIf(MmStruct mm, long addr, long expect, long entry) {
    mm.ptl.lock();
    try {
      PageTable.Pmd pmd = expect == 0 ? mm.pgtable.pmdAlloc(addr) : mm.pgtable.pmd(addr);
      if (pmd == null || PageTable.get(pmd.huge, PageTable.pmdIndex(addr)) != 0) {
        return false;
      }
      long[] t = expect == 0 ? PageTable.pteTableAlloc(pmd, addr) : PageTable.pteTable(pmd, addr);
      if (t == null) {
        return false;
      }
      int i = PageTable.pteIndex(addr);
      if (PageTable.get(t, i) != expect) {
        return false;
      }
      PageTable.set(t, i, entry);
      return true;
    } finally {
      mm.ptl.unlock();
    }
  }

  private void setPteBits(MmStruct mm, long addr, long bits) {
    mm.ptl.lock();
    try {
      PageTable.Pmd pmd = mm.pgtable.pmd(addr);
      if (pmd == null) {
        return;
      }
      int hi = PageTable.pmdIndex(addr);
      long h = PageTable.get(pmd.huge, hi);
      if (h != 0) {
        PageTable.set(pmd.huge, hi, h | (bits & ~WRITE));
        return;
      }
      long[] t = PageTable.pteTable(pmd, addr);
      if (t != null) {
        int i = PageTable.pteIndex(addr);
        long e = PageTable.get(t, i);
        if (e != 0 && !special(e)) {
          PageTable.set(t, i, e | (bits & ~WRITE));
        }
      }
    } finally {
      mm.ptl.unlock();
    }
  }

  /** {@code do_read_fault()}/{@code do_cow_fault()}/{@code do_shared_fault()}. */
  private int doFileFault(MmStruct mm, Vma vma, long addr, boolean write) {
    AddressSpace file = vma.file;
    long index = vma.linearPageIndex(addr);
    if (index >= (file.size() + PAGE_SIZE - 1) >>> PAGE_SHIFT) {
      return VM_FAULT_SIGBUS;
    }
    long pfn;
    try {
      pfn = filemap.readMappingFolio(file, index);
    } catch (KernelException e) {
      return e.errno() == Errno.ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
    }
    boolean shared = (vma.flags & VmFlags.VM_SHARED) != 0;
    if (write && !shared) {
      long copy = cowCopy(vma, addr, pfn);
      alloc.putPage(pfn);
      if (copy == PageAllocator.NO_PFN) {
        return VM_FAULT_OOM;
      }
      // do_cow_fault(): maybe_mkwrite(pte_mkdirty()): dirty, writable only with VM_WRITE
      long entry = make(copy, pteBits(vma, (vma.flags & VmFlags.VM_WRITE) != 0) | DIRTY);
      if (!installPte(mm, addr, entry)) {
        memmap.mapcountAdd(copy, -1);
        alloc.putPage(copy);
        return 0;
      }
      mm.anonPages.incrementAndGet();
      return 0;
    }
    boolean writable = false;
    if (write) {
      int rc = filemap.doPageMkwrite(file, pfn);
      if (rc != 0) {
        alloc.putPage(pfn);
        // VM_FAULT_NOPAGE: truncated meanwhile; the retried fault sees the new state
        return rc == VM_FAULT_NOPAGE ? 0 : VM_FAULT_SIGBUS;
      }
      writable = true;
    }
    memmap.mapcountAdd(pfn, 1);
    if (!installPte(mm, addr, make(pfn, pteBits(vma, writable)))) {
      memmap.mapcountAdd(pfn, -1);
      alloc.putPage(pfn);
      return 0;
    }
    mm.filePages.incrementAndGet();
    return 0;
  }

  /** A new exclusive anon page holding a copy of {@code src}; mapcount 1, refcount 1. */
  private long cowCopy(Vma vma, long addr, long src) {
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE | Gfp.NOWARN, 0);
    if (pfn == PageAllocator.NO_PFN) {
      return pfn;
    }
    mem.ram().copyPage(pfn, src);
    rmap.newAnonRmap(pfn, rmap.anonVmaPrepare(vma), vma.linearPageIndex(addr));
    memmap.mapcountAdd(pfn, 1);
    lru.folioAddLru(pfn); // the batch's own reference keeps it alive if the install loses a race
    return pfn;
  }

  /**
   * {@code do_wp_page()}: a write (or an unshare for a pin) to a write-protected pte. Shared file
   * pages are made writable after {@code page_mkwrite}; an exclusive anon page is reused; anything
   * else is copied.
   */
  private int doWpPage(MmStruct mm, Vma vma, long addr, long pte, boolean unshareOnly) {
    long pfn = Pte.pfn(pte);
    boolean shared = (vma.flags & VmFlags.VM_SHARED) != 0;
    if (shared && vma.file != null) {
      if (unshareOnly) {
        return 0;
      }
      int rc = filemap.doPageMkwrite(vma.file, pfn);
      if (rc != 0) {
        return rc == VM_FAULT_NOPAGE ? 0 : VM_FAULT_SIGBUS;
      }
      setPteIf(mm, addr, pte, pte | WRITE | DIRTY | YOUNG);
      return 0;
    }
    boolean anon = !special(pte) && memmap.testFlag(memmap.compoundHead(pfn), PG_ANON);
    if (anon && canReuseAnon(pfn)) {
      memmap.setFlag(pfn, PG_ANON_EXCLUSIVE);
      long bits = unshareOnly ? YOUNG : (WRITE | DIRTY | YOUNG);
      if (!unshareOnly && (vma.flags & VmFlags.VM_WRITE) == 0) {
        // wp_page_reuse(): maybe_mkwrite(pte_mkdirty()); FOLL_FORCE follows the dirty pte
        bits = YOUNG | DIRTY;
      }
      setPteIf(mm, addr, pte, pte | bits);
      return 0;
    }
    // wp_page_copy(): copy into a new exclusive anon page
    long copy = cowCopy(vma, addr, special(pte) ? zeroPfn : pfn);
    if (copy == PageAllocator.NO_PFN) {
      return VM_FAULT_OOM;
    }
    boolean writable = !unshareOnly && (vma.flags & VmFlags.VM_WRITE) != 0;
    long entry = make(copy, pteBits(vma, writable));
    if (!unshareOnly && !writable) {
      entry |= DIRTY; // FOLL_FORCE: the copy is written through GUP
    }
    MmuNotifierRange range =
        MmuNotifierRange.init(
            MmuNotifierEvent.CLEAR,
            MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
            mm,
            addr,
            addr + PAGE_SIZE);
    mm.notifiers.invalidateRangeStart(range);
    boolean replaced = setPteIf(mm, addr, pte, entry);
    mm.notifiers.invalidateRangeEnd(range);
    if (!replaced) {
      memmap.mapcountAdd(copy, -1);
      alloc.putPage(copy);
      return 0;
    }
    if (!special(pte)) {
      dropMapping(mm, pfn, false);
    }
    mm.anonPages.incrementAndGet();
    return 0;
  }

  /** {@code wp_can_reuse_anon_folio()}: exclusive, or the only reference is this mapping. */
  private boolean canReuseAnon(long pfn) {
    if (memmap.testFlag(pfn, PG_ANON_EXCLUSIVE)) {
      return true;
    }
    long head = memmap.compoundHead(pfn);
    return memmap.folioOrder(head) == 0 && memmap.refcount(head) == 1;
  }

  /**
   * {@code do_swap_page()} for a device-private entry: with the page locked (trylock under the ptl;
   * a contended page retries) and referenced, its driver's {@code migrate_to_ram} brings it home;
   * its result is the fault's.
   */
  private int doDevicePrivateFault(Vma vma, long addr, long pte) {
    MmStruct mm = vma.mm;
    long pfn = entryPfn(pte);
    mm.ptl.lock();
    try {
      if (mm.pgtable.pte(addr) != pte || !folios.folioTrylock(pfn)) {
        return 0; // changed meanwhile, or being migrated: retry
      }
      memmap.refAdd(pfn, 1); // the entry's reference keeps it alive under the ptl
    } finally {
      mm.ptl.unlock();
    }
    try {
      return mem.pagemapOf(pfn).ops().migrateToRam(pfn, vma, addr);
    } finally {
      folios.folioUnlock(pfn);
      alloc.putPage(pfn);
    }
  }

  /**
   * {@code remove_device_exclusive_entry()}: a CPU access ends a device's exclusive use; the
   * original pte comes back inside an {@code MMU_NOTIFY_EXCLUSIVE} range without an owner, so the
   * device sees the invalidation. The entry kept mapcount and reference, so only the pte changes.
   */
  private int removeDeviceExclusiveEntry(MmStruct mm, Vma vma, long addr, long pte) {
    long pfn = entryPfn(pte);
    if (!memmap.refTryAdd(pfn, 1)) {
      return 0;
    }
    folios.folioLock(pfn);
    MmuNotifierRange r =
        MmuNotifierRange.initOwner(
            MmuNotifierEvent.EXCLUSIVE,
            MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
            mm,
            addr,
            addr + PAGE_SIZE,
            null);
    mm.notifiers.invalidateRangeStart(r);
    try {
      setPteIf(mm, addr, pte, exclusiveRestored(vma, pfn));
    } finally {
      folios.folioUnlock(pfn);
      alloc.putPage(pfn);
      mm.notifiers.invalidateRangeEnd(r);
    }
    return 0;
  }

  /** {@code restore_exclusive_pte()}: old, writable and dirty where the VMA allows writing. */
  private static long exclusiveRestored(Vma vma, long pfn) {
    boolean w = (vma.flags & VmFlags.VM_WRITE) != 0;
    return make(pfn, pteBits(vma, w) & ~YOUNG);
  }

  /** {@code do_swap_page()}: reads a swapped-out page back in and maps it; 0 or VM_FAULT_*. */
  private int doSwapPage(MmStruct mm, Vma vma, long addr, long pte, boolean write) {
    SwapSpace sw = swapfile.current();
    long slot = swapOffset(pte);
    if (sw == null || !isRealSwap(pte)) {
      return VM_FAULT_SIGBUS;
    }
    long pfn = alloc.allocPages(Gfp.HIGHUSER_MOVABLE | Gfp.NOWARN, 0);
    if (pfn == PageAllocator.NO_PFN) {
      return VM_FAULT_OOM;
    }
    while (sw.writing(slot)) {
      mem.scheduler().condResched(); // swap_cache_get_folio(): reclaim is writing it out
      Thread.onSpinWait();
    }
    if (!sw.readIfNamed(slot, mem.ram(), pfn)) {
      alloc.putPage(pfn);
      return 0; // the entry changed meanwhile: retry the fault
    }
    mem.vmstat().inc(VmItem.PSWPIN);
    boolean exclusive = sw.count(slot) == 1;
    memmap.setFlag(pfn, PG_ANON);
    memmap.setFlag(pfn, PG_SWAPBACKED);
    memmap.setFlag(pfn, PG_UPTODATE);
    if (exclusive) {
      memmap.setFlag(pfn, PG_ANON_EXCLUSIVE);
    }
    memmap.setMapping(pfn, rmap.anonVmaPrepare(vma).id);
    memmap.setIndex(pfn, vma.linearPageIndex(addr));
    memmap.mapcountAdd(pfn, 1);
    boolean writable = exclusive && write && (vma.flags & VmFlags.VM_WRITE) != 0;
    long bits = PRESENT | USER | YOUNG | (writable ? WRITE | DIRTY : 0);
    lru.folioAddLru(pfn); // before the pte makes it visible to reclaim and migration
    if (!setPteIf(mm, addr, pte, make(pfn, bits))) {
      memmap.mapcountAdd(pfn, -1);
      memmap.setMapping(pfn, 0);
      alloc.putPage(pfn);
      return 0; // another thread swapped it in first
    }
    sw.put(slot);
    mm.anonPages.incrementAndGet();
    return 0;
  }

  /** Drops one pte mapping of {@code pfn}: mapcount, rss and the mapping's reference. */
  private void dropMapping(MmStruct mm, long pfn, boolean dirty) {
    long head = memmap.compoundHead(pfn);
    boolean anon = memmap.testFlag(head, PG_ANON);
    if (dirty && !anon) {
      folios.folioMarkDirty(head);
    }
    memmap.mapcountAdd(pfn, -1);
    (anon ? mm.anonPages : mm.filePages).decrementAndGet();
    alloc.putPage(pfn);
  }

  // ---------------------------------------------------------------- unmapping

  /**
   * {@code zap_page_range_single()}/{@code unmap_page_range()}: removes every mapping in {@code
   * [start, end)}, dropping the mappings' references (a pinned page lives on). Caller holds
   * mmap_lock and has started the notifier range.
   */
  void zapRange(MmStruct mm, long start, long end) {
    for (long addr = start; addr < end; ) {
      mem.scheduler().condResched(); // zap_pmd_range(): cond_resched() per PMD
      long next = Math.min(end, (addr & PageTable.PMD_MASK) + PageTable.PMD_SIZE);
      PageTable.Pmd pmd = mm.pgtable.pmd(addr);
      if (pmd == null) {
        addr = next;
        continue;
      }
      int hi = PageTable.pmdIndex(addr);
      long h = PageTable.get(pmd.huge, hi);
      if (h != 0) {
        if ((addr & ~PageTable.PMD_MASK) != 0 || next - addr < PageTable.PMD_SIZE) {
          huge.splitHugePmd(mm, addr);
          continue;
        }
        mm.ptl.lock();
        try {
          PageTable.set(pmd.huge, hi, 0);
        } finally {
          mm.ptl.unlock();
        }
        long head = Pte.pfn(h);
        memmap.entireMapcountAdd(head, -1);
        mm.anonPages.addAndGet(-HugeMemory.HPAGE_PMD_NR);
        alloc.putPage(head);
        addr = next;
        continue;
      }
      long[] t = PageTable.pteTable(pmd, addr);
      if (t != null) {
        for (long a = addr; a < next; a += PAGE_SIZE) {
          int i = PageTable.pteIndex(a);
          long e;
          mm.ptl.lock();
          try {
            e = PageTable.get(t, i);
            PageTable.set(t, i, 0);
          } finally {
            mm.ptl.unlock();
          }
          if (present(e) && !special(e)) {
            dropMapping(mm, Pte.pfn(e), dirty(e));
          } else if (isDevicePrivate(e) || isDeviceExclusive(e)) {
            // zap_nonpresent_ptes(): the entry holds a mapping like a pte (last put: page_free)
            dropMapping(mm, entryPfn(e), false);
          } else if (isRealSwap(e) && swapfile.current() != null) {
            swapfile.freeSwapAndCache(e);
          }
        }
      }
      addr = next;
    }
  }

  /**
   * {@code unmap_mapping_folio()}: removes every pte mapping the folio ({@code CLEAR} notifiers),
   * as truncate does before it drops a folio from the page cache. A pin keeps the folio alive.
   */
  void unmapMappingFolio(long pfn) {
    unmapMappingFolio(pfn, MmuNotifierEvent.CLEAR);
  }

  /** {@link #unmapMappingFolio(long)} sending {@code event} ({@code truncate.pinned=revoke}). */
  void unmapMappingFolio(long pfn, MmuNotifierEvent event) {
    memmap.checkPfn(pfn);
    rmap.rmapWalk(
        pfn,
        (vma, addr) -> {
          MmStruct mm = vma.mm;
          MmuNotifierRange r =
              MmuNotifierRange.init(
                  event, MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE, mm, addr, addr + PAGE_SIZE);
          mm.notifiers.invalidateRangeStart(r);
          try {
            zapRange(mm, addr, addr + PAGE_SIZE);
          } finally {
            mm.notifiers.invalidateRangeEnd(r);
          }
          return true;
        });
  }

  // ---------------------------------------------------------------- fork

  /** {@code copy_page_range()}: {@code c}, the child's copy of {@code v}, gets its ptes. */
  void copyPageRange(MmStruct parent, MmStruct child, Vma v, Vma c) {
    boolean cow = VmFlags.isCowMapping(v.flags);
    MmuNotifierRange range = null;
    if (cow) {
      range =
          MmuNotifierRange.init(
              MmuNotifierEvent.PROTECTION_PAGE,
              MmuNotifierRange.MMU_NOTIFIER_RANGE_BLOCKABLE,
              parent,
              v.start,
              v.end);
      parent.notifiers.invalidateRangeStart(range);
    }
    try {
      for (long addr = v.start; addr < v.end; ) {
        mem.scheduler().condResched(); // copy_pmd_range(): cond_resched() per PMD
        long next = Math.min(v.end, (addr & PageTable.PMD_MASK) + PageTable.PMD_SIZE);
        PageTable.Pmd pmd = parent.pgtable.pmd(addr);
        if (pmd == null) {
          addr = next;
          continue;
        }
        long h = PageTable.get(pmd.huge, PageTable.pmdIndex(addr));
        if (h != 0) {
          boolean pinned = parent.hasPinned && pins.dmaPinned(Pte.pfn(h));
          huge.copyHugePmd(parent, child, c, addr, h, pmd, cow, pinned);
          addr = next;
          continue;
        }
        long[] t = PageTable.pteTable(pmd, addr);
        if (t != null) {
          for (long a = addr; a < next; a += PAGE_SIZE) {
            copyPte(parent, child, c, a, t, PageTable.pteIndex(a), cow);
          }
        }
        addr = next;
      }
    } finally {
      if (range != null) {
        parent.notifiers.invalidateRangeEnd(range);
      }
    }
  }

  /**
   * {@code copy_nonpresent_pte()} for a device-private entry: the child's entry takes a reference
   * and a mapping (such pages cannot be pinned, so the anon page is simply shared); in a COW
   * mapping a writable entry becomes readable in both.
   */
  private void copyDevicePrivate(
      MmStruct parent, MmStruct child, long addr, long[] t, int i, boolean cow) {
    long ce;
    long pfn;
    parent.ptl.lock();
    try {
      long e = PageTable.get(t, i);
      if (!isDevicePrivate(e)) {
        return; // migrated meanwhile: the child faults it in
      }
      pfn = entryPfn(e);
      memmap.refAdd(pfn, 1);
      memmap.mapcountAdd(pfn, 1);
      memmap.clearFlag(pfn, PG_ANON_EXCLUSIVE);
      ce = e;
      if (cow && isDevicePrivateWrite(e)) {
        ce = devicePrivateEntry(pfn, false);
        PageTable.set(t, i, ce);
      }
    } finally {
      parent.ptl.unlock();
    }
    installPte(child, addr, ce);
    child.anonPages.incrementAndGet();
  }

  /** A swap entry naming a swap slot: not a device, migration ({@code non_swap_entry()}) one. */
  static boolean isRealSwap(long e) {
    return Pte.isSwap(e) && swapType(e) < SWP_DEVICE_READ;
  }

  /** {@code copy_present_pte()}: share write-protected, or copy a maybe-pinned anon page now. */
  private void copyPte(
      MmStruct parent, MmStruct child, Vma c, long addr, long[] t, int i, boolean cow) {
    long e = PageTable.get(t, i);
    while (Migrate.isMigrationEntry(e)) {
      migration.waitForMigration(parent, addr, e);
      e = PageTable.get(t, i);
    }
    if (isDeviceExclusive(e)) {
      // copy_nonpresent_pte(): restore the original pte, then copy it as a present one
      long pfn = entryPfn(e);
      if (memmap.refTryAdd(pfn, 1)) {
        folios.folioLock(pfn);
        setPteIf(parent, addr, e, exclusiveRestored(c, pfn));
        folios.folioUnlock(pfn);
        alloc.putPage(pfn);
      }
      e = PageTable.get(t, i);
    }
    if (isDevicePrivate(e)) {
      copyDevicePrivate(parent, child, addr, t, i, cow);
      return;
    }
    if (isRealSwap(e) && swapfile.current() != null) {
      swapfile.swapDuplicate(e); // copy_nonpresent_pte()
      installPte(child, addr, e);
      return;
    }
    if (!present(e)) {
      return;
    }
    if (special(e)) {
      installPte(child, addr, e);
      return;
    }
    long pfn;
    long head;
    boolean anon;
    boolean copyNow;
    long ce;
    // under the source ptl, as copy_pte_range(): reclaim and migration take it to unmap
    parent.ptl.lock();
    try {
      e = PageTable.get(t, i);
      if (!present(e) || special(e) || Migrate.isMigrationEntry(e)) {
        return; // changed under us (unmapped or being migrated): the child faults it in
      }
      pfn = Pte.pfn(e);
      head = memmap.compoundHead(pfn);
      if (!memmap.refTryAdd(head, 1)) {
        return;
      }
      anon = memmap.testFlag(head, PG_ANON);
      copyNow = anon && parent.hasPinned && pins.dmaPinned(pfn);
      ce = e;
      if (!copyNow && cow) {
        if (anon) {
          memmap.clearFlag(pfn, PG_ANON_EXCLUSIVE);
        }
        if (Pte.write(e)) {
          PageTable.set(t, i, e & ~WRITE);
        }
        ce = e & ~WRITE;
      }
    } finally {
      parent.ptl.unlock();
    }
    if (copyNow) {
      // copy_present_page(): a pinned page stays the parent's; the child gets its own copy now
      long copy = cowCopy(c, addr, pfn);
      alloc.putPage(head);
      if (copy != PageAllocator.NO_PFN) {
        installPte(child, addr, make(copy, (e & 0xfffL) | WRITE | DIRTY));
        child.anonPages.incrementAndGet();
      }
      return;
    }
    memmap.mapcountAdd(pfn, 1); // the reference taken above becomes the child's mapping's
    installPte(child, addr, ce);
    (anon ? child.anonPages : child.filePages).incrementAndGet();
  }
}
