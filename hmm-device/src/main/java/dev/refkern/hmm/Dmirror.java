package dev.refkern.hmm;

import static dev.refkern.mm.Page.PAGE_MASK;
import static dev.refkern.mm.Page.PAGE_SHIFT;
import static dev.refkern.mm.Page.PAGE_SIZE;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.hmm.internal.DevicePageTable;
import dev.refkern.mm.DevPagemap;
import dev.refkern.mm.Errno;
import dev.refkern.mm.KernelException;
import dev.refkern.mm.PageMemory;
import dev.refkern.mm.vm.MigrateDevice;
import dev.refkern.mm.vm.MigrateVma;
import dev.refkern.mm.vm.MmStruct;
import dev.refkern.mm.vm.VirtualMemory;
import dev.refkern.mm.vm.VmFlags;
import dev.refkern.mm.vm.Vma;
import dev.refkern.notifier.MmuIntervalNotifier;
import dev.refkern.notifier.MmuIntervalNotifierOps;
import dev.refkern.notifier.MmuNotifierEvent;
import dev.refkern.notifier.MmuNotifierRange;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.apiguardian.api.API;

/**
 * {@code struct dmirror} ({@code lib/test_hmm.c}, read in torvalds/linux at 08a7c7772b4d and
 * checked against 6.x for coherent memory, exclusive access and release): one open of a {@link
 * DmirrorDevice}, mirroring an address space in a device page table kept coherent by an interval
 * notifier over the whole space, never by pins. {@link #ioctl} runs the uapi's commands.
 *
 * <p>Deviation: the driver's bounded retry ({@code HMM_RANGE_DEFAULT_TIMEOUT}, 1 s) is a bound on
 * the number of retries, so no outcome depends on the machine's speed.
 */
@API(status = EXPERIMENTAL, since = "0.2.0")
public final class Dmirror implements AutoCloseable {
  /** The 64-entry arrays the driver keeps on its stack. */
  private static final int BATCH = 64;

  private static final int MAX_RETRIES = 10_000;

  private final DmirrorDevice mdevice;
  private final VirtualMemory vm;
  private final MmStruct mm;
  private final MmuIntervalNotifier notifier;
  private final DevicePageTable pt = new DevicePageTable();
  private final ReentrantLock mutex = new ReentrantLock();
  private volatile long flags;

  // One bounce buffer kept between ioctls: a fresh one per call cost a 4 KiB array per page.
  private final AtomicReference<byte[]> spareBounce = new AtomicReference<>();

  Dmirror(DmirrorDevice mdevice, MmStruct mm) {
    this.mdevice = mdevice;
    this.vm = mdevice.vm();
    this.mm = mm;
    this.notifier = mm.notifiers().intervalInsert(0, PAGE_MASK, this::intervalInvalidate);
  }

  /** The device this mirror belongs to. */
  public DmirrorDevice device() {
    return mdevice;
  }

  /** The interval notifier over the whole address space ({@code dmirror->notifier}). */
  public MmuIntervalNotifier notifier() {
    return notifier;
  }

  /** Whether the device page table maps user address {@code addr}. */
  public boolean mirrors(long addr) {
    mutex.lock();
    try {
      return DevicePageTable.present(pt.load(addr >>> PAGE_SHIFT));
    } finally {
      mutex.unlock();
    }
  }

  /** {@code dmirror_fops_release()}. */
  @Override
  public void close() {
    notifier.remove();
    mutex.lock();
    try {
      pt.clear();
    } finally {
      mutex.unlock();
    }
  }

  /** {@code dmirror_interval_invalidate()}. */
  private boolean intervalInvalidate(MmuIntervalNotifier mni, MmuNotifierRange range, long seq) {
    // Our own migrations are handled by the migration itself.
    if (range.event() == MmuNotifierEvent.MIGRATE && range.owner() == mdevice) {
      return true;
    }
    if (range.blockable()) {
      mutex.lock();
    } else if (!mutex.tryLock()) {
      return false;
    }
    try {
      mni.setSeq(seq);
      doUpdate(range.start(), range.end());
    } finally {
      mutex.unlock();
    }
    return true;
  }

  /** {@code dmirror_do_update()}: the pt holds no references, so clearing is enough. */
  private void doUpdate(long start, long end) {
    pt.erase(start >>> PAGE_SHIFT, (end - 1) >>> PAGE_SHIFT);
  }

  /**
   * {@code dmirror_fops_unlocked_ioctl()}: runs {@code command} ({@link HmmDmirrorCmd#READ} ...).
   * {@code cmd.cpages} and {@code cmd.faults} are reset, then set as the driver sets them.
   *
   * @throws KernelException the driver's errno: {@code EINVAL} for an unaligned address, an empty
   *     or wrapping range or an unknown command; the command's own errors otherwise
   */
  public void ioctl(int command, HmmDmirrorCmd cmd) {
    if ((cmd.addr & ~PAGE_MASK) != 0
        || cmd.npages <= 0
        || Long.compareUnsigned(cmd.addr, cmd.addr + (cmd.npages << PAGE_SHIFT)) >= 0) {
      throw new KernelException(Errno.EINVAL, "dmirror: bad address range");
    }
    cmd.cpages = 0;
    cmd.faults = 0;
    switch (command) {
      case HmmDmirrorCmd.READ -> read(cmd);
      case HmmDmirrorCmd.WRITE -> write(cmd);
      case HmmDmirrorCmd.MIGRATE_TO_DEV -> migrateToDevice(cmd);
      case HmmDmirrorCmd.MIGRATE_TO_SYS -> migrateToSystem(cmd);
      case HmmDmirrorCmd.SNAPSHOT -> snapshot(cmd);
      case HmmDmirrorCmd.EXCLUSIVE -> exclusive(cmd);
      case HmmDmirrorCmd.CHECK_EXCLUSIVE ->
          checkAtomic(cmd.addr, cmd.addr + (cmd.npages << PAGE_SHIFT));
      case HmmDmirrorCmd.RELEASE -> mdevice.removeChunks();
      case HmmDmirrorCmd.FLAGS -> flags = cmd.npages;
      default -> throw new KernelException(Errno.EINVAL, "dmirror: unknown ioctl " + command);
    }
  }

  private static KernelException err(Errno e, String what) {
    return new KernelException(e, "dmirror: " + what);
  }

  private void checkBuffer(HmmDmirrorCmd cmd, long bytes) {
    if (cmd.ptr == null || cmd.ptr.length < bytes) {
      throw err(Errno.EFAULT, "user buffer too small");
    }
  }

  // ---------------------------------------------------------------- device access

  /** {@code dmirror_do_read()}: copies mirrored pages; false (ENOENT) at the first unmapped. */
  private boolean doRead(long start, long end, byte[] bounce, long bounceAddr, long[] cpages) {
    PageMemory ram = vm.physicalMemory().ram();
    int off = (int) ((start - bounceAddr) & PAGE_MASK);
    for (long vpfn = start >>> PAGE_SHIFT; vpfn < end >>> PAGE_SHIFT; vpfn++) {
      long e = pt.load(vpfn);
      if (!DevicePageTable.present(e)) {
        return false;
      }
      ram.read(DevicePageTable.pfn(e), 0, bounce, off, PAGE_SIZE);
      off += PAGE_SIZE;
      cpages[0]++;
    }
    return true;
  }

  /** {@code dmirror_do_write()}: needs a writable entry for each page. */
  private boolean doWrite(long start, long end, byte[] bounce, long bounceAddr, long[] cpages) {
    PageMemory ram = vm.physicalMemory().ram();
    int off = (int) ((start - bounceAddr) & PAGE_MASK);
    for (long vpfn = start >>> PAGE_SHIFT; vpfn < end >>> PAGE_SHIFT; vpfn++) {
      long e = pt.load(vpfn);
      if (!DevicePageTable.present(e) || DevicePageTable.tag(e) != DevicePageTable.TAG_WRITE) {
        return false;
      }
      ram.write(DevicePageTable.pfn(e), 0, bounce, off, PAGE_SIZE);
      off += PAGE_SIZE;
      cpages[0]++;
    }
    return true;
  }

  /** {@code dmirror_read()}. */
  private void read(HmmDmirrorCmd cmd) {
    long size = cmd.npages << PAGE_SHIFT;
    long end = cmd.addr + size;
    byte[] bounce = takeBounce(size);
    long[] cpages = {0};
    try {
      access(cmd, end, bounce, cpages, false);
      checkBuffer(cmd, size);
      System.arraycopy(bounce, 0, cmd.ptr, 0, (int) size);
    } finally {
      cmd.cpages = cpages[0];
      spareBounce.set(bounce);
    }
  }

  /** {@code dmirror_write()}. */
  private void write(HmmDmirrorCmd cmd) {
    long size = cmd.npages << PAGE_SHIFT;
    long end = cmd.addr + size;
    checkBuffer(cmd, size);
    byte[] bounce = java.util.Arrays.copyOf(cmd.ptr, Math.toIntExact(size));
    long[] cpages = {0};
    try {
      access(cmd, end, bounce, cpages, true);
    } finally {
      cmd.cpages = cpages[0];
    }
  }

  /**
   * The device reads or writes {@code [cmd.addr, end)} through its page table, faulting the rest in
   * with {@code hmm_range_fault} where it stops ({@code dmirror_read/write}'s loop).
   */
  private void access(HmmDmirrorCmd cmd, long end, byte[] bounce, long[] cpages, boolean write) {
    long start = cmd.addr;
    while (true) {
      boolean done;
      mutex.lock();
      try {
        done =
            write
                ? doWrite(start, end, bounce, cmd.addr, cpages)
                : doRead(start, end, bounce, cmd.addr, cpages);
      } finally {
        mutex.unlock();
      }
      if (done) {
        return;
      }
      start = cmd.addr + (cpages[0] << PAGE_SHIFT);
      fault(start, end, write);
      cmd.faults++;
    }
  }

  /** {@code dmirror_fault()}: {@code hmm_range_fault} in batches of 64 pages. */
  private void fault(long start, long end, boolean write) {
    // The mm is the mirrored process's: take a reference first.
    if (!mm.mmgetNotZero()) {
      return;
    }
    try {
      HmmRange range = new HmmRange();
      range.notifier = notifier;
      range.hmmPfns = new long[BATCH];
      range.pfnFlagsMask = 0;
      range.defaultFlags = HmmPfn.REQ_FAULT | (write ? HmmPfn.REQ_WRITE : 0);
      range.devPrivateOwner = mdevice;
      for (long addr = start; addr < end; addr = range.end) {
        range.start = addr;
        range.end = Math.min(addr + ((long) BATCH << PAGE_SHIFT), end);
        rangeFault(range, "range fault", this::doFault);
      }
    } finally {
      mm.mmput();
    }
  }

  /**
   * The driver's {@code hmm_range_fault} loop ({@code dmirror_range_fault()}, {@code
   * dmirror_range_snapshot()}): {@code read_begin}, fault under the mmap lock ({@code EBUSY}:
   * again), then under the mutex {@code read_retry} (again) before {@code install} uses the pfns.
   */
  private void rangeFault(HmmRange range, String what, Consumer<HmmRange> install) {
    for (int tries = 0; ; tries++) {
      if (tries > MAX_RETRIES) {
        throw err(Errno.EBUSY, what + " kept colliding with invalidations");
      }
      range.notifierSeq = range.notifier.readBegin();
      mm.mmapReadLock();
      try {
        Hmm.rangeFault(vm, range);
      } catch (KernelException e) {
        if (e.errno() == Errno.EBUSY) {
          continue;
        }
        throw e;
      } finally {
        mm.mmapReadUnlock();
      }
      mutex.lock();
      try {
        if (range.notifier.readRetry(range.notifierSeq)) {
          continue;
        }
        install.accept(range);
        return;
      } finally {
        mutex.unlock();
      }
    }
  }

  /** {@code dmirror_do_fault()}: installs what {@code hmm_range_fault} found; under the mutex. */
  private void doFault(HmmRange range) {
    int i = 0;
    for (long vpfn = range.start >>> PAGE_SHIFT; vpfn < range.end >>> PAGE_SHIFT; vpfn++, i++) {
      long e = range.hmmPfns[i];
      // We asked for the pages to be populated: no error entry on success.
      if ((e & HmmPfn.ERROR) != 0 || (e & HmmPfn.VALID) == 0) {
        throw err(Errno.EFAULT, "hmm_range_fault returned an invalid entry");
      }
      long tag = 0;
      if ((e & HmmPfn.WRITE) != 0) {
        tag = DevicePageTable.TAG_WRITE;
      } else if ((range.defaultFlags & HmmPfn.REQ_WRITE) != 0) {
        throw err(Errno.EFAULT, "write fault gave a read-only page");
      }
      pt.store(vpfn, HmmPfn.pfn(e), tag);
    }
  }

  // ---------------------------------------------------------------- migration

  /** {@code dmirror_migrate_to_device()}. */
  private void migrateToDevice(HmmDmirrorCmd cmd) {
    long size = cmd.npages << PAGE_SHIFT;
    long start = cmd.addr;
    long end = start + size;
    if (!mm.mmgetNotZero()) {
      throw err(Errno.EINVAL, "mm is gone");
    }
    MigrateDevice md = vm.migrateDevice();
    long[] src = new long[BATCH];
    long[] dst = new long[BATCH];
    mm.mmapReadLock();
    try {
      long next;
      for (long addr = start; addr < end; addr = next) {
        Vma vma = mm.vmaLookup(addr);
        if (vma == null || (vma.flags() & VmFlags.VM_READ) == 0) {
          throw err(Errno.EINVAL, "no readable vma at 0x" + Long.toHexString(addr));
        }
        next = Math.min(end, addr + ((long) BATCH << PAGE_SHIFT));
        next = Math.min(next, vma.end());
        MigrateVma args = newArgs(vma, addr, next, src, dst, MigrateDevice.SELECT_SYSTEM);
        md.migrateVmaSetup(args);
        migrateAllocAndCopy(args);
        md.migrateVmaPages(args);
        migrateFinalizeAndMap(args);
        md.migrateVmaFinalize(args);
      }
    } finally {
      mm.mmapReadUnlock();
      mm.mmput();
    }
    // Return the migrated data for verification: only pages now in the device.
    readBack(cmd, start, end, "page not migrated to the device");
  }

  /** The device's pages of {@code [start, end)} into {@code cmd.ptr}; ENOENT at the first gap. */
  private void readBack(HmmDmirrorCmd cmd, long start, long end, String missing) {
    long size = end - start;
    byte[] bounce = takeBounce(size);
    try {
      long[] cpages = {0};
      boolean ok;
      mutex.lock();
      try {
        ok = doRead(start, end, bounce, start, cpages);
      } finally {
        mutex.unlock();
      }
      cmd.cpages = cpages[0];
      if (!ok) {
        throw err(Errno.ENOENT, missing);
      }
      checkBuffer(cmd, size);
      System.arraycopy(bounce, 0, cmd.ptr, 0, (int) size);
    } finally {
      spareBounce.set(bounce);
    }
  }

  /**
   * {@code dmirror_bounce_init()}: the last call's buffer if it is big enough. Its old bytes never
   * reach the user: every caller fills all {@code size} bytes before copying them out.
   */
  private byte[] takeBounce(long size) {
    byte[] b = spareBounce.getAndSet(null);
    return b != null && b.length >= size ? b : new byte[Math.toIntExact(size)];
  }

  private MigrateVma newArgs(Vma vma, long start, long end, long[] src, long[] dst, int select) {
    MigrateVma args = new MigrateVma();
    args.vma = vma;
    args.start = start;
    args.end = end;
    java.util.Arrays.fill(src, 0);
    java.util.Arrays.fill(dst, 0);
    args.src = src;
    args.dst = dst;
    args.pgmapOwner = mdevice;
    args.flags = select;
    return args;
  }

  /** {@code dmirror_migrate_alloc_and_copy()}: a device page for each page to migrate. */
  private void migrateAllocAndCopy(MigrateVma args) {
    PageMemory ram = vm.physicalMemory().ram();
    int n = args.npages();
    for (int i = 0; i < n; i++) {
      long s = args.src[i];
      if ((s & MigrateDevice.MIGRATE_PFN_MIGRATE) == 0) {
        continue;
      }
      // No pfn: an unpopulated pte or the zero page, migrated as zeros.
      long spage = MigrateDevice.pfnOf(s);
      if (spage >= 0 && vm.physicalMemory().pagemapOf(spage) != null) {
        continue; // already device memory: not ours to copy
      }
      long dpage;
      if ((flags & HmmDmirrorCmd.FLAG_FAIL_ALLOC) != 0) {
        flags &= ~HmmDmirrorCmd.FLAG_FAIL_ALLOC;
        dpage = -1;
      } else {
        dpage = mdevice.allocPage(this);
      }
      if (dpage < 0) {
        continue;
      }
      if (spage >= 0) {
        ram.copyPage(dpage, spage);
      } else {
        ram.zeroPage(dpage);
      }
      long d = MigrateDevice.migratePfn(dpage);
      if ((s & MigrateDevice.MIGRATE_PFN_WRITE) != 0
          || (spage < 0 && (args.vma.flags() & VmFlags.VM_WRITE) != 0)) {
        d |= MigrateDevice.MIGRATE_PFN_WRITE;
      }
      args.dst[i] = d;
    }
  }

  /** {@code dmirror_migrate_finalize_and_map()}: the migrated pages enter the device's pt. */
  private void migrateFinalizeAndMap(MigrateVma args) {
    mutex.lock();
    try {
      int n = args.npages();
      long vpfn = args.start >>> PAGE_SHIFT;
      for (int i = 0; i < n; i++, vpfn++) {
        if ((args.src[i] & MigrateDevice.MIGRATE_PFN_MIGRATE) == 0) {
          continue;
        }
        long dpage = MigrateDevice.pfnOf(args.dst[i]);
        if (dpage < 0) {
          continue;
        }
        boolean w = (args.dst[i] & MigrateDevice.MIGRATE_PFN_WRITE) != 0;
        pt.store(vpfn, dpage, w ? DevicePageTable.TAG_WRITE : 0);
      }
    } finally {
      mutex.unlock();
    }
  }

  /** {@code dmirror_migrate_to_system()}. */
  private void migrateToSystem(HmmDmirrorCmd cmd) {
    long start = cmd.addr;
    long end = start + (cmd.npages << PAGE_SHIFT);
    if (!mm.mmgetNotZero()) {
      throw err(Errno.EINVAL, "mm is gone");
    }
    MigrateDevice md = vm.migrateDevice();
    long[] src = new long[BATCH];
    long[] dst = new long[BATCH];
    long cpages = 0;
    mm.mmapReadLock();
    try {
      long next;
      for (long addr = start; addr < end; addr = next) {
        Vma vma = mm.vmaLookup(addr);
        if (vma == null || (vma.flags() & VmFlags.VM_READ) == 0) {
          throw err(Errno.EINVAL, "no readable vma at 0x" + Long.toHexString(addr));
        }
        next = Math.min(end, addr + ((long) BATCH << PAGE_SHIFT));
        next = Math.min(next, vma.end());
        MigrateVma args = newArgs(vma, addr, next, src, dst, mdevice.selectFlags());
        md.migrateVmaSetup(args);
        devmemFaultAllocAndCopy(args);
        md.migrateVmaPages(args);
        md.migrateVmaFinalize(args);
        cpages += args.cpages;
      }
    } finally {
      mm.mmapReadUnlock();
      mm.mmput();
      cmd.cpages = cpages;
    }
  }

  /**
   * {@code dmirror_devmem_fault_alloc_and_copy()}: a system page for each device page coming home;
   * the device's pt entry goes first.
   */
  void devmemFaultAllocAndCopy(MigrateVma args) {
    PageMemory ram = vm.physicalMemory().ram();
    int n = args.npages();
    long addr = args.start;
    for (int i = 0; i < n; i++, addr += PAGE_SIZE) {
      long s = args.src[i];
      long spage = MigrateDevice.pfnOf(s);
      if (spage < 0 || (s & MigrateDevice.MIGRATE_PFN_MIGRATE) == 0) {
        continue;
      }
      DevPagemap p = vm.physicalMemory().pagemapOf(spage);
      if (p == null) {
        continue; // WARN_ON in the driver: only device pages are selected
      }
      long dpage = mdevice.allocSystemPage();
      if (dpage < 0) {
        continue;
      }
      mutex.lock();
      try {
        pt.erase(addr >>> PAGE_SHIFT, addr >>> PAGE_SHIFT);
      } finally {
        mutex.unlock();
      }
      ram.copyPage(dpage, spage);
      long d = MigrateDevice.migratePfn(dpage);
      if ((s & MigrateDevice.MIGRATE_PFN_WRITE) != 0) {
        d |= MigrateDevice.MIGRATE_PFN_WRITE;
      }
      args.dst[i] = d;
    }
  }

  // ---------------------------------------------------------------- snapshot

  /** {@code dmirror_snapshot()}. */
  private void snapshot(HmmDmirrorCmd cmd) {
    long start = cmd.addr;
    long end = start + (cmd.npages << PAGE_SHIFT);
    checkBuffer(cmd, cmd.npages);
    if (!mm.mmgetNotZero()) {
      throw err(Errno.EINVAL, "mm is gone");
    }
    try {
      HmmRange range = new HmmRange();
      range.hmmPfns = new long[BATCH];
      range.devPrivateOwner = mdevice;
      int out = 0;
      long next;
      for (long addr = start; addr < end; addr = next) {
        next = Math.min(addr + ((long) BATCH << PAGE_SHIFT), end);
        range.start = addr;
        range.end = next;
        rangeSnapshot(range, cmd.ptr, out);
        int n = range.npages();
        cmd.cpages += n;
        out += n;
      }
    } finally {
      mm.mmput();
    }
  }

  /**
   * {@code dmirror_range_snapshot()}: under a temporary notifier over just the range, so any
   * invalidation there, even by ourselves, forces a retry.
   */
  private void rangeSnapshot(HmmRange range, byte[] perm, int off) {
    MmuIntervalNotifierOps ops =
        (mni, r, seq) -> {
          if (r.blockable()) {
            mutex.lock();
          } else if (!mutex.tryLock()) {
            return false;
          }
          mni.setSeq(seq); // any invalidation voids the whole snapshot
          mutex.unlock();
          return true;
        };
    range.notifier = mm.notifiers().intervalInsert(range.start, range.end - range.start, ops);
    try {
      rangeFault(
          range,
          "snapshot",
          r -> {
            int n = r.npages();
            for (int i = 0; i < n; i++) {
              perm[off + i] = (byte) mkentry(r.hmmPfns[i]);
            }
          });
    } finally {
      range.notifier.remove();
    }
  }

  /** {@code dmirror_mkentry()}: the {@code HMM_DMIRROR_PROT_*} value of one entry. */
  private int mkentry(long entry) {
    if ((entry & HmmPfn.ERROR) != 0) {
      return HmmDmirrorCmd.PROT_ERROR;
    }
    if ((entry & HmmPfn.VALID) == 0) {
      return HmmDmirrorCmd.PROT_NONE;
    }
    long pfn = HmmPfn.pfn(entry);
    DevPagemap p = vm.physicalMemory().pagemapOf(pfn);
    int perm;
    if (p != null && p.type() == DevPagemap.MemoryType.DEVICE_PRIVATE) {
      perm =
          p.owner() == mdevice
              ? HmmDmirrorCmd.PROT_DEV_PRIVATE_LOCAL
              : HmmDmirrorCmd.PROT_DEV_PRIVATE_REMOTE;
    } else if (p != null && p.type() == DevPagemap.MemoryType.DEVICE_COHERENT) {
      perm =
          p.owner() == mdevice
              ? HmmDmirrorCmd.PROT_DEV_COHERENT_LOCAL
              : HmmDmirrorCmd.PROT_DEV_COHERENT_REMOTE;
    } else if (pfn == vm.zeroPfn()) {
      perm = HmmDmirrorCmd.PROT_ZERO;
    } else {
      perm = HmmDmirrorCmd.PROT_NONE;
    }
    perm |= (entry & HmmPfn.WRITE) != 0 ? HmmDmirrorCmd.PROT_WRITE : HmmDmirrorCmd.PROT_READ;
    int shift = HmmPfn.mapOrder(entry) + PAGE_SHIFT;
    if (shift == 21) {
      perm |= HmmDmirrorCmd.PROT_PMD; // PMD_SHIFT
    } else if (shift == 30) {
      perm |= HmmDmirrorCmd.PROT_PUD; // PUD_SHIFT
    }
    return perm;
  }

  // ---------------------------------------------------------------- exclusive access

  /** {@code dmirror_exclusive()}: each page device-exclusive, then read back. */
  private void exclusive(HmmDmirrorCmd cmd) {
    long size = cmd.npages << PAGE_SHIFT;
    long start = cmd.addr;
    long end = start + size;
    if (!mm.mmgetNotZero()) {
      throw err(Errno.EINVAL, "mm is gone");
    }
    MigrateDevice md = vm.migrateDevice();
    mm.mmapReadLock();
    try {
      for (long addr = start; addr < end; addr += PAGE_SIZE) {
        long pfn = md.makeDeviceExclusive(mm, addr, null);
        try {
          atomicMap(addr, pfn);
        } finally {
          mdevice.folios().folioUnlock(pfn);
          vm.physicalMemory().allocator().putPage(pfn);
        }
      }
    } finally {
      mm.mmapReadUnlock();
      mm.mmput();
    }
    readBack(cmd, start, end, "page lost its exclusive entry");
  }

  /** {@code dmirror_atomic_map()}. */
  private void atomicMap(long addr, long pfn) {
    mutex.lock();
    try {
      pt.store(addr >>> PAGE_SHIFT, pfn, DevicePageTable.TAG_ATOMIC);
    } finally {
      mutex.unlock();
    }
  }

  /** {@code dmirror_check_atomic()}: {@code EPERM} while the device holds a page exclusively. */
  private void checkAtomic(long start, long end) {
    mutex.lock();
    try {
      for (long vpfn = start >>> PAGE_SHIFT; vpfn < end >>> PAGE_SHIFT; vpfn++) {
        long e = pt.load(vpfn);
        if (DevicePageTable.present(e) && DevicePageTable.tag(e) == DevicePageTable.TAG_ATOMIC) {
          throw err(Errno.EPERM, "page still exclusive to the device");
        }
      }
    } finally {
      mutex.unlock();
    }
  }

  @Override
  public String toString() {
    return "dmirror{" + mdevice + " mm=" + mm.id() + "}";
  }
}
